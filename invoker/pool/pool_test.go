package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
	"github.com/flurryfn/flurry/invoker/container"
)

// fakeRuntime is an in-memory container.Runtime.
type fakeRuntime struct {
	mu      sync.Mutex
	seq     int
	live    map[string]container.Spec
	started []container.Spec
	removed []string
	failImg string // Start fails for this image
	// startGate, when set, holds every Start until it is closed.
	startGate chan struct{}
}

var _ container.Runtime = (*fakeRuntime)(nil)

func newFake() *fakeRuntime { return &fakeRuntime{live: map[string]container.Spec{}} }

func (f *fakeRuntime) Name() string { return "fake" }

func (f *fakeRuntime) Start(_ context.Context, s container.Spec) (*container.Container, error) {
	f.mu.Lock()
	gate := f.startGate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.Image == f.failImg {
		return nil, errors.New("no such image")
	}
	f.seq++
	id := fmt.Sprintf("c%d", f.seq)
	f.live[id] = s
	f.started = append(f.started, s)
	return &container.Container{ID: id, Addr: "127.0.0.1:1",
		Stdout: io.NopCloser(strings.NewReader("")), Stderr: io.NopCloser(strings.NewReader(""))}, nil
}

func (f *fakeRuntime) Remove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.live[id]; !ok {
		return container.ErrNotFound
	}
	delete(f.live, id)
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeRuntime) List(_ context.Context, labels map[string]string) ([]container.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []container.Info
	for id, s := range f.live {
		match := true
		for k, v := range labels {
			if s.Labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, container.Info{ID: id, Name: s.Name, Labels: maps.Clone(s.Labels)})
		}
	}
	return out, nil
}

func (f *fakeRuntime) liveIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.live))
}

// clock is a settable time source for idle expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newPool(t *testing.T, rt *fakeRuntime, cfg Config) (*Pool[struct{}], *clock) {
	t.Helper()
	if cfg.InvokerID == "" {
		cfg.InvokerID = "inv/1"
	}
	if cfg.Images == nil {
		cfg.Images = map[string]string{"go": "img-go"}
	}
	if cfg.QueueWait == 0 {
		// Off unless a test is about queueing: a wait for a busy
		// container ends by the pool's clock, which tests hold still.
		cfg.QueueWait = -1
	}
	p, err := New[struct{}](rt, cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Unix(1000, 0)}
	p.now = clk.now
	t.Cleanup(func() {
		checkIndex(t, p)
		p.Close(context.Background())
	})
	return p, clk
}

// checkIndex fails t unless byKey lists each container of the pool once,
// under its key.
func checkIndex(t *testing.T, p *Pool[struct{}]) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for key, cs := range p.byKey {
		n += len(cs)
		for _, c := range cs {
			if c.key != key || p.all[c.ID] != c {
				t.Errorf("container %s (key %q) indexed under %q", c.ID, c.key, key)
			}
		}
	}
	if n != len(p.all) {
		t.Errorf("index holds %d containers, the pool %d", n, len(p.all))
	}
}

func req(key string, mb int64, conc int) Request {
	return Request{Key: key, Kind: "go", Image: "img-go", MemoryMB: mb, Concurrency: conc}
}

// acquireAsync acquires r in the background, sends the start to done and
// releases the container.
func acquireAsync(t *testing.T, p *Pool[struct{}], r Request, done chan<- Start) {
	go func() {
		c, start, err := p.Acquire(context.Background(), r)
		if err != nil {
			t.Error(err)
			done <- ""
			return
		}
		done <- start
		p.Release(c)
	}()
}

// startGated holds rt's starts until rt.startGate is closed, begins a
// cold Acquire of r in the background and returns once its start is under
// way; the channel gets the container when the gate opens.
func startGated(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, r Request) <-chan *Container[struct{}] {
	t.Helper()
	rt.mu.Lock()
	rt.startGate = make(chan struct{})
	rt.mu.Unlock()
	first := make(chan *Container[struct{}], 1)
	go func() { first <- mustAcquire(t, p, r, StartCold) }()
	awaitKey(t, p, r.Key, func(ks *keyState) error {
		if ks.starting != 1 {
			return errors.New("the first start has not begun")
		}
		return nil
	})
	return first
}

// awaitKey waits until want accepts key's state.
func awaitKey(t *testing.T, p *Pool[struct{}], key string, want func(ks *keyState) error) {
	t.Helper()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		ks := p.keys[key]
		if ks == nil {
			return fmt.Errorf("key %s not known yet", key)
		}
		return want(ks)
	})
}

