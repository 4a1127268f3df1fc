package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/provision"
)

// Timers (ADR 007). Every controller schedules every timer trigger and,
// at each scheduled time, publishes a tick to the ticks work queue with
// Nats-Msg-Id = names.TickID(ns, trigger, scheduled ms): JetStream keeps
// one copy. One durable consumer shared by all controllers takes each
// tick once and fires it, after a compare-and-set of the trigger's last
// fired time in the timers bucket, which also holds off copies published
// past the duplicate window.

const (
	// lateTick is how late a tick of a "skip" trigger may be fired (a
	// redelivered tick is up to an ack wait late); older ones are dropped.
	lateTick = 2 * provision.TicksAckWait
	// maxCatchUp bounds the scan for the latest missed cron time.
	maxCatchUp = 1 << 20
)

// tick is a timer tick's message.
type tick struct {
	Namespace string `json:"namespace"`
	Trigger   string `json:"trigger"`
	// At is the scheduled time, Unix ms.
	At int64 `json:"at"`
	// CatchUp marks the one tick fired at start for missed ones.
	CatchUp bool `json:"catchUp,omitempty"`
}

// scheduler runs one goroutine per timer trigger.
type scheduler struct {
	c  *Controller
	ts *triggerStore

	mu     sync.Mutex
	timers map[string]*timerRun
}

type timerRun struct {
	rev    uint64
	cancel context.CancelFunc
}

func newScheduler(c *Controller, ts *triggerStore) *scheduler {
	return &scheduler{c: c, ts: ts, timers: make(map[string]*timerRun)}
}

// isTimer reports whether t is fired by a timer.
func isTimer(t *entity.Trigger) bool {
	return t != nil && t.Source != nil && (t.Source.Cron != nil || t.Source.Interval != nil)
}

// update (re)starts or stops the timer of trigger key (t nil: deleted).
func (s *scheduler) update(wctx context.Context, key string, t *entity.Trigger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.timers[key]; ok {
		if t != nil && r.rev == t.Revision {
			return
		}
		r.cancel()
		delete(s.timers, key)
	}
	if !isTimer(t) {
		return
	}
	next, err := nextFunc(t.Source)
	if err != nil {
		s.c.log.Warn("timer trigger not scheduled", "namespace", t.Namespace, "trigger", t.Name, "err", err)
		return
	}
	ctx, cancel := context.WithCancel(wctx)
	s.timers[key] = &timerRun{rev: t.Revision, cancel: cancel}
	s.c.wg.Add(1)
	go func() {
		defer s.c.wg.Done()
		s.run(ctx, key, t, next)
	}()
}

// nextFunc returns the schedule of a timer source: the first scheduled
// time after a given one. Intervals are aligned to the Unix epoch, so all
// controllers agree on the times.
func nextFunc(src *entity.TriggerSource) (func(time.Time) time.Time, error) {
	if src.Interval != nil {
		every := src.Interval.Every
		if every < MinInterval.Milliseconds() {
			return nil, fmt.Errorf("interval %d ms is under %v", every, MinInterval)
		}
		return func(after time.Time) time.Time {
			ms := after.UnixMilli()
			return time.UnixMilli((ms/every + 1) * every)
		}, nil
	}
	sched, err := cronSchedule(src.Cron)
	if err != nil {
		return nil, err
	}
	return sched.Next, nil
}

func missedPolicy(src *entity.TriggerSource) string {
	switch {
	case src.Cron != nil && src.Cron.Missed != "":
		return src.Cron.Missed
	case src.Interval != nil && src.Interval.Missed != "":
		return src.Interval.Missed
	}
	return entity.MissedSkip
}

// run publishes t's ticks until ctx ends.
func (s *scheduler) run(ctx context.Context, key string, t *entity.Trigger, next func(time.Time) time.Time) {
	log := s.c.log.With("namespace", t.Namespace, "trigger", t.Name)
	log.Debug("timer scheduled", "revision", t.Revision)
	if missedPolicy(t.Source) == entity.MissedFireOnce {
		if at, ok := s.lastMissed(ctx, key, t, next); ok {
			log.Info("firing once for missed ticks", "scheduled", at)
			s.publish(ctx, log, tick{Namespace: t.Namespace, Trigger: t.Name, At: at.UnixMilli(), CatchUp: true})
		}
	}
	at := next(s.c.cfg.now())
	for {
		if at.IsZero() {
			log.Info("timer has no more scheduled times")
			return
		}
		timer := time.NewTimer(time.Until(at))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		s.publish(ctx, log, tick{Namespace: t.Namespace, Trigger: t.Name, At: at.UnixMilli()})
		n := next(at)
		if late := s.c.cfg.now().Add(-lateTick); n.Before(late) {
			// This process stood still (suspended): skip what it missed.
			n = next(s.c.cfg.now())
		}
		at = n
	}
}

