package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/stored"
)

// The shared admission state in names.AdmissionBucket (ADR 005):
//
//	conc.<ns>          {"<controller>": {"n": slots, "exp": unix ms}, ...}
//	rate.<ns>.<minute> tokens granted to controllers in that minute
//
// Both change only by compare-and-set on the KV revision, so the leases of
// a namespace never add up to more than its concurrency limit, nor the
// granted tokens to more than its per-minute limit.

// lease is one controller's share of a namespace's concurrency limit.
type lease struct {
	N   int64 `json:"n"`
	Exp int64 `json:"exp"` // Unix ms, by the writer's clock
}

// entry is the last value and revision of an admission entry this
// controller read or wrote. A change is first tried on it, so a controller
// that alone uses a namespace pays one round trip per change; after a lost
// race, or before refusing, the entry is read again.
type entry struct {
	key   string
	value []byte // nil: absent
	rev   uint64 // 0: absent
	known bool
}

// grow leases more slots to s for one more activation: a quarter of the
// namespace's free slots, at most spareSlots more than needed. It fails
// with ErrThrottled when the leases of all controllers fill the limit.
// Called with s.mu held.
func (a *admission) grow(ctx context.Context, s *nsAdmission, limit int64, now time.Time) error {
	spare := spareSlots(limit)
	return a.updateLease(ctx, s, now, func(others int64) (int64, error) {
		room := limit - others - s.inflight
		if room <= 0 {
			return 0, fmt.Errorf("too many concurrent activations for namespace %s: limit %d: %w", s.name, limit, ErrThrottled)
		}
		return s.inflight + 1 + min(spare, (room-1)/4), nil
	})
}

// updateLease sets this controller's lease of s to want(others), where
// others is the sum of the other controllers' unexpired leases, and
// renews its expiry. Called with s.mu held.
func (a *admission) updateLease(ctx context.Context, s *nsAdmission, now time.Time, want func(others int64) (int64, error)) error {
	var n int64
	err := a.update(ctx, &s.conc, names.AdmissionConcurrencyKey(s.name), func(value []byte) ([]byte, error) {
		leases := map[string]lease{}
		if value != nil {
			if err := stored.Decode(value, &leases); err != nil {
				// A bad entry must not stop admission: it is rebuilt.
				a.log.Warn("bad admission lease entry; replacing it", "namespace", s.name, "err", err)
				leases = map[string]lease{}
			}
		}
		var others int64
		for id, l := range leases {
			switch {
			case l.Exp <= now.UnixMilli():
				delete(leases, id) // its controller is gone
			case id != a.me:
				others += l.N
			}
		}
		var err error
		if n, err = want(others); err != nil {
			return nil, err
		}
		if n > 0 {
			leases[a.me] = lease{N: n, Exp: now.Add(leaseTTL).UnixMilli()}
		} else {
			delete(leases, a.me)
		}
		return json.Marshal(leases)
	})
	if err != nil {
		return err
	}
	s.held = n
	s.validUntil = now.Add(leaseTTL - leaseMargin)
	s.renewAt = now.Add(leaseTTL / 2)
	return nil
}

// takeTokens leases tokens of minute w to s: a quarter of what is left of
// the namespace's per-minute limit, at least 1 and at most maxTokenChunk.
// It fails with ErrThrottled when the minute's tokens are all granted.
// Called with s.mu held.
func (a *admission) takeTokens(ctx context.Context, s *nsAdmission, limit, w int64) error {
	var take int64
	err := a.update(ctx, &s.rate, names.AdmissionRateKey(s.name, w), func(value []byte) ([]byte, error) {
		var granted int64
		if value != nil {
			var err error
			if granted, err = strconv.ParseInt(string(value), 10, 64); err != nil {
				// Unreadable: count the minute as used up rather than
				// admit without a bound.
				a.log.Warn("bad admission token entry", "namespace", s.name, "err", err)
				granted = limit
			}
		}
		left := limit - granted
		if left <= 0 {
			return nil, fmt.Errorf("too many invocations per minute for namespace %s: limit %d: %w", s.name, limit, ErrThrottled)
		}
		take = min(maxTokenChunk, max(1, left/4))
		return strconv.AppendInt(nil, granted+take, 10), nil
	})
	if err != nil {
		return err
	}
	s.tokens = take
	return nil
}

// update applies change to the entry at key by compare-and-set, starting
// from e's copy when it is of key. A refusal (ErrThrottled) is only
// returned on a freshly read value.
func (a *admission) update(ctx context.Context, e *entry, key string, change func(value []byte) ([]byte, error)) error {
	ctx, cancel := context.WithTimeout(ctx, admissionTimeout+admissionLeaderless)
	defer cancel()
	until, waits := time.Now().Add(admissionLeaderless), 0
	what := fmt.Sprintf("admission entry %s", key)
	fresh := false
	if e.key != key {
		*e = entry{key: key}
	}
	for attempt := 0; attempt < casAttempts; attempt++ {
		if !e.known {
			kv, err := a.kv.Get(ctx, key)
			switch {
			case err == nil:
				e.value, e.rev = kv.Value(), kv.Revision()
			case isNotFound(err):
				e.value, e.rev = nil, 0
			case leaderless(err) && waitForLeader(ctx, waits+1, until):
				waits, attempt = waits+1, attempt-1
				continue
			default:
				return unavailable(what, err)
			}
			e.known, fresh = true, true
		}
		value, err := change(e.value)
		if err != nil {
			if !fresh && errors.Is(err, ErrThrottled) {
				e.known = false
				continue
			}
			return err
		}
		var rev uint64
		if e.rev == 0 {
			rev, err = a.kv.Create(ctx, key, value)
		} else {
			rev, err = a.kv.Update(ctx, key, value, e.rev)
		}
		switch {
		case err == nil:
			e.value, e.rev = value, rev
			return nil
		case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			// Another controller changed it since: read it again.
			e.known, fresh = false, false
		case leaderless(err) && waitForLeader(ctx, waits+1, until):
			// Nothing was written; the bucket is electing a leader.
			waits, attempt = waits+1, attempt-1
		default:
			e.known = false
			return unavailable(what, err)
		}
	}
	return fmt.Errorf("%s: %d controllers raced to change it: %w", what, casAttempts, ErrUnavailable)
}
