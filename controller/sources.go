package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/backoff"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/provision"
)

// Message sources (ADR 008). Every controller runs a sourceManager fed by
// a watch of the triggers bucket: it keeps one running natsSource
// (sources_nats.go) per trigger whose Source is NATS, replaces it when
// the trigger changes and stops it when the trigger goes. The sources of
// all controllers share one queue group or durable consumer per trigger,
// so each message fires once across controllers.

// Bounds and defaults of message sources.
const (
	// MaxBatchSize bounds entity.NATSSource.BatchSize.
	MaxBatchSize = 1000
	// MaxBatchWindow bounds entity.NATSSource.BatchWindow.
	MaxBatchWindow = time.Minute
	// DefaultBatchWindow is the batch window of a source with BatchSize > 1
	// and no BatchWindow.
	DefaultBatchWindow = time.Second
	// SourceInFlight bounds the messages (or batches) one controller works
	// on at once per trigger; it is also the flow control of JetStream
	// sources: a controller pulls only what it has room for.
	SourceInFlight = 64
	// SourceCoreBuffer is how many core NATS messages one controller
	// holds per trigger while all its slots are busy; past that the
	// client drops them (core NATS is at most once; use a stream).
	SourceCoreBuffer = 64 * 1024
	// SourceRecordWait is how long a message waits for its activation's
	// record before the attempt counts as failed (as ADR 005 stops
	// counting an activation without a record).
	SourceRecordWait = 15 * time.Minute
	// sourceCrashAllowance is how many deliveries beyond the retry policy's
	// attempts a JetStream source allows for controllers that stopped or
	// died while working on a message (MaxDeliver = attempts + this).
	sourceCrashAllowance = 10
	// sourcePullWait bounds one pull request. Pulls end on the server's
	// expiry, never by cancelling them in the client: a message the server
	// sent to a cancelled pull would wait out the AckWait in vain. It is
	// also how long a stopping source may take.
	sourcePullWait = time.Second
	// sourceRetryStart is the consumer creation retry of a stream that is
	// not there yet.
	sourceRetryStart = 5 * time.Second
)

// sourceAckWait is the AckWait of trigger consumers; progress acks go
// every third of it while a message's activations run. Tests shorten it.
var sourceAckWait = 30 * time.Second

// sourceManager runs the message sources of one controller.
type sourceManager struct {
	c   *Controller
	log *slog.Logger
	// ctx lives until the controller closes.
	ctx context.Context
	kv  jetstream.KeyValue

	mu      sync.Mutex
	running map[string]*natsSource // by names.TriggerKey

	// applyMu serializes apply: the watch calls it, and so do retries of
	// event space checks that could not be made.
	applyMu sync.Mutex
	// seen is the last revision applied per trigger key, so a retry never
	// applies an entry older than what the watch applied since.
	seen map[string]uint64
	// entries are the current entries of NATS triggers, started or not,
	// for regrant.
	entries map[string]jetstream.KeyValueEntry
}

// startSources ensures the trigger dead-letter stream and starts the
// manager's watch of the triggers bucket (living until wctx ends). It
// returns once the sources of the bucket's current triggers are started.
// The triggers bucket must exist (startTriggers provisions it).
func startSources(ctx, wctx context.Context, c *Controller) (*sourceManager, error) {
	if err := provision.EnsureTriggerDeadLetters(ctx, c.js, c.cfg.Provision); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	kv, err := c.js.KeyValue(ctx, names.TriggersBucket)
	if err != nil {
		return nil, fmt.Errorf("controller: kv %s: %w", names.TriggersBucket, err)
	}
	m := &sourceManager{c: c, log: c.log.With("part", "sources"), ctx: wctx, kv: kv,
		running: make(map[string]*natsSource), seen: make(map[string]uint64),
		entries: make(map[string]jetstream.KeyValueEntry)}
	// Grants first: the triggers' sources are checked against them.
	if err := c.watchGrants(ctx, wctx, m.regrant); err != nil {
		return nil, err
	}
	ready, err := c.watch(wctx, kv, m.apply)
	if err != nil {
		return nil, err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("controller: loading message sources: %w", ctx.Err())
	}
	return m, nil
}