// lastMissed returns the latest scheduled time of t at or before now that
// comes after its last fired tick (or its last update, when it never
// fired), if there is one.
func (s *scheduler) lastMissed(ctx context.Context, key string, t *entity.Trigger, next func(time.Time) time.Time) (time.Time, bool) {
	base := time.UnixMilli(t.Updated)
	if e, err := s.ts.timers.Get(ctx, key); err == nil {
		if last, err := strconv.ParseInt(string(e.Value()), 10, 64); err == nil && last > t.Updated {
			base = time.UnixMilli(last)
		}
	} else if !isNotFound(err) {
		s.c.log.Warn("read timer state", "namespace", t.Namespace, "trigger", t.Name, "err", err)
		return time.Time{}, false
	}
	now := s.c.cfg.now()
	at := next(base)
	if at.IsZero() || at.After(now) {
		return time.Time{}, false
	}
	for range maxCatchUp {
		n := next(at)
		if n.IsZero() || n.After(now) {
			break
		}
		at = n
	}
	return at, true
}

// publish puts a tick into the ticks stream; copies of other controllers
// carry the same id and are dropped by JetStream.
func (s *scheduler) publish(ctx context.Context, log *slog.Logger, tk tick) {
	data, _ := json.Marshal(tk)
	id := names.TickID(tk.Namespace, tk.Trigger, tk.At)
	m := &nats.Msg{Subject: names.TickSubject(tk.Namespace, tk.Trigger), Data: data,
		Header: nats.Header{names.HeaderMsgID: []string{id}}}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.c.js.PublishMsg(pctx, m); err != nil && ctx.Err() == nil {
		log.Warn("publish timer tick", "tick", id, "err", err)
	}
}

// consumeTicks starts this controller's share of the ticks consumer; it
// stops when wctx ends.
func (s *scheduler) consumeTicks(ctx, wctx context.Context) error {
	cons, err := s.c.js.Consumer(ctx, names.TicksStream, names.TicksConsumer)
	if err != nil {
		return fmt.Errorf("controller: consumer %s: %w", names.TicksConsumer, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { s.onTick(wctx, m) }, jetstream.PullMaxMessages(16))
	if err != nil {
		return fmt.Errorf("controller: consume ticks: %w", err)
	}
	s.c.wg.Add(1)
	go func() {
		defer s.c.wg.Done()
		<-wctx.Done()
		cc.Stop()
	}()
	return nil
}

// onTick fires a tick unless it was fired already.
func (s *scheduler) onTick(ctx context.Context, m jetstream.Msg) {
	var tk tick
	if err := json.Unmarshal(m.Data(), &tk); err != nil || tk.Namespace == "" || tk.Trigger == "" {
		s.c.log.Warn("bad timer tick dropped", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	log := s.c.log.With("namespace", tk.Namespace, "trigger", tk.Trigger, "scheduled", tk.At)
	redelivered := false
	if md, err := m.Metadata(); err == nil {
		redelivered = md.NumDelivered > 1
	}
	ctx, cancel := context.WithTimeout(ctx, provision.TicksAckWait/2)
	defer cancel()
	t, err := s.c.trigger(ctx, tk.Namespace, tk.Trigger)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && !isTimer(t)):
		log.Debug("tick of a deleted or changed trigger dropped")
		_ = m.Ack()
		return
	case err != nil:
		log.Warn("tick: read trigger", "err", err)
		_ = m.NakWithDelay(time.Second)
		return
	}
	if !tk.CatchUp && missedPolicy(t.Source) == entity.MissedSkip && s.c.cfg.now().Sub(time.UnixMilli(tk.At)) > lateTick {
		log.Info("late tick skipped (missed-tick policy skip)")
		_ = m.Ack()
		return
	}
	key := names.TriggerKey(tk.Namespace, tk.Trigger)
	ok, err := s.claim(ctx, key, tk.At, redelivered)
	if err != nil {
		log.Warn("tick: claim", "err", err)
		_ = m.NakWithDelay(time.Second)
		return
	}
	if !ok {
		log.Debug("tick fired already")
		_ = m.Ack()
		return
	}
	aid := derivedID(names.TickID(tk.Namespace, tk.Trigger, tk.At), "tick")
	id := Identity{Namespace: tk.Namespace}
	if _, err := s.c.fire(ctx, id, tk.Namespace, tk.Trigger, nil, "", aid, tk.At); err != nil {
		if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			log.Warn("tick: fire, will retry", "err", err)
			_ = m.NakWithDelay(time.Second)
			return
		}
		log.Warn("tick: fire", "err", err)
	}
	_ = m.Ack()
}

// claim records at as the trigger's last fired tick (compare-and-set) and
// reports whether this delivery should fire it: not when a tick at or
// after at was fired, except a redelivery of the very tick (its first
// delivery may have died half-way; the derived ids make re-firing it
// idempotent).
func (s *scheduler) claim(ctx context.Context, key string, at int64, redelivered bool) (bool, error) {
	val := []byte(strconv.FormatInt(at, 10))
	for range 10 {
		e, err := s.ts.timers.Get(ctx, key)
		if isNotFound(err) {
			_, err = s.ts.timers.Create(ctx, key, val)
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			return err == nil, err
		}
		if err != nil {
			return false, err
		}
		last, _ := strconv.ParseInt(string(e.Value()), 10, 64)
		switch {
		case last > at:
			return false, nil
		case last == at:
			return redelivered, nil
		}
		_, err = s.ts.timers.Update(ctx, key, val, e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		return err == nil, err
	}
	return false, fmt.Errorf("timer state %s: too many concurrent updates", key)
}
