package controller

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/stored"
)

// Admission control (ADR 005) bounds each namespace's concurrent
// activations and invocations per minute over all controllers. The hot
// path is in memory: a controller spends slots and tokens it leased from
// the shared KV bucket names.AdmissionBucket in chunks, and goes to the KV
// only when its lease runs out.
const (
	// admissionTick is how often leases are shrunk and renewed.
	admissionTick = 100 * time.Millisecond
	// leaseTTL is how long a concurrency lease lives unless renewed; a
	// crashed controller's slots return to the namespace after it.
	leaseTTL = 10 * time.Second
	// leaseMargin is how long before its written expiry a controller stops
	// using its own lease, for clock skew and the write's own delay.
	leaseMargin = time.Second
	// maxSpareSlots bounds the idle slots a controller keeps per namespace
	// (also at most a sixteenth of the limit).
	maxSpareSlots = 32
	// maxTokenChunk bounds the tokens leased at once (also at most a
	// quarter of the minute's remainder).
	maxTokenChunk = 64
	// trackMax is how long an admitted activation is counted at most when
	// its record never shows up: above MaxTimeout, with room for backlog
	// wait and retries.
	trackMax = 15 * time.Minute
	// admissionTimeout bounds one KV operation of admission.
	admissionTimeout = 2 * time.Second
	// admissionLeaderless bounds how long one admission write waits out
	// a bucket without a leader (leaderless), within an invoke's
	// leaderlessFor.
	admissionLeaderless = 4 * time.Second
	// casAttempts bounds the optimistic retries of one KV update.
	casAttempts = 10
)

// admission is one controller's side of cluster-wide admission control.
type admission struct {
	kv        jetstream.KeyValue // names.AdmissionBucket
	limitsKV  jetstream.KeyValue // names.LimitsBucket
	overrides *cache[entity.NamespaceLimits]
	me        string
	now       func() time.Time
	log       *slog.Logger
	// defConc and defRate are the defaults; 0 means unlimited.
	defConc, defRate int64

	mu sync.RWMutex
	ns map[string]*nsAdmission

	tmu     sync.Mutex
	tracked map[string]tracked

	records jetstream.ConsumeContext
	ticks   int
}

// tracked is an admitted activation counted against its namespace until
// its record shows up (or until, at the latest).
type tracked struct {
	s     *nsAdmission
	until time.Time
}

// nsAdmission is this controller's admission state of one namespace.
type nsAdmission struct {
	name string

	// mu is held across the KV round trips of a lease change, so one
	// caller refills while the others of the namespace wait for its result.
	mu sync.Mutex
	// dead marks a state removed from the map; holders look it up again.
	dead bool
	// inflight counts this controller's admitted, unfinished activations;
	// held is its lease, always >= inflight while the lease is valid.
	inflight, held int64
	// validUntil ends the use of the lease; renewAt is when it is rewritten.
	validUntil, renewAt time.Time
	// tokens are left of the ones leased for minute window.
	window, tokens int64
	// conc and rate are this controller's copies of the shared entries.
	conc, rate entry
}

// ticket is one admission; cancel undoes it when the publish failed.
type ticket struct {
	a      *admission
	s      *nsAdmission
	id     string // tracked activation ("" when concurrency is unlimited)
	window int64  // the token's window (-1: no token taken)
}

// newAdmission loads the limit overrides and starts following activation
// records; its background work ends with life.
func newAdmission(ctx, life context.Context, c *Controller) (*admission, error) {
	a := &admission{
		overrides: newCache[entity.NamespaceLimits](),
		me:        c.cfg.InstanceID,
		now:       c.cfg.now,
		log:       c.log,
		defConc:   max(c.cfg.LimitConcurrent, 0),
		defRate:   max(c.cfg.LimitPerMinute, 0),
		ns:        make(map[string]*nsAdmission),
		tracked:   make(map[string]tracked),
	}
	var err error
	if a.kv, err = c.js.KeyValue(ctx, names.AdmissionBucket); err != nil {
		return nil, fmt.Errorf("controller: kv %s: %w", names.AdmissionBucket, err)
	}
	if a.limitsKV, err = c.js.KeyValue(ctx, names.LimitsBucket); err != nil {
		return nil, fmt.Errorf("controller: kv %s: %w", names.LimitsBucket, err)
	}
	ready, err := c.watch(life, a.limitsKV, func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			a.overrides.remove(e.Key(), e.Revision())
			return
		}
		var l entity.NamespaceLimits
		if err := stored.Decode(e.Value(), &l); err != nil {
			a.log.Warn("bad namespace limits entry", "key", e.Key(), "err", err)
			return
		}
		a.overrides.put(e.Key(), &l, e.Revision())
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("controller: loading namespace limits: %w", ctx.Err())
	}
	// Only headers: the subject names the finished activation, and every
	// controller reads every record. An ordered consumer resumes after a
	// reconnect where it stopped, so no completion is missed.
	cons, err := c.js.OrderedConsumer(ctx, names.RecordsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{names.RecordSubjects},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		HeadersOnly:    true,
	})
	if err != nil {
		return nil, fmt.Errorf("controller: follow records: %w", err)
	}
	a.records, err = cons.Consume(func(m jetstream.Msg) {
		s := m.Subject()
		a.finish(s[strings.LastIndexByte(s, '.')+1:])
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		a.log.Debug("following records", "err", err)
	}))
	if err != nil {
		return nil, fmt.Errorf("controller: follow records: %w", err)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		a.run(life)
	}()
	return a, nil
}

