package controller

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/backoff"
)

// leaderless reports whether err is JetStream's "no responders" to a
// write: no stream leader took the message, as while the streams of a
// lost NATS node elect new leaders (docs/adr/023-replication.md), so
// nothing was stored and the write may be sent again without storing it
// twice. A timeout is not leaderless: the message may have been stored.
func leaderless(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)
}

// leaderWait paces the retries of leaderless writes: a leader election
// takes seconds, so a few retries a second find the new leader soon.
var leaderWait = backoff.Exponential{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond}

// waitForLeader sleeps before retry n (1 for the first) of a leaderless
// write and reports whether to retry: false when the sleep would end
// after until, or ctx ends first.
func waitForLeader(ctx context.Context, n int, until time.Time) bool {
	d := leaderWait.Delay(n)
	if time.Now().Add(d).After(until) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
