package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	// Time zones of cron triggers must resolve in a static binary on a
	// scratch image too.
	_ "time/tzdata"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/robfig/cron/v3"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/stored"
)

// MinInterval is the shortest interval of an interval trigger (and, in
// effect, the finest cron resolution: one second).
const MinInterval = time.Second

// cronParser parses cron expressions with seconds ("sec min hour dom month
// dow") and descriptors ("@every 5m", "@daily").
var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// triggerStore holds the trigger and rule buckets, their watch-fed caches
// and the timers (timers.go).
type triggerStore struct {
	triggers jetstream.KeyValue
	rules    jetstream.KeyValue
	timers   jetstream.KeyValue
	tcache   *cache[entity.Trigger]
	rcache   *cache[entity.Rule]
	sched    *scheduler
}

// startTriggers opens the buckets, loads the caches through KV watches
// (living until wctx ends), starts the timer schedulers and the tick
// consumer. It returns once the caches hold the buckets' contents.
func (c *Controller) startTriggers(ctx, wctx context.Context) (*triggerStore, error) {
	if err := provision.EnsureTriggers(ctx, c.js, c.cfg.Provision); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	ts := &triggerStore{tcache: newCache[entity.Trigger](), rcache: newCache[entity.Rule]()}
	var err error
	for _, b := range []struct {
		name string
		kv   *jetstream.KeyValue
	}{{names.TriggersBucket, &ts.triggers}, {names.RulesBucket, &ts.rules}, {names.TimersBucket, &ts.timers}} {
		if *b.kv, err = c.js.KeyValue(ctx, b.name); err != nil {
			return nil, fmt.Errorf("controller: kv %s: %w", b.name, err)
		}
	}
	ts.sched = newScheduler(c, ts)
	c.trig = ts // the watches below apply through it
	trigReady, err := c.watch(wctx, ts.triggers, func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			ts.tcache.remove(e.Key(), e.Revision())
			ts.sched.update(wctx, e.Key(), nil)
			return
		}
		t, err := decodeTrigger(e)
		if err != nil {
			c.log.Warn("bad trigger entry", "key", e.Key(), "err", err)
			return
		}
		ts.tcache.put(e.Key(), t, e.Revision())
		ts.sched.update(wctx, e.Key(), t)
	})
	if err != nil {
		return nil, err
	}
	rulesReady, err := c.watch(wctx, ts.rules, func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			ts.rcache.remove(e.Key(), e.Revision())
			return
		}
		r, err := decodeRule(e)
		if err != nil {
			c.log.Warn("bad rule entry", "key", e.Key(), "err", err)
			return
		}
		ts.rcache.put(e.Key(), r, e.Revision())
	})
	if err != nil {
		return nil, err
	}
	for _, ready := range []<-chan struct{}{trigReady, rulesReady} {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("controller: loading triggers: %w", ctx.Err())
		}
	}
	if err := ts.sched.consumeTicks(ctx, wctx); err != nil {
		return nil, err
	}
	return ts, nil
}

// liveValues returns the cache's values that are not deleted.
func (c *cache[T]) liveValues() []*T {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*T, 0, len(c.m))
	for _, e := range c.m {
		if e.v != nil {
			out = append(out, e.v)
		}
	}
	return out
}

func decodeTrigger(e jetstream.KeyValueEntry) (*entity.Trigger, error) {
	var t entity.Trigger
	if err := stored.Decode(e.Value(), &t); err != nil {
		return nil, err
	}
	t.Revision = e.Revision()
	return &t, nil
}

// triggerRef resolves ns and validates a trigger or rule name.
func triggerRef(id Identity, ns, what, name string) (string, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return "", err
	}
	if !entity.ValidName(name) {
		return "", fmt.Errorf("%s name %s: %w", what, quoteShort(name), ErrInvalid)
	}
	return ns, nil
}