func mustAcquire(t *testing.T, p *Pool[struct{}], r Request, want Start) *Container[struct{}] {
	t.Helper()
	c, start, err := p.Acquire(context.Background(), r)
	if err != nil {
		t.Fatalf("acquire %s: %v", r.Key, err)
	}
	if start != want {
		t.Fatalf("acquire %s: start %s, want %s", r.Key, start, want)
	}
	return c
}

func TestAcquire(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock)
	}{
		{"warm reuse", func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock) {
			c1 := mustAcquire(t, p, req("a", 256, 1), StartCold)
			p.Initialized(c1)
			p.Release(c1)
			c2 := mustAcquire(t, p, req("a", 256, 1), StartWarm)
			if c1 != c2 {
				t.Fatalf("warm acquire gave %s, want %s", c2.ID, c1.ID)
			}
			// Busy with concurrency 1: a second one is started.
			c3 := mustAcquire(t, p, req("a", 256, 1), StartCold)
			if c3 == c1 {
				t.Fatal("busy container reused")
			}
			// A different revision never shares.
			mustAcquire(t, p, req("b", 256, 1), StartCold)
		}},
		{"uninitialized is not warm", func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock) {
			c1 := mustAcquire(t, p, req("a", 256, 2), StartCold)
			c2 := mustAcquire(t, p, req("a", 256, 2), StartCold)
			if c1 == c2 {
				t.Fatal("container reused before /init finished")
			}
			p.Release(c1) // never initialized: removed
			testutil.CheckFor(t, time.Second, time.Millisecond, func() error {
				if slices.Contains(rt.liveIDs(), c1.ID) {
					return fmt.Errorf("%s still live", c1.ID)
				}
				return nil
			})
		}},
		{"concurrency", func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock) {
			c1 := mustAcquire(t, p, req("a", 256, 3), StartCold)
			p.Initialized(c1)
			for range 2 {
				if c := mustAcquire(t, p, req("a", 256, 3), StartWarm); c != c1 {
					t.Fatalf("got %s, want shared %s", c.ID, c1.ID)
				}
			}
			if s := p.Stats(); s.Busy != 3 || s.Warm != 1 {
				t.Fatalf("stats %+v, want 3 busy in 1 warm", s)
			}
			if c := mustAcquire(t, p, req("a", 256, 3), StartCold); c == c1 {
				t.Fatal("container over its concurrency")
			}
			p.Release(c1)
			if c := mustAcquire(t, p, req("a", 256, 3), StartWarm); c != c1 {
				t.Fatalf("got %s, want %s after a slot freed", c.ID, c1.ID)
			}
		}},
		{"prewarm take and refill", func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock) {
			p.fill(context.Background())
			if s := p.Stats(); s.Prewarm != 1 {
				t.Fatalf("stats %+v, want 1 stem cell", s)
			}
			stem := rt.liveIDs()[0]
			// Other memory: no stem cell.
			mustAcquire(t, p, req("big", 512, 1), StartCold)
			c := mustAcquire(t, p, req("a", 256, 1), StartPrewarm)
			if c.ID != stem {
				t.Fatalf("took %s, want stem cell %s", c.ID, stem)
			}
			select {
			case <-p.refill:
			default:
				t.Fatal("taking a stem cell did not ask for a refill")
			}
			p.fill(context.Background())
			if s := p.Stats(); s.Prewarm != 1 || s.Warm != 2 {
				t.Fatalf("stats %+v, want 1 stem cell and 2 warm", s)
			}
		}},
		{"LRU eviction under budget", func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock) {
			var cs []*Container[struct{}]
			for _, k := range []string{"a", "b", "c", "d"} {
				c := mustAcquire(t, p, req(k, 256, 1), StartCold)
				p.Initialized(c)
				cs = append(cs, c)
				clk.add(time.Second)
			}
			// Budget 1024 is full. Use b, c, d again, in that order, so a is LRU.
			for _, c := range cs {
				p.Release(c)
			}
			for _, k := range []string{"b", "c", "d"} {
				clk.add(time.Second)
				p.Release(mustAcquire(t, p, req(k, 256, 1), StartWarm))
			}
			mustAcquire(t, p, req("e", 256, 1), StartCold)
			if slices.Contains(rt.liveIDs(), cs[0].ID) {
				t.Fatalf("LRU container %s not evicted; live %v", cs[0].ID, rt.liveIDs())
			}
			if s := p.Stats(); s.UsedMB != 1024 || s.Warm != 4 {
				t.Fatalf("stats %+v", s)
			}
			// A 512 MB request evicts the two least recent (b, c).
			mustAcquire(t, p, req("f", 512, 1), StartCold)
			live := rt.liveIDs()
			if slices.Contains(live, cs[1].ID) || slices.Contains(live, cs[2].ID) || !slices.Contains(live, cs[3].ID) {
				t.Fatalf("live %v after 512 MB eviction", live)
			}
		}},
		{"wait for capacity", func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock) {
			var busy []*Container[struct{}]
			for _, k := range []string{"a", "b", "c", "d"} {
				c := mustAcquire(t, p, req(k, 256, 1), StartCold)
				p.Initialized(c)
				busy = append(busy, c)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if _, _, err := p.Acquire(ctx, req("e", 256, 1)); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("acquire with a full budget of busy containers: %v", err)
			}
			got := make(chan Start, 1)
			go func() {
				_, s, err := p.Acquire(context.Background(), req("e", 256, 1))
				if err != nil {
					t.Error(err)
				}
				got <- s
			}()
			p.Release(busy[0])
			if s := <-got; s != StartCold {
				t.Fatalf("start %s after waiting", s)
			}
		}},
		{"too large", func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock) {
			if _, _, err := p.Acquire(context.Background(), req("a", 2048, 1)); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err %v, want ErrTooLarge", err)
			}
		}},
		{"idle eviction", func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock) {
			idle := mustAcquire(t, p, req("a", 256, 1), StartCold)
			p.Initialized(idle)
			p.Release(idle)
			busy := mustAcquire(t, p, req("b", 256, 1), StartCold)
			p.Initialized(busy)
			clk.add(9 * time.Minute)
			p.sweep(context.Background())
			if s := p.Stats(); s.Warm != 2 {
				t.Fatalf("expired early: %+v", s)
			}
			clk.add(time.Minute)
			p.sweep(context.Background())
			testutil.CheckFor(t, time.Second, time.Millisecond, func() error {
				if live := rt.liveIDs(); !slices.Equal(live, []string{busy.ID}) {
					return fmt.Errorf("live %v, want only the busy %s", live, busy.ID)
				}
				return nil
			})
		}},
		{"discard", func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock) {
			c := mustAcquire(t, p, req("a", 256, 1), StartCold)
			p.Initialized(c)
			p.Discard(c)
			testutil.CheckFor(t, time.Second, time.Millisecond, func() error {
				if s := p.Stats(); s.UsedMB != 0 || len(rt.liveIDs()) != 0 {
					return fmt.Errorf("stats %+v live %v", s, rt.liveIDs())
				}
				return nil
			})
			mustAcquire(t, p, req("a", 256, 1), StartCold)
		}},
		{"start failure frees the reservation", func(t *testing.T, p *Pool[struct{}], rt *fakeRuntime, clk *clock) {
			r := req("a", 256, 1)
			r.Image = "broken"
			rt.failImg = "broken"
			if _, _, err := p.Acquire(context.Background(), r); err == nil {
				t.Fatal("no error from a failing start")
			}
			if s := p.Stats(); s.UsedMB != 0 {
				t.Fatalf("stats %+v after failed start", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newFake()
			cfg := Config{MemoryMB: 1024}
			if strings.HasPrefix(tt.name, "prewarm") {
				cfg.Prewarm = []PrewarmSpec{{Kind: "go", MemoryMB: 256, Count: 1}}
			}
			p, clk := newPool(t, rt, cfg)
			tt.run(t, p, rt, clk)
		})
	}
}

