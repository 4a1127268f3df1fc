package pool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
)

// planPolicy returns a set plan per key (else keep alive 10 min).
type planPolicy map[string]Plan

func (planPolicy) Arrive(string, time.Time) {}
func (planPolicy) Idle(string, time.Time)   {}
func (pp planPolicy) Plan(key string) Plan {
	if pl, ok := pp[key]; ok {
		return pl
	}
	return Plan{KeepAlive: DefaultIdleTimeout}
}

// warmer records the keys a pool asked to warm.
type warmer struct {
	mu   sync.Mutex
	keys []string
	err  error
}

func (w *warmer) warm(_ context.Context, key string, _ struct{}) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.keys = append(w.keys, key)
	return w.err
}

func (w *warmer) calls() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.keys)
}

// waitStats polls the pool's stats until ok accepts them.
func waitStats(t *testing.T, p *Pool[struct{}], ok func(Stats) bool) Stats {
	t.Helper()
	var s Stats
	testutil.CheckFor(t, 2*time.Second, time.Millisecond, func() error {
		if s = p.Stats(); !ok(s) {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
	return s
}

// waitLive polls until the runtime holds exactly n containers.
func waitLive(t *testing.T, rt *fakeRuntime, n int) {
	t.Helper()
	testutil.CheckFor(t, 2*time.Second, time.Millisecond, func() error {
		if live := rt.liveIDs(); len(live) != n {
			return fmt.Errorf("live %v, want %d", live, n)
		}
		return nil
	})
}

// use runs one activation of key to completion, from a given start.
func use(t *testing.T, p *Pool[struct{}], key string, want Start) *Container[struct{}] {
	t.Helper()
	c := mustAcquire(t, p, req(key, 256, 1), want)
	if want != StartWarm {
		p.Initialized(c)
	}
	p.Release(c)
	return c
}

func TestReleaseAndRewarm(t *testing.T) {
	ctx := context.Background()
	rewarmPlan := Plan{PrewarmAfter: 5 * time.Minute, KeepAlive: 2 * time.Minute}
	tests := []struct {
		name string
		mb   int64
		run  func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock, w *warmer)
	}{
		{"released, re-warmed, hit", 1024, func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock, w *warmer) {
			first := use(t, p, "a", StartCold)
			p.sweep(ctx) // idle, before the re-warm point: released
			waitLive(t, rt, 0)
			clk.add(4 * time.Minute)
			p.sweep(ctx)
			if s := p.Stats(); s.PolicyPrewarms != 0 || len(w.calls()) != 0 {
				t.Fatalf("re-warmed early: %+v", s)
			}
			clk.add(time.Minute)
			p.sweep(ctx)
			s := waitStats(t, p, func(s Stats) bool { return s.PolicyPrewarms == 1 })
			if s.Warm != 1 || s.Expired != 1 || !slices.Equal(w.calls(), []string{"a"}) {
				t.Fatalf("stats %+v, warm calls %v", s, w.calls())
			}
			c := use(t, p, "a", StartWarm)
			if c == first {
				t.Fatal("the released container came back")
			}
			if s := p.Stats(); s.PolicyPrewarmHits != 1 || s.WarmHits != 1 || s.ColdStarts != 1 {
				t.Fatalf("stats %+v after the hit", s)
			}
			p.sweep(ctx) // idle again: released again
			waitLive(t, rt, 0)
		}},
		{"unused prewarm expires once", 1024, func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock, w *warmer) {
			use(t, p, "a", StartCold)
			p.sweep(ctx)
			clk.add(5 * time.Minute)
			p.sweep(ctx)
			waitStats(t, p, func(s Stats) bool { return s.PolicyPrewarms == 1 })
			clk.add(119 * time.Second)
			p.sweep(ctx)
			if s := p.Stats(); s.Warm != 1 {
				t.Fatalf("expired early: %+v", s)
			}
			clk.add(time.Second)
			p.sweep(ctx)
			waitLive(t, rt, 0)
			clk.add(time.Hour)
			p.sweep(ctx)
			if s := p.Stats(); s.PolicyPrewarms != 1 || len(p.keys) != 0 {
				t.Fatalf("stats %+v, keys %d: want one prewarm and the key forgotten", s, len(p.keys))
			}
		}},
		{"container still there at the re-warm point stands in", 1024, func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock, w *warmer) {
			c := use(t, p, "a", StartCold)
			clk.add(5 * time.Minute) // no sweep in between
			p.sweep(ctx)
			if s := p.Stats(); s.Warm != 1 || len(w.calls()) != 0 {
				t.Fatalf("stats %+v, warm calls %v", s, w.calls())
			}
			clk.add(2 * time.Minute)
			p.sweep(ctx)
			waitLive(t, rt, 0)
			if len(w.calls()) != 0 || !slices.Contains(rt.removed, c.ID) {
				t.Fatalf("warm calls %v, removed %v", w.calls(), rt.removed)
			}
		}},
		{"window missed", 1024, func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock, w *warmer) {
			use(t, p, "a", StartCold)
			p.sweep(ctx)
			clk.add(7 * time.Minute)
			p.sweep(ctx)
			if len(w.calls()) != 0 {
				t.Fatalf("re-warmed after the window: %v", w.calls())
			}
		}},
		{"no free memory: no prewarm", 256, func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock, w *warmer) {
			use(t, p, "a", StartCold)
			p.sweep(ctx)
			waitLive(t, rt, 0)
			busy := mustAcquire(t, p, req("b", 256, 1), StartCold)
			clk.add(5 * time.Minute)
			p.sweep(ctx)
			p.wg.Wait() // the prewarm ran and gave up
			if s := p.Stats(); s.PolicyPrewarms != 0 || len(w.calls()) != 0 || s.Evictions != 0 {
				t.Fatalf("stats %+v, warm calls %v", s, w.calls())
			}
			p.Release(busy)
		}},
		{"init failure removes the container", 1024, func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock, w *warmer) {
			w.err = errors.New("code gone")
			use(t, p, "a", StartCold)
			p.sweep(ctx)
			clk.add(5 * time.Minute)
			p.sweep(ctx)
			testutil.CheckFor(t, 2*time.Second, time.Millisecond, func() error {
				if len(w.calls()) != 1 || len(rt.liveIDs()) != 0 || p.Stats().UsedMB != 0 {
					return fmt.Errorf("warm calls %v, live %v, stats %+v", w.calls(), rt.liveIDs(), p.Stats())
				}
				return nil
			})
			if s := p.Stats(); s.PolicyPrewarms != 0 {
				t.Fatalf("stats %+v", s)
			}
		}},
		{"busy key is not released", 1024, func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock, w *warmer) {
			use(t, p, "a", StartCold)
			busy := mustAcquire(t, p, req("a", 256, 1), StartWarm)
			other := mustAcquire(t, p, req("a", 256, 1), StartCold)
			p.Initialized(other)
			p.Release(busy)
			p.sweep(ctx)
			if s := p.Stats(); s.Warm != 2 {
				t.Fatalf("released while the key runs: %+v", s)
			}
			p.Release(other)
			p.sweep(ctx)
			waitLive(t, rt, 0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newFake()
			p, clk := newPool(t, rt, Config{MemoryMB: tt.mb, KeepAlive: planPolicy{"a": rewarmPlan}})
			w := &warmer{}
			p.SetWarm(w.warm)
			tt.run(t, p, rt, clk, w)
		})
	}
}

