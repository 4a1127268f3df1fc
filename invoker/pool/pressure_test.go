package pool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
)

// pressureSetup fills a 256 MB pool with b's idle warm container, still
// in use between calls (its calls come every 10 s), and starts a's container behind the runtime's
// gate. a has run before (its run time is known) and has no other
// container: a call of a that does not wait for the start under way must
// evict b. It returns b's container and the channel of a's first one.
func pressureSetup(t *testing.T, rt *fakeRuntime, cfg Config) (*Pool[struct{}], *clock, *Container[struct{}], <-chan *Container[struct{}]) {
	t.Helper()
	cfg.MemoryMB = 256
	cfg.QueueWait = 10 * time.Millisecond
	p, clk := newPool(t, rt, cfg)
	a := mustAcquire(t, p, req("a", 128, 1), StartCold)
	p.Initialized(a)
	clk.add(5 * time.Millisecond)
	p.Release(a)
	p.Discard(mustAcquire(t, p, req("a", 128, 1), StartWarm)) // a crashed: its container is gone
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if s := p.Stats(); s.UsedMB != 0 {
			return errors.New("a's container is not removed yet")
		}
		return nil
	})
	b := mustAcquire(t, p, req("b", 128, 1), StartCold)
	p.Initialized(b)
	p.Release(b)
	clk.add(10 * time.Second) // b is called every 10 s: stale only after 20 s idle
	p.Release(mustAcquire(t, p, req("b", 128, 1), StartWarm))
	first := startGated(t, p, rt, req("a", 128, 1))
	return p, clk, b, first
}

// TestPressureQueuesForOwnStart: with memory short, a second call of an
// action whose container is starting waits for that container instead of
// evicting another action's warm one to start a second.
func TestPressureQueuesForOwnStart(t *testing.T) {
	rt := newFake()
	p, clk, b, first := pressureSetup(t, rt, Config{})
	done := acquireBg(t, p, req("a", 128, 1))
	awaitKey(t, p, "a", func(ks *keyState) error {
		if ks.waiting != 1 {
			return errors.New("the second call of a does not wait")
		}
		return nil
	})
	clk.add(time.Second) // past QueueWait and any start time measured so far
	time.Sleep(50 * time.Millisecond)
	if live := rt.liveIDs(); !slices.Contains(live, b.ID) {
		t.Fatalf("b's warm container %s was evicted while a's start was under way (live %v)", b.ID, live)
	}
	close(rt.startGate)
	c := <-first
	p.Initialized(c)
	clk.add(2 * time.Millisecond)
	p.Release(c)
	if got := <-done; got.start != StartWarm {
		t.Fatalf("second call of a: %s, want warm", got.start)
	} else {
		p.Release(got.c)
	}
	if s := p.Stats(); s.ColdStarts != 3 || s.Evictions != 0 {
		t.Fatalf("cold starts %d, evictions %d; want 3 (a, b, a again) and 0", s.ColdStarts, s.Evictions)
	}
	p.Release(mustAcquire(t, p, req("b", 128, 1), StartWarm))
}

// TestPressureWaitIsBounded: past PressureWait the waiting call starts a
// container of its own, evicting as before.
func TestPressureWaitIsBounded(t *testing.T) {
	rt := newFake()
	p, clk, b, first := pressureSetup(t, rt, Config{PressureWait: 3 * time.Second})
	done := acquireBg(t, p, req("a", 128, 1))
	awaitKey(t, p, "a", func(ks *keyState) error {
		if ks.waiting != 1 {
			return errors.New("the second call of a does not wait")
		}
		return nil
	})
	clk.add(3 * time.Second)
	awaitKey(t, p, "a", func(ks *keyState) error {
		if ks.starting != 2 {
			return errors.New("the call past PressureWait has not started a container")
		}
		return nil
	})
	evicted(t, rt, b.ID, "the second start had no memory without it")
	close(rt.startGate)
	p.Release(<-first)
	if got := <-done; got.start != StartCold {
		t.Fatalf("second call of a: %s, want cold", got.start)
	} else {
		p.Initialized(got.c)
		p.Release(got.c)
	}
}

// TestPressureOff: a negative PressureWait keeps the eviction of the
// least recently used container at once.
func TestPressureOff(t *testing.T) {
	rt := newFake()
	p, _, b, first := pressureSetup(t, rt, Config{PressureWait: -1})
	done := acquireBg(t, p, req("a", 128, 1))
	awaitKey(t, p, "a", func(ks *keyState) error {
		if ks.starting != 2 {
			return errors.New("the second call of a has not started a container")
		}
		return nil
	})
	evicted(t, rt, b.ID, "eviction is at once")
	close(rt.startGate)
	p.Release(<-first)
	got := <-done
	p.Initialized(got.c)
	p.Release(got.c)
}

type acquired struct {
	c     *Container[struct{}]
	start Start
}

// acquireBg acquires r in the background; the caller releases what the
// channel gets, so that nothing of the pool is still in use when the
// test ends.
func acquireBg(t *testing.T, p *Pool[struct{}], r Request) <-chan acquired {
	done := make(chan acquired, 1)
	go func() {
		c, start, err := p.Acquire(context.Background(), r)
		if err != nil {
			t.Error(err)
		}
		done <- acquired{c, start}
	}()
	return done
}

// evicted waits until the runtime no longer holds container id: the pool
// removes an evicted container after it has made room in its books.
func evicted(t *testing.T, rt *fakeRuntime, id, why string) {
	t.Helper()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if slices.Contains(rt.liveIDs(), id) {
			return fmt.Errorf("container %s kept: %s", id, why)
		}
		return nil
	})
}
