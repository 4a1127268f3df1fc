package pool

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
	"github.com/flurryfn/flurry/invoker/container"
)

// freezingRuntime is a fakeRuntime that can freeze containers, and
// counts what the pool asked of it.
type freezingRuntime struct {
	*fakeRuntime
	fmu            sync.Mutex
	frozen         map[string]bool
	freezes, thaws int
	removedFrozen  int // Removes of a frozen container
}

var _ container.Freezer = (*freezingRuntime)(nil)

func (f *freezingRuntime) Freeze(_ context.Context, id string) error {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	f.frozen[id] = true
	f.freezes++
	return nil
}

func (f *freezingRuntime) Thaw(_ context.Context, id string) error {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	if !f.frozen[id] {
		return errors.New("thaw of a container that is not frozen")
	}
	delete(f.frozen, id)
	f.thaws++
	return nil
}

func (f *freezingRuntime) Remove(ctx context.Context, id string) error {
	f.fmu.Lock()
	if f.frozen[id] {
		f.removedFrozen++
		delete(f.frozen, id)
	}
	f.fmu.Unlock()
	return f.fakeRuntime.Remove(ctx, id)
}

func (f *freezingRuntime) isFrozen(id string) bool {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	return f.frozen[id]
}

func (f *freezingRuntime) counts() (freezes, thaws, removedFrozen int) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	return f.freezes, f.thaws, f.removedFrozen
}

func newFreezingPool(t *testing.T, grace time.Duration) (*Pool[struct{}], *freezingRuntime) {
	t.Helper()
	rt := &freezingRuntime{fakeRuntime: newFake(), frozen: map[string]bool{}}
	p, err := New[struct{}](rt, Config{InvokerID: "inv", MemoryMB: 1024, Images: map[string]string{"go": "img-go"},
		QueueWait: -1, FreezeGrace: grace}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return p, rt
}

// An idle container is frozen after the grace, thawed before the next
// Acquire hands it out, and removed frozen.
func TestFreezeIdleAfterGrace(t *testing.T) {
	p, rt := newFreezingPool(t, 20*time.Millisecond)
	c := mustAcquire(t, p, req("a@1", 128, 1), StartCold)
	p.Initialized(c)
	p.Release(c)
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if !rt.isFrozen(c.ID) {
			return errors.New("idle container not frozen")
		}
		return nil
	})
	again := mustAcquire(t, p, req("a@1", 128, 1), StartWarm)
	if again != c || rt.isFrozen(c.ID) {
		t.Fatalf("warm Acquire got %s (frozen %v), want %s thawed", again.ID, rt.isFrozen(c.ID), c.ID)
	}
	p.Release(again)
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if !rt.isFrozen(c.ID) {
			return errors.New("idle container not frozen again")
		}
		return nil
	})
	p.Close(context.Background())
	if f, th, rf := rt.counts(); f != 2 || th != 1 || rf != 1 {
		t.Errorf("freezes %d thaws %d removes of a frozen container %d, want 2 1 1", f, th, rf)
	}
}

// A container serving a stream of activations, each arriving within the
// grace of the last, is never frozen; stem cells never are.
func TestNoFreezeWhileBusy(t *testing.T) {
	// The grace is long enough that a loaded machine's stall between two
	// calls does not pass for idleness; the stream outlasts it.
	p, rt := newFreezingPool(t, time.Second)
	defer p.Close(context.Background())
	c := mustAcquire(t, p, req("a@1", 128, 1), StartCold)
	p.Initialized(c)
	p.Release(c)
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		c := mustAcquire(t, p, req("a@1", 128, 1), StartWarm)
		p.Release(c)
	}
	if f, _, _ := rt.counts(); f != 0 {
		t.Errorf("%d freezes during a stream of activations", f)
	}
}

// Freezing off (negative grace) or a runtime without the ability: no
// freezer.
func TestFreezerOf(t *testing.T) {
	frt := &freezingRuntime{fakeRuntime: newFake(), frozen: map[string]bool{}}
	tests := []struct {
		name  string
		rt    container.Runtime
		grace time.Duration
		want  bool
	}{
		{"freezer", frt, DefaultFreezeGrace, true},
		{"off", frt, -1, false},
		{"no ability", newFake(), DefaultFreezeGrace, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := freezerOf(tt.rt, tt.grace) != nil; got != tt.want {
				t.Errorf("freezerOf = %v, want %v", got, tt.want)
			}
		})
	}
}

// A container serves only requests of the network policy it was started
// with: a namespace whose policy changed gets a new container and its
// idle one of the old policy goes; a stem cell (default) serves no
// "none" request.
func TestNetworkPolicyKeysContainers(t *testing.T) {
	rt := newFake()
	p, _ := newPool(t, rt, Config{MemoryMB: 1024, Prewarm: []PrewarmSpec{{Kind: "go", MemoryMB: 128, Count: 1}}})
	p.fill(context.Background())
	none := req("a@1", 128, 1)
	none.Network = container.NetworkNone
	c := mustAcquire(t, p, none, StartCold) // not the stem cell
	if c.Network != container.NetworkNone || rt.started[len(rt.started)-1].Network != container.NetworkNone {
		t.Fatalf("started with network %q (spec %q), want none", c.Network, rt.started[len(rt.started)-1].Network)
	}
	p.Initialized(c)
	p.Release(c)
	d := mustAcquire(t, p, req("a@1", 128, 1), StartPrewarm) // default: the stem cell
	if d == c {
		t.Fatal("a container without network served a default request")
	}
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		for _, id := range rt.liveIDs() {
			if id == c.ID {
				return errors.New("the idle container of the old policy is still there")
			}
		}
		return nil
	})
	p.Initialized(d)
	p.Release(d)
	// Back to none while d is busy: d goes when released.
	busy := mustAcquire(t, p, req("a@1", 128, 1), StartWarm)
	e := mustAcquire(t, p, none, StartCold)
	p.Release(busy)
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		for _, id := range rt.liveIDs() {
			if id == busy.ID {
				return errors.New("the busy container of the old policy stayed after its release")
			}
		}
		return nil
	})
	p.Initialized(e)
	p.Release(e)
}