// TestHistogramInPool replays a periodic action (every 30 s, bins of 1 s:
// a 60× compressed replay of a 30-minute period) through the pool with
// the histogram policy: once learned, each call finds a container the
// policy warmed, and the container is not kept in between.
func TestHistogramInPool(t *testing.T) {
	ctx := context.Background()
	h, err := NewHistogram(HistogramConfig{BinWidth: time.Second, MinSamples: 3, Fallback: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rt := newFake()
	p, clk := newPool(t, rt, Config{MemoryMB: 1024, KeepAlive: h})
	w := &warmer{}
	p.SetWarm(w.warm)

	var starts []Start
	for range 8 {
		c, how, err := p.Acquire(ctx, req("a", 256, 1))
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, how)
		if how != StartWarm {
			p.Initialized(c)
		}
		clk.add(100 * time.Millisecond)
		p.Release(c)
		// Sweep every second of the idle time, as Run would.
		for range 30 {
			clk.add(time.Second)
			p.sweep(ctx)
			p.wg.Wait()
		}
		clk.add(-100 * time.Millisecond)
	}
	// Learning: the fallback keeps 10 s only, so the first calls are cold;
	// from the 4th idle time on (MinSamples 3) the policy re-warms.
	want := []Start{StartCold, StartCold, StartCold, StartCold, StartWarm, StartWarm, StartWarm, StartWarm}
	if !slices.Equal(starts, want) {
		t.Fatalf("starts %v, want %v", starts, want)
	}
	s := p.Stats()
	// The idle period after the last call was re-warmed too.
	if s.PolicyPrewarms != 5 || s.PolicyPrewarmHits != 4 || s.ColdStarts != 4 {
		t.Fatalf("stats %+v", s)
	}
	// Idle times of 29.9 s fall in bin 29: pre-warm at 29 s less 10 %,
	// keep until 30 s plus 10 %.
	if pl, want := h.Plan("a"), (Plan{PrewarmAfter: 26100 * time.Millisecond, KeepAlive: 6900 * time.Millisecond}); pl != want {
		t.Fatalf("plan %+v, want %+v", pl, want)
	}
}

func TestAdaptiveStems(t *testing.T) {
	ctx := context.Background()
	// coldN makes n cold starts of mb and removes the containers again,
	// so that only demand is left behind.
	coldN := func(t *testing.T, p *Pool[struct{}], n int, mb int64) {
		t.Helper()
		used := p.Stats().UsedMB
		for i := range n {
			c, _, err := p.Acquire(ctx, req(fmt.Sprintf("k%d-%d", mb, i), mb, 1))
			if err != nil {
				t.Fatal(err)
			}
			p.Discard(c)
		}
		waitStats(t, p, func(s Stats) bool { return s.UsedMB == used })
	}
	prewarm := func(s Stats) int { return s.Prewarm }
	tests := []struct {
		name string
		cfg  Config
		run  func(t *testing.T, p *Pool[struct{}], clk *clock)
	}{
		{"grows with demand, decays to the floor", Config{MemoryMB: 8192}, func(t *testing.T, p *Pool[struct{}], clk *clock) {
			p.sweep(ctx) // opens the first window
			coldN(t, p, 6, 256)
			p.fill(ctx)
			if s := p.Stats(); s.Prewarm != 1 || s.PrewarmTarget != 1 {
				t.Fatalf("target changed inside a window: %+v", s)
			}
			// EWMA 0.5×6 = 3 → 3 stem cells; then 1.5 → 2, 0.75 → 1, 0.375 → floor 1.
			for _, want := range []int{3, 2, 1, 1} {
				clk.add(time.Minute)
				p.sweep(ctx)
				p.fill(ctx)
				if s := p.Stats(); prewarm(s) != want || s.PrewarmTarget != want {
					t.Fatalf("stem cells %d (target %d), want %d", s.Prewarm, s.PrewarmTarget, want)
				}
			}
		}},
		{"capped per kind and memory", Config{MemoryMB: 8192}, func(t *testing.T, p *Pool[struct{}], clk *clock) {
			p.sweep(ctx)
			coldN(t, p, 20, 256)
			clk.add(time.Minute)
			p.sweep(ctx)
			p.fill(ctx)
			if s := p.Stats(); s.Prewarm != DefaultStemMax {
				t.Fatalf("stats %+v, want %d stem cells", s, DefaultStemMax)
			}
		}},
		{"bounded by the memory fraction", Config{MemoryMB: 2048}, func(t *testing.T, p *Pool[struct{}], clk *clock) {
			p.sweep(ctx)
			coldN(t, p, 20, 256)
			clk.add(time.Minute)
			p.sweep(ctx)
			p.fill(ctx)
			// 25 % of 2048 MB is two 256 MB cells above the floor of one.
			if s := p.Stats(); s.Prewarm != 3 {
				t.Fatalf("stats %+v, want 3 stem cells", s)
			}
		}},
		{"per memory size", Config{MemoryMB: 8192}, func(t *testing.T, p *Pool[struct{}], clk *clock) {
			p.sweep(ctx)
			coldN(t, p, 4, 512)
			clk.add(time.Minute)
			p.sweep(ctx)
			p.fill(ctx)
			if s := p.Stats(); s.Prewarm != 3 {
				t.Fatalf("stats %+v, want the floor of one 256 MB and two 512 MB", s)
			}
			c := mustAcquire(t, p, req("x", 512, 1), StartPrewarm)
			if c.MemoryMB != 512 {
				t.Fatalf("took %d MB", c.MemoryMB)
			}
		}},
		{"fixed", Config{MemoryMB: 8192, Stems: StemConfig{Fixed: true}}, func(t *testing.T, p *Pool[struct{}], clk *clock) {
			p.sweep(ctx)
			coldN(t, p, 6, 256)
			clk.add(time.Minute)
			p.sweep(ctx)
			p.fill(ctx)
			if s := p.Stats(); s.Prewarm != 1 {
				t.Fatalf("stats %+v, want the fixed one", s)
			}
		}},
		{"kind not listed", Config{MemoryMB: 8192, Prewarm: []PrewarmSpec{}}, func(t *testing.T, p *Pool[struct{}], clk *clock) {
			p.sweep(ctx)
			coldN(t, p, 6, 256)
			clk.add(time.Minute)
			p.sweep(ctx)
			p.fill(ctx)
			if s := p.Stats(); s.Prewarm != 0 {
				t.Fatalf("stats %+v, want no stem cells", s)
			}
		}},
		{"floor of zero adapts", Config{MemoryMB: 8192, Prewarm: []PrewarmSpec{{Kind: "go", MemoryMB: 256}}}, func(t *testing.T, p *Pool[struct{}], clk *clock) {
			p.sweep(ctx)
			coldN(t, p, 2, 256)
			clk.add(time.Minute)
			p.sweep(ctx)
			p.fill(ctx)
			if s := p.Stats(); s.Prewarm != 1 {
				t.Fatalf("stats %+v, want one stem cell", s)
			}
			clk.add(2 * time.Minute)
			p.sweep(ctx)
			if s := p.Stats(); s.Prewarm != 0 {
				t.Fatalf("stats %+v, want none after demand stopped", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Prewarm == nil {
				tt.cfg.Prewarm = []PrewarmSpec{{Kind: "go", MemoryMB: 256, Count: 1}}
			}
			p, clk := newPool(t, newFake(), tt.cfg)
			tt.run(t, p, clk)
		})
	}
}

func TestCounters(t *testing.T) {
	rt := newFake()
	p, clk := newPool(t, rt, Config{MemoryMB: 512, Prewarm: []PrewarmSpec{{Kind: "go", MemoryMB: 256, Count: 1}}})
	p.fill(context.Background()) // 256 MB from t=0
	clk.add(10 * time.Second)
	a := use(t, p, "a", StartPrewarm) // 256 MB; the refill takes the other 256
	p.fill(context.Background())
	clk.add(10 * time.Second)
	use(t, p, "a", StartWarm)
	clk.add(time.Second) // b is more recent than a
	use(t, p, "b", StartPrewarm)
	use(t, p, "c", StartCold) // evicts a (least recently used)
	if !slices.Contains(rt.removed, a.ID) {
		t.Fatalf("removed %v, want %s evicted", rt.removed, a.ID)
	}
	clk.add(10 * time.Second)
	s := p.Stats()
	want := Stats{MemoryMB: 512, UsedMB: 512, Warm: 2, PrewarmTarget: 1,
		ColdStarts: 1, PrewarmStarts: 2, WarmHits: 1, Evictions: 1,
		MemoryMBSeconds: 256*10 + 512*10 + 512*1 + 512*10}
	if s != want {
		t.Fatalf("stats\n %+v, want\n %+v", s, want)
	}
}