func TestLabelsAndLeftovers(t *testing.T) {
	rt := newFake()
	mine, _ := newPool(t, rt, Config{InvokerID: "one", MemoryMB: 1024})
	other, _ := newPool(t, rt, Config{InvokerID: "two", MemoryMB: 1024})
	a := mustAcquire(t, mine, req("a", 256, 1), StartCold)
	b := mustAcquire(t, other, req("a", 256, 1), StartCold)

	s := rt.started[0]
	if s.Labels[container.LabelManaged] != "true" || s.Labels[container.LabelInvoker] != "one" || s.Labels[container.LabelKind] != "go" {
		t.Fatalf("labels %v", s.Labels)
	}
	if s.MemoryBytes != 256<<20 || s.Image != "img-go" {
		t.Fatalf("spec %+v", s)
	}

	// A restart of "one" removes only its own containers.
	restarted, _ := newPool(t, rt, Config{InvokerID: "one", MemoryMB: 1024})
	removeLeftovers(t, restarted, false)
	if live := rt.liveIDs(); !slices.Equal(live, []string{b.ID}) {
		t.Fatalf("live %v, want only %s (not %s)", live, b.ID, a.ID)
	}
	removeLeftovers(t, restarted, true)
	if live := rt.liveIDs(); len(live) != 0 {
		t.Fatalf("live %v after removing all managed", live)
	}
}