// validateSource checks a trigger source: exactly one kind, a cron
// expression the parser takes (its message is returned), a known time
// zone, an interval of at least MinInterval, a known missed-tick policy.
func validateSource(s *entity.TriggerSource) error {
	if s == nil {
		return nil
	}
	n := 0
	for _, set := range []bool{s.Cron != nil, s.Interval != nil, s.NATS != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w: a trigger source is one of cron, interval or nats", ErrInvalid)
	}
	switch {
	case s.Cron != nil:
		if _, err := cronSchedule(s.Cron); err != nil {
			return err
		}
		return validateMissed(s.Cron.Missed)
	case s.Interval != nil:
		if s.Interval.Every < MinInterval.Milliseconds() {
			return fmt.Errorf("%w: interval %d ms is under %d ms", ErrInvalid, s.Interval.Every, MinInterval.Milliseconds())
		}
		return validateMissed(s.Interval.Missed)
	case s.NATS != nil:
		return validateNATSSource(s.NATS)
	}
	return nil
}

func validateMissed(p string) error {
	switch p {
	case "", entity.MissedSkip, entity.MissedFireOnce:
		return nil
	}
	return fmt.Errorf("%w: missed-tick policy %q is not %q or %q", ErrInvalid, p, entity.MissedSkip, entity.MissedFireOnce)
}

// validateNATSSubject is the base check of a NATS source: a well-formed
// subject pattern that reaches none of Flurry's or NATS's own subjects.
// Whether the namespace may consume it is checkNATSSpace's question.
func validateNATSSubject(n *entity.NATSSource) error {
	if !names.ValidSubject(n.Subject, true) {
		return fmt.Errorf("%w: nats source subject %q is not a valid subject (empty tokens, spaces, or a wildcard not alone in its token or '>' not last)", ErrInvalid, n.Subject)
	}
	if names.ReservedSubject(n.Subject) {
		return fmt.Errorf("%w: nats source subject %q reaches reserved subjects (Flurry's or NATS's own)", ErrInvalid, n.Subject)
	}
	return nil
}

// cronSchedule parses a cron source in its time zone.
func cronSchedule(s *entity.CronSource) (cron.Schedule, error) {
	expr := strings.TrimSpace(s.Expression)
	if expr == "" {
		return nil, fmt.Errorf("%w: cron expression is empty", ErrInvalid)
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, fmt.Errorf("%w: cron expression %q: give the time zone as timeZone, not in the expression", ErrInvalid, expr)
	}
	loc := time.UTC
	if s.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(s.TimeZone); err != nil {
			return nil, fmt.Errorf("%w: time zone %q: %v", ErrInvalid, s.TimeZone, err)
		}
	}
	sched, err := cronParser.Parse("CRON_TZ=" + loc.String() + " " + expr)
	if err != nil {
		return nil, fmt.Errorf("%w: cron expression %q: %v", ErrInvalid, expr, err)
	}
	return sched, nil
}