// regrant checks the message triggers of the namespace whose grants
// (names.NamespacesBucket entry nsKey) changed or went: a source they no
// longer allow stops, one they now allow starts.
func (m *sourceManager) regrant(nsKey string) {
	prefix := nsKey + "." // trigger keys are namespace token "." name token
	m.applyMu.Lock()
	var entries []jetstream.KeyValueEntry
	for k, te := range m.entries {
		if strings.HasPrefix(k, prefix) {
			entries = append(entries, te)
		}
	}
	m.applyMu.Unlock()
	for _, te := range entries {
		m.applyEntry(te, true)
	}
}

// apply starts, replaces or stops the source of one trigger entry. A
// source outside its namespace's event space does not start (ADR 020).
func (m *sourceManager) apply(e jetstream.KeyValueEntry) { m.applyEntry(e, false) }

// applyEntry is apply; with recheck, a source already running at e's
// revision is checked against its event space again, and stopped when
// it is no longer allowed.
func (m *sourceManager) applyEntry(e jetstream.KeyValueEntry, recheck bool) {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	key := e.Key()
	if e.Revision() < m.seen[key] {
		return
	}
	m.seen[key] = e.Revision()
	m.mu.Lock()
	old := m.running[key]
	m.mu.Unlock()
	var t *entity.Trigger
	if e.Operation() == jetstream.KeyValuePut {
		var err error
		if t, err = decodeTrigger(e); err != nil {
			m.log.Warn("bad trigger entry", "key", key, "err", err)
			return
		}
		if t.Source == nil || t.Source.NATS == nil {
			t = nil
		}
	}
	if t == nil {
		delete(m.entries, key)
		if old != nil {
			m.remove(key, old, e.Operation() != jetstream.KeyValuePut)
		}
		return
	}
	m.entries[key] = e
	current := old != nil && old.trig.Revision >= t.Revision
	if current && !recheck {
		return
	}
	if err := validateNATSSource(t.Source.NATS); err != nil {
		m.log.Error("message trigger not started: invalid source", "namespace", t.Namespace, "trigger", t.Name, "err", err)
		if old != nil {
			m.remove(key, old, false)
		}
		return
	}
	if err := m.checkSpace(t); err != nil {
		if errors.Is(err, ErrInvalid) {
			m.log.Error("message trigger not started: outside its namespace's event space", "namespace", t.Namespace,
				"trigger", t.Name, "revision", t.Revision, "err", err)
		} else {
			m.log.Warn("message trigger not started yet: its event space cannot be checked, retrying",
				"namespace", t.Namespace, "trigger", t.Name, "err", err)
			m.retryLater(key)
		}
		if old != nil {
			m.remove(key, old, false)
		}
		return
	}
	if current {
		return
	}
	s := newNATSSource(m, t)
	// Start before stopping the old one: both are in the same queue group
	// or pull from the same consumer, so no message falls in between.
	s.start()
	m.mu.Lock()
	m.running[key] = s
	m.mu.Unlock()
	if old != nil {
		old.stop(false)
		if old.spec.Stream != "" && old.spec.Stream != s.spec.Stream {
			m.deleteConsumer(old)
		}
	}
	m.log.Info("message trigger started", "namespace", t.Namespace, "trigger", t.Name, "subject", s.spec.Subject,
		"stream", s.spec.Stream, "source", names.TriggerSource(t.Namespace, t.Name), "revision", t.Revision)
}

// checkSpace checks t's NATS source against its namespace's event space.
// A stream that does not exist yet passes: the source checks it again
// before each creation of its consumer (ensureConsumer).
func (m *sourceManager) checkSpace(t *entity.Trigger) error {
	ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second)
	defer cancel()
	err := m.c.checkNATSSpace(ctx, t.Namespace, t.Source.NATS)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	return err
}

// retryLater applies trigger key's current entry again after
// sourceRetryStart, unless the controller closes first.
func (m *sourceManager) retryLater(key string) {
	m.c.wg.Add(1)
	go func() {
		defer m.c.wg.Done()
		t := time.NewTimer(sourceRetryStart)
		defer t.Stop()
		select {
		case <-t.C:
		case <-m.ctx.Done():
			return
		}
		e, err := m.kv.Get(m.ctx, key)
		if err != nil {
			if !isNotFound(err) && m.ctx.Err() == nil {
				m.retryLater(key)
			}
			return
		}
		m.apply(e)
	}()
}