func removeLeftovers(t *testing.T, p *Pool[struct{}], all bool) {
	t.Helper()
	infos, err := p.Leftovers(context.Background(), all)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveLeftovers(context.Background(), infos); err != nil {
		t.Fatal(err)
	}
}

// A restarted invoker removes its previous run's containers while it
// starts its own: what Leftovers listed is removed, nothing started after
// it, and the new names do not collide with the old ones.
func TestLeftoversRemovedBesideNewContainers(t *testing.T) {
	rt := newFake()
	old, _ := newPool(t, rt, Config{InvokerID: "one", MemoryMB: 1024})
	a := mustAcquire(t, old, req("a", 256, 1), StartCold)

	restarted, _ := newPool(t, rt, Config{InvokerID: "one", MemoryMB: 1024})
	infos, err := restarted.Leftovers(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	b := mustAcquire(t, restarted, req("a", 256, 1), StartCold)
	if rt.started[0].Name == rt.started[1].Name {
		t.Fatalf("both runs named a container %q", rt.started[0].Name)
	}
	if err := restarted.RemoveLeftovers(context.Background(), infos); err != nil {
		t.Fatal(err)
	}
	if live := rt.liveIDs(); !slices.Equal(live, []string{b.ID}) {
		t.Fatalf("live %v, want only the new %s (not %s)", live, b.ID, a.ID)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := restarted.RemoveLeftovers(ctx, []container.Info{{ID: b.ID}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("removal after ctx end: %v, want context.Canceled", err)
	}
}

func TestRunFillsAndClose(t *testing.T) {
	rt := newFake()
	p, _ := newPool(t, rt, Config{MemoryMB: 1024, Prewarm: []PrewarmSpec{{Kind: "go", MemoryMB: 256, Count: 2}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	testutil.CheckFor(t, 2*time.Second, time.Millisecond, func() error {
		if s := p.Stats(); s.Prewarm != 2 || s.UsedMB != 512 {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
	cancel()
	<-done
	p.Close(context.Background())
	if live := rt.liveIDs(); len(live) != 0 {
		t.Fatalf("live %v after Close", live)
	}
	if _, _, err := p.Acquire(context.Background(), req("a", 256, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("acquire after close: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"ok", Config{InvokerID: "i", MemoryMB: 512, Images: map[string]string{"go": "x"}, Prewarm: []PrewarmSpec{{"go", 256, 2}}}, true},
		{"no id", Config{MemoryMB: 512}, false},
		{"no budget", Config{InvokerID: "i"}, false},
		{"prewarm without image", Config{InvokerID: "i", MemoryMB: 512, Prewarm: []PrewarmSpec{{"go", 256, 1}}}, false},
		{"prewarm over budget", Config{InvokerID: "i", MemoryMB: 512, Images: map[string]string{"go": "x"}, Prewarm: []PrewarmSpec{{"go", 256, 3}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestLoaded: a request with Loaded takes an idle container initialized
// for the loaded key before starting one (an app's endpoints, ADR 010),
// and Prewarm refills such containers from free memory.
func TestLoaded(t *testing.T) {
	rt := newFake()
	p, _ := newPool(t, rt, Config{MemoryMB: 1024})
	var warmed []string
	var mu sync.Mutex
	gate := make(chan struct{}) // holds the prewarm under way
	p.SetWarm(func(_ context.Context, key string, _ struct{}) error {
		<-gate
		mu.Lock()
		warmed = append(warmed, key)
		mu.Unlock()
		return nil
	})
	ctx := context.Background()

	loaded := mustAcquire(t, p, req("app#", 128, 1), StartCold)
	p.Initialized(loaded)
	p.Release(loaded)

	other := req("app#cart", 256, 1)
	other.Loaded = "app#"
	c := mustAcquire(t, p, other, StartCold) // the loaded one has another size
	p.Initialized(c)
	p.Release(c)

	r := req("app#index", 128, 1)
	r.Loaded = "app#"
	c = mustAcquire(t, p, r, StartLoaded)
	if c.ID != loaded.ID {
		t.Fatalf("took %s, want the loaded container %s", c.ID, loaded.ID)
	}
	p.Release(c)
	if got := mustAcquire(t, p, r, StartWarm); got.ID != loaded.ID {
		t.Errorf("second request took %s, want the now-specialized %s", got.ID, loaded.ID)
	} else {
		p.Release(got)
	}
	items := req("app#item", 128, 1)
	items.Loaded = "app#"
	c = mustAcquire(t, p, items, StartCold) // no loaded container left
	p.Initialized(c)
	p.Release(c)

	p.Prewarm(ctx, req("app#", 128, 1))
	p.Prewarm(ctx, req("app#", 128, 1)) // one is under way: no second
	close(gate)
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if s := p.Stats(); s.PolicyPrewarms != 1 {
			return fmt.Errorf("%d prewarms", s.PolicyPrewarms)
		}
		return nil
	})
	mu.Lock()
	if !slices.Equal(warmed, []string{"app#"}) {
		t.Errorf("warmed %q, want one app#", warmed)
	}
	mu.Unlock()
	more := req("app#more", 128, 1)
	more.Loaded = "app#"
	mustAcquire(t, p, more, StartLoaded)
}

// TestQueueForBusyWarm: an activation of a short action whose warm
// container is busy waits for it rather than starting one, and one more
// container is started in the background (ADR 011).
func TestQueueForBusyWarm(t *testing.T) {
	rt := newFake()
	p, clk := newPool(t, rt, Config{MemoryMB: 1024, QueueWait: 5 * time.Second})
	p.SetWarm(func(context.Context, string, struct{}) error { return nil })
	c := mustAcquire(t, p, req("a", 128, 1), StartCold)
	p.Initialized(c)
	clk.add(time.Second) // the cold run stands in until a warm run is known
	p.Release(c)
	c = mustAcquire(t, p, req("a", 128, 1), StartWarm)
	clk.add(2 * time.Millisecond) // a warm run replaces it: avgRun = 2 ms
	p.Release(c)

	busy := mustAcquire(t, p, req("a", 128, 1), StartWarm)
	type got struct {
		c     *Container[struct{}]
		start Start
	}
	done := make(chan got, 2)
	acquire := func() {
		c, start, err := p.Acquire(context.Background(), req("a", 128, 1))
		if err != nil {
			t.Error(err)
		}
		done <- got{c, start}
	}
	// releaseQueued frees busy and checks that both queued acquires got
	// a warm container.
	releaseQueued := func(busy *Container[struct{}]) {
		t.Helper()
		p.Release(busy)
		for range 2 {
			g := <-done
			if g.start != StartWarm {
				t.Fatalf("queued acquire: %s, want warm", g.start)
			}
			p.Release(g.c)
		}
	}
	// One waiter is a collision: it waits, nothing is started.
	go acquire()
	time.Sleep(50 * time.Millisecond)
	if s := p.Stats(); s.ScaleOuts != 0 || s.ColdStarts != 1 {
		t.Fatalf("one waiter: scale-outs %d, cold starts %d; want 0 and 1", s.ScaleOuts, s.ColdStarts)
	}
	// Two waiters for one slot of a 2 ms action are a collision too: they
	// are served within 4 ms.
	go acquire()
	time.Sleep(50 * time.Millisecond)
	if s := p.Stats(); s.ScaleOuts != 0 {
		t.Fatalf("two short waiters: %d scale-outs, want 0", s.ScaleOuts)
	}
	releaseQueued(busy)

	// Runs of seconds arriving faster than they finish fill the slot:
	// two waiters are a backlog and one more container starts.
	c = mustAcquire(t, p, req("a", 128, 1), StartWarm)
	clk.add(10 * time.Second) // avgRun moves towards seconds
	p.Release(c)
	busy = mustAcquire(t, p, req("a", 128, 1), StartWarm)
	go acquire()
	go acquire()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if s := p.Stats(); s.ScaleOuts != 1 {
			return fmt.Errorf("scale-outs %d, want 1", s.ScaleOuts)
		}
		return nil
	})
	releaseQueued(busy)
	if s := p.Stats(); s.ColdStarts != 1 {
		t.Errorf("%d cold starts, want 1", s.ColdStarts)
	}

	// An action with long runs starts a container instead of waiting.
	long := mustAcquire(t, p, req("slow", 128, 1), StartCold)
	p.Initialized(long)
	p.Release(long)
	long = mustAcquire(t, p, req("slow", 128, 1), StartWarm)
	clk.add(30 * time.Second)
	p.Release(long)
	held := mustAcquire(t, p, req("slow", 128, 1), StartWarm)
	mustAcquire(t, p, req("slow", 128, 1), StartCold)
	p.Release(held)
}

// TestQueueAfterFirstRun: calls that collide after an action's first
// (cold) run, before any warm one, wait for its container instead of
// each starting one (as they did when only warm runs were measured).
func TestQueueAfterFirstRun(t *testing.T) {
	p, clk := newPool(t, newFake(), Config{MemoryMB: 1024, QueueWait: DefaultQueueWait})
	c := mustAcquire(t, p, req("a", 128, 1), StartCold)
	clk.add(400 * time.Millisecond) // /init
	p.Initialized(c)
	clk.add(3 * time.Millisecond) // the first run
	p.Release(c)

	busy := mustAcquire(t, p, req("a", 128, 1), StartWarm)
	done := make(chan Start, 1)
	acquireAsync(t, p, req("a", 128, 1), done)
	time.Sleep(50 * time.Millisecond)
	p.Release(busy)
	if start := <-done; start != StartWarm {
		t.Fatalf("collision after the first run: %s, want warm", start)
	}
	if s := p.Stats(); s.ColdStarts != 1 {
		t.Fatalf("%d cold starts, want 1", s.ColdStarts)
	}

	// Without a known run (the first call still initializing) a
	// collision waits for the container being initialized too.
	first := mustAcquire(t, p, req("b", 128, 1), StartCold)
	acquireAsync(t, p, req("b", 128, 1), done)
	time.Sleep(50 * time.Millisecond)
	p.Initialized(first)
	clk.add(3 * time.Millisecond)
	p.Release(first)
	if start := <-done; start != StartWarm {
		t.Fatalf("collision during the first /init: %s, want warm", start)
	}
	if s := p.Stats(); s.ColdStarts != 2 {
		t.Fatalf("%d cold starts, want 2 (one per action)", s.ColdStarts)
	}
}

// TestQueueForStartingContainer: calls for an action whose first
// container is still starting wait for it instead of starting their own;
// once the wait has lasted as long as a start would, they start one.
func TestQueueForStartingContainer(t *testing.T) {
	rt := newFake()
	p, clk := newPool(t, rt, Config{MemoryMB: 1024, QueueWait: time.Hour})
	first := startGated(t, p, rt, req("a", 128, 1))
	done := make(chan Start, 2)
	for range 2 {
		acquireAsync(t, p, req("a", 128, 1), done)
	}
	time.Sleep(50 * time.Millisecond)
	close(rt.startGate)
	c := <-first
	p.Initialized(c)
	clk.add(2 * time.Millisecond)
	p.Release(c)
	for range 2 {
		if start := <-done; start != StartWarm {
			t.Fatalf("call during the first start: %s, want warm", start)
		}
	}
	if s := p.Stats(); s.ColdStarts != 1 {
		t.Fatalf("%d cold starts, want 1", s.ColdStarts)
	}
}

// TestQueueOutlastsSlowStart: a call waiting for its action's first
// container keeps waiting while the runtime still starts it, past
// QueueWait and the average start time (which lag when starts slow down);
// a start of its own would not be ready sooner.
func TestQueueOutlastsSlowStart(t *testing.T) {
	rt := newFake()
	p, clk := newPool(t, rt, Config{MemoryMB: 1024, QueueWait: 10 * time.Millisecond})
	first := startGated(t, p, rt, req("a", 128, 1))
	done := make(chan Start, 1)
	acquireAsync(t, p, req("a", 128, 1), done)
	awaitKey(t, p, "a", func(ks *keyState) error {
		if ks.waiting != 1 {
			return errors.New("the second call does not wait yet")
		}
		return nil
	})
	// The start takes far longer than QueueWait: the waiter's timer fires
	// several times with its deadline passed.
	clk.add(time.Second)
	time.Sleep(100 * time.Millisecond)
	p.mu.Lock()
	starting := p.keys["a"].starting
	p.mu.Unlock()
	if starting != 1 {
		t.Fatalf("%d starts in progress after the wait's deadline passed, want 1 (the waiter started its own)", starting)
	}
	close(rt.startGate)
	c := <-first
	p.Initialized(c)
	clk.add(2 * time.Millisecond)
	p.Release(c)
	if start := <-done; start != StartWarm {
		t.Fatalf("call during the slow start: %s, want warm", start)
	}
	if s := p.Stats(); s.ColdStarts != 1 {
		t.Fatalf("%d cold starts, want 1", s.ColdStarts)
	}
}

func TestMeasureRun(t *testing.T) {
	ms := time.Millisecond
	var ks keyState
	ks.measureRun(40*ms, true)
	if ks.avgRun != 40*ms || ks.floorRun != 0 {
		t.Fatalf("after the first run: avgRun %v floorRun %v, want 40ms and none", ks.avgRun, ks.floorRun)
	}
	ks.measureRun(2*ms, false)
	if ks.avgRun != 2*ms || ks.floorRun != 2*ms {
		t.Fatalf("after the first warm run: avgRun %v floorRun %v, want 2ms and 2ms", ks.avgRun, ks.floorRun)
	}
	ks.measureRun(40*ms, true) // a later container's first run: warm runs are known
	ks.measureRun(7*ms, false)
	if ks.avgRun != 3*ms {
		t.Fatalf("avgRun %v, want 3ms (2 ms and 7 ms averaged, the first run ignored)", ks.avgRun)
	}
	ks.measureRun(-ms, false)
	if ks.avgRun != 3*ms {
		t.Fatalf("a negative run moved avgRun to %v", ks.avgRun)
	}
}

func TestBackloggedUnderContention(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name              string
		avgRun, floorRun  time.Duration
		avgGap            time.Duration
		slots             int
		contended, wanted bool
	}{
		{"quiet host, runs fill the slot", 25 * ms, 1 * ms, 25 * ms, 1, false, true},
		{"contended host, 1 ms action slowed to 25 ms", 25 * ms, 1 * ms, 25 * ms, 1, true, false},
		{"contended host, action that really takes 100 ms", 110 * ms, 100 * ms, 50 * ms, 1, true, true},
		{"contended host, no floor yet", 25 * ms, 0, 25 * ms, 1, true, true},
		{"quiet host, load under 80 %", 7 * ms, 7 * ms, 10 * ms, 1, false, false},
		{"two slots", 15 * ms, 15 * ms, 10 * ms, 2, false, false},
		{"burst", 1 * ms, 1 * ms, 0, 4, true, true},
	}
	for _, c := range cases {
		ks := &keyState{avgRun: c.avgRun, floorRun: c.floorRun, avgGap: c.avgGap}
		if got := ks.backlogged(c.slots, c.contended); got != c.wanted {
			t.Errorf("%s: backlogged = %v, want %v", c.name, got, c.wanted)
		}
	}
}

func TestFloorFollowsShortestRuns(t *testing.T) {
	ms := time.Millisecond
	f := time.Duration(0)
	for _, d := range []time.Duration{20 * ms, 1 * ms, 25 * ms, 30 * ms, 22 * ms} {
		f = floor(f, d)
	}
	if f < ms || f > 4*ms {
		t.Fatalf("floor after one 1 ms run among 20-30 ms ones: %v, want a few ms", f)
	}
	// An action whose runs really became 50 ms long: the floor gets there.
	for range 200 {
		f = floor(f, 50*ms)
	}
	if f < 45*ms {
		t.Fatalf("floor after 200 runs of 50 ms: %v, want about 50 ms", f)
	}
	if got := floor(f, -ms); got != f {
		t.Fatalf("negative run moved the floor to %v", got)
	}
}

// BenchmarkWarmAcquire is a warm Acquire and Release among the warm
// containers of many actions (one each).
func BenchmarkWarmAcquire(b *testing.B) {
	for _, actions := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("actions=%d", actions), func(b *testing.B) {
			p, err := New[struct{}](newFake(), Config{InvokerID: "inv/1", MemoryMB: int64(actions) * 128,
				Images: map[string]string{"go": "img-go"}}, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background())
			ctx := context.Background()
			for a := range actions {
				c, _, err := p.Acquire(ctx, req(fmt.Sprintf("ns/a%d@1", a), 128, 1))
				if err != nil {
					b.Fatal(err)
				}
				p.Initialized(c)
				p.Release(c)
			}
			r := req("ns/a0@1", 128, 1)
			b.ResetTimer()
			for b.Loop() {
				c, start, err := p.Acquire(ctx, r)
				if err != nil || start != StartWarm {
					b.Fatal(start, err)
				}
				p.Release(c)
			}
		})
	}
}

// TestScaleOutEvictsOnlyStale: with memory full, one more container for an
// action whose containers are busy does not evict another action's
// container that is in use between calls; it waits for its own. Once the
// other action's container is stale it is evicted.
func TestScaleOutEvictsOnlyStale(t *testing.T) {
	rt := newFake()
	p, clk := newPool(t, rt, Config{MemoryMB: 256, QueueWait: time.Millisecond})
	// a's runs take 30 s, so a's second call would rather start a
	// container than wait; b is called every 40 s.
	b := mustAcquire(t, p, req("b", 128, 1), StartCold)
	p.Initialized(b)
	p.Release(b)
	a := mustAcquire(t, p, req("a", 128, 1), StartCold)
	p.Initialized(a)
	clk.add(30 * time.Second)
	p.Release(a)
	clk.add(10 * time.Second)
	p.Release(mustAcquire(t, p, req("b", 128, 1), StartWarm))
	clk.add(time.Second)

	a = mustAcquire(t, p, req("a", 128, 1), StartWarm)
	done := make(chan Start, 1)
	acquireAsync(t, p, req("a", 128, 1), done)
	time.Sleep(50 * time.Millisecond)
	if s := p.Stats(); s.Evictions != 0 || s.ColdStarts != 2 {
		t.Fatalf("scale-out with b in use: evictions %d, cold starts %d; want 0 and 2", s.Evictions, s.ColdStarts)
	}
	clk.add(30 * time.Second) // a warm run as long as the first
	p.Release(a)
	if start := <-done; start != StartWarm {
		t.Fatalf("scale-out refused: %s, want warm after the wait", start)
	}

	// b idle for over twice its gap: stale, evicted for a's second one.
	clk.add(100 * time.Second)
	a = mustAcquire(t, p, req("a", 128, 1), StartWarm)
	mustAcquire(t, p, req("a", 128, 1), StartCold)
	if s := p.Stats(); s.Evictions != 1 {
		t.Fatalf("scale-out with b stale: %d evictions, want 1", s.Evictions)
	}
	p.Release(a)

	// A first container still evicts the least recently used.
	mustAcquire(t, p, req("c", 128, 1), StartCold)
	if s := p.Stats(); s.Evictions != 2 {
		t.Fatalf("first container of c: %d evictions, want 2", s.Evictions)
	}
}

// TestEvictionOrder: a stale warm container goes first, then a stem cell,
// then a warm container whose action is still being called.
func TestEvictionOrder(t *testing.T) {
	rt := newFake()
	p, clk := newPool(t, rt, Config{MemoryMB: 512, Prewarm: []PrewarmSpec{{Kind: "go", MemoryMB: 256, Count: 1}}})
	p.fill(context.Background())
	stem := rt.liveIDs()[0]
	warm := func(key string) *Container[struct{}] {
		c := mustAcquire(t, p, req(key, 128, 1), StartCold)
		p.Initialized(c)
		p.Release(c)
		return c
	}
	old, recent := warm("old"), warm("recent")
	clk.add(10 * time.Second) // both stale: unknown gap, idle past staleAfterMin
	p.Release(mustAcquire(t, p, req("recent", 128, 1), StartWarm))

	mustAcquire(t, p, req("a", 128, 1), StartCold)
	if live := rt.liveIDs(); slices.Contains(live, old.ID) || !slices.Contains(live, stem) {
		t.Fatalf("first eviction: live %v; want the stale %s gone, the stem cell %s kept", live, old.ID, stem)
	}
	mustAcquire(t, p, req("b", 128, 1), StartCold)
	if live := rt.liveIDs(); slices.Contains(live, stem) || !slices.Contains(live, recent.ID) {
		t.Fatalf("second eviction: live %v; want the stem cell %s gone, %s kept", live, stem, recent.ID)
	}
	mustAcquire(t, p, req("c", 256, 1), StartCold) // 128 MB free and recent's 128
	if live := rt.liveIDs(); slices.Contains(live, recent.ID) {
		t.Fatalf("third eviction: live %v; want %s gone", live, recent.ID)
	}
}

// TestNewRevisionRetiresOldContainers: the first call of an updated
// action removes its older revision's idle containers at once and its busy
// ones when they are released; a late call for an old revision still runs,
// and its container goes when idle.
func TestNewRevisionRetiresOldContainers(t *testing.T) {
	rt := newFake()
	p, _ := newPool(t, rt, Config{MemoryMB: 2048})
	rev := func(n uint64) Request {
		r := req(fmt.Sprintf("guest/f@%d", n), 128, 1)
		r.Family, r.Revision = "guest/f", n
		return r
	}
	removed := func(c *Container[struct{}]) func() error {
		return func() error {
			rt.mu.Lock()
			defer rt.mu.Unlock()
			if !slices.Contains(rt.removed, c.ID) {
				return fmt.Errorf("%s not removed (removed: %v)", c.ID, rt.removed)
			}
			return nil
		}
	}
	other := req("guest/g@1", 128, 1) // another action: untouched
	other.Family, other.Revision = "guest/g", 1
	g := mustAcquire(t, p, other, StartCold)
	p.Initialized(g)
	p.Release(g)

	idle := mustAcquire(t, p, rev(1), StartCold)
	p.Initialized(idle)
	p.Release(idle)
	busy := mustAcquire(t, p, rev(2), StartCold)
	p.Initialized(busy)
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, removed(idle))

	newest := mustAcquire(t, p, rev(3), StartCold) // busy is still running revision 2
	p.Initialized(newest)
	p.Release(newest)
	rt.mu.Lock()
	early := slices.Contains(rt.removed, busy.ID)
	rt.mu.Unlock()
	if early {
		t.Fatal("a busy container of an old revision was removed")
	}
	p.Release(busy)
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, removed(busy))

	late := mustAcquire(t, p, rev(1), StartCold)
	p.Initialized(late)
	p.Release(late)
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, removed(late))

	if c := mustAcquire(t, p, rev(3), StartWarm); c != newest {
		t.Fatalf("newest revision served by %s, want its warm %s", c.ID, newest.ID)
	}
	if c := mustAcquire(t, p, other, StartWarm); c != g {
		t.Fatalf("other action served by %s, want its warm %s", c.ID, g.ID)
	}
}