// PutTrigger creates a trigger, or with req.Overwrite replaces it. On
// update nil parameters, annotations and source keep the current ones (a
// zero source removes it).
//
// Errors: ErrInvalid (names, source: the cron parser's message, time
// zone, interval, a NATS subject or stream outside the namespace's event
// space, ADR 020), ErrUnavailable, ErrExists (exists and !Overwrite), ErrConflict
// (changed concurrently), ErrForbidden.
func (c *Controller) PutTrigger(ctx context.Context, id Identity, req PutTriggerRequest) (*entity.Trigger, error) {
	ns, err := triggerRef(id, req.Namespace, "trigger", req.Name)
	if err != nil {
		return nil, err
	}
	if err := validateSource(req.Source); err != nil {
		return nil, fmt.Errorf("trigger %q: %w", req.Name, err)
	}
	key := names.TriggerKey(ns, req.Name)
	var old *entity.Trigger
	if req.Overwrite {
		e, err := c.trig.triggers.Get(ctx, key)
		switch {
		case isNotFound(err):
		case err != nil:
			return nil, unavailable("put trigger", err)
		default:
			if old, err = decodeTrigger(e); err != nil {
				return nil, fmt.Errorf("put trigger: stored %s: %w", key, err)
			}
		}
	}
	t := &entity.Trigger{
		Namespace:   ns,
		Name:        req.Name,
		Version:     "0.0.1",
		Parameters:  req.Parameters,
		Annotations: req.Annotations,
		Source:      req.Source,
		Updated:     now(),
	}
	if old != nil {
		t.Version = nextVersion(old.Version)
		if t.Parameters == nil {
			t.Parameters = old.Parameters
		}
		if t.Annotations == nil {
			t.Annotations = old.Annotations
		}
		if t.Source == nil {
			t.Source = old.Source
		}
	}
	if t.Source != nil && *t.Source == (entity.TriggerSource{}) {
		t.Source = nil
	}
	if t.Parameters == nil {
		t.Parameters = []entity.KeyValue{}
	}
	if t.Annotations == nil {
		t.Annotations = []entity.KeyValue{}
	}
	if _, err := mergeParams(t.Parameters, nil); err != nil {
		return nil, fmt.Errorf("trigger %q: %w", req.Name, err)
	}
	// Every firing carries them; over the payload bound no firing could run.
	if err := entity.ValidateParameters(t.Parameters); err != nil {
		return nil, fmt.Errorf("trigger %q: %w: %w", req.Name, ErrInvalid, err)
	}
	if t.Source != nil && t.Source.NATS != nil {
		if err := c.checkNATSSpace(ctx, ns, t.Source.NATS); err != nil {
			return nil, fmt.Errorf("trigger %q: %w", req.Name, err)
		}
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("put trigger: %w", err)
	}
	var rev uint64
	if old != nil {
		rev, err = c.trig.triggers.Update(ctx, key, b, old.Revision)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("trigger %q in namespace %q: %w", req.Name, ns, ErrConflict)
		}
	} else {
		rev, err = c.trig.triggers.Create(ctx, key, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			if req.Overwrite {
				return nil, fmt.Errorf("trigger %q in namespace %q: %w", req.Name, ns, ErrConflict)
			}
			return nil, fmt.Errorf("trigger %q in namespace %q: %w", req.Name, ns, ErrExists)
		}
	}
	if err != nil {
		return nil, unavailable("put trigger", err)
	}
	t.Revision = rev
	c.trig.tcache.put(key, t, rev)
	c.log.Info("trigger stored", "namespace", ns, "trigger", t.Name, "version", t.Version, "revision", rev)
	return t, nil
}