// remove stops a trigger's source. A deleted trigger's in-flight work is
// abandoned and its durable consumer deleted; a trigger that only lost its
// NATS source finishes what it started.
func (m *sourceManager) remove(key string, s *natsSource, deleted bool) {
	m.mu.Lock()
	delete(m.running, key)
	m.mu.Unlock()
	s.stop(deleted)
	if s.spec.Stream != "" {
		m.deleteConsumer(s)
	}
	m.log.Info("message trigger stopped", "namespace", s.trig.Namespace, "trigger", s.trig.Name, "deleted", deleted)
}

// deleteConsumer removes a stopped JetStream source's durable consumer.
// Every controller sees the change and tries; the first one wins.
func (m *sourceManager) deleteConsumer(s *natsSource) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), 5*time.Second)
	defer cancel()
	err := m.c.js.DeleteConsumer(ctx, s.spec.Stream, s.consumerName())
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		m.log.Warn("delete trigger consumer", "namespace", s.trig.Namespace, "trigger", s.trig.Name,
			"stream", s.spec.Stream, "err", err)
	}
}

// ready reports whether trigger name of namespace ns has a running source
// at revision rev or later that is consuming (subscribed, or its consumer
// created).
func (m *sourceManager) ready(ns, name string, rev uint64) bool {
	m.mu.Lock()
	s := m.running[names.TriggerKey(ns, name)]
	m.mu.Unlock()
	return s != nil && s.trig.Revision >= rev && s.consuming.Load()
}

// retryPolicy is a trigger's entity.RetryPolicy with defaults applied.
type retryPolicy struct {
	attempts        int
	initial, max    time.Duration
	maxAge          time.Duration // 0: no limit
	jitter          func(time.Duration) time.Duration
	maxDeliverSlack int
}

func newRetryPolicy(p *entity.RetryPolicy) retryPolicy {
	r := retryPolicy{attempts: 1, initial: time.Second, max: 5 * time.Minute, jitter: backoff.FullJitter,
		maxDeliverSlack: sourceCrashAllowance}
	if p == nil {
		return r
	}
	r.attempts = max(p.MaxAttempts, 1)
	if p.InitialBackoff > 0 {
		r.initial = time.Duration(p.InitialBackoff) * time.Millisecond
	}
	if p.MaxBackoff > 0 {
		r.max = time.Duration(p.MaxBackoff) * time.Millisecond
	}
	r.max = max(r.max, r.initial)
	r.maxAge = time.Duration(p.MaxEventAge) * time.Millisecond
	return r
}

// backoff is the delay after failed attempt n (1-based): the initial
// backoff doubled per attempt up to the maximum, with full jitter, as
// asynchronous activations retry (invoker/deadletter.go).
func (r retryPolicy) backoff(n int) time.Duration {
	return r.jitter(backoff.Exponential{Initial: r.initial, Max: r.max}.Ceiling(n))
}

// validateNATSSource checks what validateNATSSubject does not: batching,
// response and error subjects, stream name and retry policy.
func validateNATSSource(n *entity.NATSSource) error {
	if err := validateNATSSubject(n); err != nil {
		return err
	}
	switch {
	case n.BatchSize < 0 || n.BatchSize > MaxBatchSize:
		return fmt.Errorf("%w: nats source batchSize %d is outside [0, %d]", ErrInvalid, n.BatchSize, MaxBatchSize)
	case n.BatchWindow < 0 || n.BatchWindow > MaxBatchWindow.Milliseconds():
		return fmt.Errorf("%w: nats source batchWindow %d ms is outside [0, %d]", ErrInvalid, n.BatchWindow, MaxBatchWindow.Milliseconds())
	case n.Stream != "" && !validStreamName(n.Stream):
		return fmt.Errorf("%w: nats source stream %q is not a valid stream name", ErrInvalid, n.Stream)
	}
	for _, s := range []struct{ name, subject string }{{"responseSubject", n.ResponseSubject}, {"errorSubject", n.ErrorSubject}} {
		if s.subject == "" {
			continue
		}
		if err := validateSubject(s.subject); err != nil {
			return fmt.Errorf("%w: nats source %s: %w", ErrInvalid, s.name, err)
		}
	}
	if n.Retry != nil {
		if err := validateRetry(*n.Retry); err != nil {
			return fmt.Errorf("nats source: %w", err)
		}
	}
	return nil
}

// validStreamName is JetStream's rule: printable, no white space, no '.',
// '*', '>' or path separators.
func validStreamName(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '.' || r == '*' || r == '>' || r == '/' || r == '\\' {
			return false
		}
	}
	return true
}