// limits returns namespace ns's limits in force; 0 means unlimited.
func (a *admission) limits(ns string) (conc, rate int64) {
	conc, rate = a.defConc, a.defRate
	if o, _ := a.overrides.get(names.NamespaceKey(ns)); o != nil {
		conc = entity.Limit(o.ConcurrentInvocations, conc)
		rate = entity.Limit(o.InvocationsPerMinute, rate)
	}
	return conc, rate
}

// admit checks namespace ns's limits for activation id and counts it. It
// fails with ErrThrottled (a limit is reached) or ErrUnavailable (the
// shared state cannot be reached); then nothing is counted.
func (a *admission) admit(ctx context.Context, ns, id string) (*ticket, error) {
	conc, rate := a.limits(ns)
	if conc == 0 && rate == 0 {
		return nil, nil
	}
	s := a.lock(ns)
	defer s.mu.Unlock()
	now := a.now()
	if conc > 0 && (s.inflight >= s.held || !now.Before(s.validUntil)) {
		if err := a.grow(ctx, s, conc, now); err != nil {
			return nil, err
		}
	}
	t := &ticket{a: a, s: s, window: -1}
	if rate > 0 {
		w := minute(now)
		if s.window != w {
			s.window, s.tokens = w, 0
		}
		if s.tokens == 0 {
			if err := a.takeTokens(ctx, s, rate, w); err != nil {
				return nil, err
			}
		}
		s.tokens--
		t.window = w
	}
	if conc > 0 {
		s.inflight++
		t.id = id
		a.tmu.Lock()
		a.tracked[id] = tracked{s: s, until: now.Add(trackMax)}
		a.tmu.Unlock()
	}
	return t, nil
}

// cancel returns the slot and the token of an activation that was not
// enqueued. Safe on a nil ticket.
func (t *ticket) cancel() {
	if t == nil {
		return
	}
	if t.id != "" {
		t.a.finish(t.id)
	}
	if t.window >= 0 {
		t.s.mu.Lock()
		if t.s.window == t.window {
			t.s.tokens++
		}
		t.s.mu.Unlock()
	}
}

// finish stops counting activation id; unknown ids (another controller's,
// or already finished) are ignored.
func (a *admission) finish(id string) {
	a.tmu.Lock()
	tr, ok := a.tracked[id]
	delete(a.tracked, id)
	a.tmu.Unlock()
	if !ok {
		return
	}
	tr.s.mu.Lock()
	tr.s.inflight--
	tr.s.mu.Unlock()
}

// lock returns namespace ns's state, locked.
func (a *admission) lock(ns string) *nsAdmission {
	for {
		a.mu.RLock()
		s := a.ns[ns]
		a.mu.RUnlock()
		if s == nil {
			a.mu.Lock()
			if s = a.ns[ns]; s == nil {
				s = &nsAdmission{name: ns, window: -1}
				a.ns[ns] = s
			}
			a.mu.Unlock()
		}
		s.mu.Lock()
		if !s.dead {
			return s
		}
		s.mu.Unlock()
	}
}

// minute is the rate window of t: minutes since the Unix epoch.
func minute(t time.Time) int64 { return t.Unix() / 60 }

// spareSlots is how many idle slots a controller may keep leased.
func spareSlots(limit int64) int64 { return min(maxSpareSlots, limit/16) }

// run shrinks and renews leases every admissionTick and forgets finished
// namespaces, until life ends.
func (a *admission) run(life context.Context) {
	defer a.records.Stop()
	t := time.NewTicker(admissionTick)
	defer t.Stop()
	for {
		select {
		case <-life.Done():
			return
		case <-t.C:
			a.maintain()
		}
	}
}

func (a *admission) maintain() {
	now := a.now()
	if a.ticks++; a.ticks%10 == 0 {
		a.expire(now)
	}
	a.mu.RLock()
	states := make([]*nsAdmission, 0, len(a.ns))
	for _, s := range a.ns {
		states = append(states, s)
	}
	a.mu.RUnlock()
	for _, s := range states {
		s.mu.Lock()
		a.maintainOne(s, now)
		s.mu.Unlock()
	}
}

// maintainOne shrinks s's lease to its activations plus a few spare slots
// (none when idle), renews it before it expires, and drops an idle state.
// Called with s.mu held.
func (a *admission) maintainOne(s *nsAdmission, now time.Time) {
	if s.held == 0 {
		if s.inflight == 0 && s.window != minute(now) {
			s.dead = true
			a.mu.Lock()
			delete(a.ns, s.name)
			a.mu.Unlock()
		}
		return
	}
	conc, _ := a.limits(s.name)
	target := s.held
	if spare := spareSlots(conc); s.held > s.inflight+spare {
		target = s.inflight + spare
	}
	if s.inflight == 0 {
		target = 0
	}
	if target == s.held && now.Before(s.renewAt) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), admissionTimeout)
	defer cancel()
	if err := a.updateLease(ctx, s, now, func(int64) (int64, error) { return target, nil }); err != nil {
		a.log.Warn("admission lease not updated", "namespace", s.name, "held", s.held, "want", target, "err", err)
	}
}

// expire stops counting activations whose records never came.
func (a *admission) expire(now time.Time) {
	var lost []tracked
	a.tmu.Lock()
	for id, tr := range a.tracked {
		if now.After(tr.until) {
			delete(a.tracked, id)
			lost = append(lost, tr)
			a.log.Warn("no record of an admitted activation; no longer counting it", "activation", id, "namespace", tr.s.name)
		}
	}
	a.tmu.Unlock()
	for _, tr := range lost {
		tr.s.mu.Lock()
		tr.s.inflight--
		tr.s.mu.Unlock()
	}
}