// GetTrigger returns a trigger as stored (read from the KV, so it sees
// every controller's latest write), with SourceError set when its
// message source may not run. Errors: ErrNotFound, ErrForbidden,
// ErrInvalid.
func (c *Controller) GetTrigger(ctx context.Context, id Identity, ns, name string) (*entity.Trigger, error) {
	ns, err := triggerRef(id, ns, "trigger", name)
	if err != nil {
		return nil, err
	}
	t, err := c.loadTrigger(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	if t.Source != nil && t.Source.NATS != nil {
		// A copy: the cache shares t.
		cp := *t
		cp.SourceError = c.sourceRefusal(ctx, &cp)
		t = &cp
	}
	return t, nil
}

// sourceRefusal is why a message trigger's source does not run, as the
// sources would decide it now (sources.go), or "".
func (c *Controller) sourceRefusal(ctx context.Context, t *entity.Trigger) string {
	err := validateNATSSource(t.Source.NATS)
	if err == nil {
		err = c.checkNATSSpace(ctx, t.Namespace, t.Source.NATS)
	}
	if errors.Is(err, ErrInvalid) {
		return err.Error()
	}
	return ""
}

func (c *Controller) loadTrigger(ctx context.Context, ns, name string) (*entity.Trigger, error) {
	key := names.TriggerKey(ns, name)
	e, err := c.trig.triggers.Get(ctx, key)
	if isNotFound(err) {
		return nil, fmt.Errorf("trigger %q in namespace %q: %w", name, ns, ErrNotFound)
	}
	if err != nil {
		return nil, unavailable("get trigger", err)
	}
	t, err := decodeTrigger(e)
	if err != nil {
		return nil, fmt.Errorf("get trigger: stored %s: %w", key, err)
	}
	c.trig.tcache.put(key, t, t.Revision)
	return t, nil
}

// trigger resolves a trigger from the cache, falling back to the KV for
// one this controller has not seen yet.
func (c *Controller) trigger(ctx context.Context, ns, name string) (*entity.Trigger, error) {
	t, known := c.trig.tcache.get(names.TriggerKey(ns, name))
	if known {
		if t == nil {
			return nil, fmt.Errorf("trigger %q in namespace %q: %w", name, ns, ErrNotFound)
		}
		return t, nil
	}
	return c.loadTrigger(ctx, ns, name)
}

// ListTriggers returns the namespace's triggers sorted by name.
// Errors: ErrInvalid (bad skip or limit), ErrForbidden.
func (c *Controller) ListTriggers(ctx context.Context, id Identity, ns string, skip, limit int) ([]*entity.Trigger, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return nil, err
	}
	if limit, err = listBounds(skip, limit); err != nil {
		return nil, err
	}
	out := []*entity.Trigger{}
	err = listKV(ctx, c.trig.triggers, names.TriggerKeyPrefix(ns), skip, limit, func(e jetstream.KeyValueEntry) {
		t, err := decodeTrigger(e)
		if err != nil {
			c.log.Warn("bad trigger entry", "key", e.Key(), "err", err)
			return
		}
		out = append(out, t)
	})
	if err != nil {
		return nil, unavailable("list triggers", err)
	}
	return out, nil
}

// listKV pages the entries under prefix, sorted by the name (the last key
// token, untokened), applying add to each page entry.
func listKV(ctx context.Context, kv jetstream.KeyValue, prefix string, skip, limit int, add func(jetstream.KeyValueEntry)) error {
	lister, err := kv.ListKeysFiltered(ctx, prefix)
	if err != nil {
		return err
	}
	type ref struct{ key, name string }
	var refs []ref
	for k := range lister.Keys() {
		_, tok, _ := strings.Cut(k, ".")
		refs = append(refs, ref{key: k, name: untoken(tok)})
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].name < refs[j].name })
	n := 0
	for _, r := range refs[min(skip, len(refs)):] {
		if n == limit {
			break
		}
		e, err := kv.Get(ctx, r.key)
		if isNotFound(err) {
			continue // deleted since listed
		}
		if err != nil {
			return err
		}
		add(e)
		n++
	}
	return nil
}

// DeleteTrigger removes a trigger and its timer state and returns what was
// deleted. Rules naming it stay (as in OpenWhisk) and fire nothing.
// Errors: ErrNotFound, ErrConflict, ErrForbidden.
func (c *Controller) DeleteTrigger(ctx context.Context, id Identity, ns, name string) (*entity.Trigger, error) {
	ns, err := triggerRef(id, ns, "trigger", name)
	if err != nil {
		return nil, err
	}
	t, err := c.loadTrigger(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	key := names.TriggerKey(ns, name)
	err = c.trig.triggers.Delete(ctx, key, jetstream.LastRevision(t.Revision))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("trigger %q in namespace %q: %w", name, ns, ErrConflict)
	}
	if err != nil {
		return nil, unavailable("delete trigger", err)
	}
	c.trig.tcache.remove(key, t.Revision+1)
	// A trigger made again under this name starts without a past.
	if err := c.trig.timers.Purge(ctx, key); err != nil && !isNotFound(err) {
		c.log.Warn("purge timer state", "namespace", ns, "trigger", name, "err", err)
	}
	c.log.Info("trigger deleted", "namespace", ns, "trigger", name, "revision", t.Revision)
	return t, nil
}
