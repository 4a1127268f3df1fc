// Command scalebench measures Flurry's throughput and latency with 1, 100
// and 1000 distinct no-op actions on 1 and 2 invokers (issue 3): closed-loop
// REST clients invoke random actions for a fixed time against a fresh
// standalone (plus a second `flurry invoker` on its NATS), and the pool
// counters of the invoker benchsys.Heartbeats give the warm-hit ratio and the
// containers started. The memory budget is deliberately smaller than 1000
// actions need, so that configuration measures eviction and cold starts
// too. Results are printed as the markdown of docs/benchmarks.md.
//
//	CGO_ENABLED=0 go build -o bin/flurry ./cmd/flurry
//	go run ./e2e/cmd/scalebench -flurry bin/flurry [-runtime docker|process]
//
// It owns nothing but its own output; it must not be run from tests (timing).
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flurryfn/flurry/e2e/internal/benchsys"
)

// config is the bench's flags.
type config struct {
	flurry         string
	runtime        string
	clients        int
	duration       time.Duration
	warmup         time.Duration
	actions        []int
	invokers       []int
	memoryMB       int
	actionMemoryMB int
	containerAddr  string
	standaloneArgs string
	logFile        string
	rate           float64
	breakdown      bool
	stalls         bool
	hot            int
	cpu            bool
	netHTTP        bool
}

func (c config) validate() error {
	switch {
	case c.runtime != "docker" && c.runtime != "process":
		return fmt.Errorf("-runtime %q: want docker or process", c.runtime)
	case c.clients < 1 || c.clients > 1024:
		return fmt.Errorf("-clients %d: want 1..1024", c.clients)
	case c.duration <= 0 || c.duration > time.Minute:
		return fmt.Errorf("-duration %v: want (0, 1m] (the machine is shared)", c.duration)
	case c.warmup < 0 || c.warmup > 2*time.Minute:
		return fmt.Errorf("-warmup %v: want [0, 2m]", c.warmup)
	case c.hot < 0:
		return fmt.Errorf("-hot %d: want 0 (all actions) or more", c.hot)
	case c.rate < 0 || c.rate > 100000:
		return fmt.Errorf("-rate %v: want 0 (closed loop) up to 100000 per second", c.rate)
	case len(c.actions) == 0 || len(c.invokers) == 0:
		return fmt.Errorf("-actions and -invokers must list at least one count")
	}
	for _, n := range c.invokers {
		if n < 1 || n > 2 {
			return fmt.Errorf("-invokers %d: want 1 or 2", n)
		}
	}
	return nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	var c config
	var actions, invokers string
	flag.StringVar(&c.flurry, "flurry", "bin/flurry", "the static flurry binary")
	flag.StringVar(&c.runtime, "runtime", "docker", "container runtime of the invokers: docker or process")
	flag.IntVar(&c.clients, "clients", 64, "concurrent closed-loop REST clients")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measured phase per configuration (at most 1m)")
	flag.DurationVar(&c.warmup, "warmup", 20*time.Second, "warm-up per configuration: every action once, then the measured load shape (for at least a quarter of the warm-up)")
	flag.StringVar(&actions, "actions", "1,100,1000", "distinct action counts")
	flag.StringVar(&invokers, "invokers", "1,2", "invoker counts (1 or 2)")
	flag.IntVar(&c.memoryMB, "memory", 8192, "memory budget of each invoker, MiB (slots = memory/256); 0: sized from the host")
	flag.IntVar(&c.actionMemoryMB, "action-memory", 64, "memory limit of each action, MiB")
	flag.StringVar(&c.containerAddr, "container-addr", "unix", "how invokers reach containers: unix, loopback or bridge (flurry's --container-addr)")
	flag.BoolVar(&c.cpu, "cpu", false, "print the CPU per activation of every process group (from /proc) over each measured phase")
	flag.Float64Var(&c.rate, "rate", 0, "offer this many activations per second open-loop (Poisson arrivals, served by -clients callers) instead of closed-loop clients")
	flag.BoolVar(&c.stalls, "stalls", false, "print the measured phase's slowest 100 ms windows by arrival: how many calls arrived, their p50 and their slowest")
	flag.BoolVar(&c.breakdown, "breakdown", false, "ask for whole records and print where the latency went: waiting for an invoker, in the container, the rest")
	flag.IntVar(&c.hot, "hot", 0, "call only the first N actions in the measured phase (0: all); the others stay warm and idle")
	flag.StringVar(&c.logFile, "log", "", "append the output of the Flurry processes of each configuration to this file")
	flag.BoolVar(&c.netHTTP, "nethttp", false, "invoke through net/http's client instead of the benchsys.Callers (that client costs the shared machine more CPU per call)")
	flag.StringVar(&c.standaloneArgs, "standalone-args", "", "more flags for flurry standalone, space separated (e.g. --debug-listen 127.0.0.1:6060)")
	flag.Parse()
	var err error
	if c.actions, err = ints(actions); err == nil {
		c.invokers, err = ints(invokers)
	}
	if err == nil {
		err = c.validate()
	}
	if err == nil {
		err = run(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(1)
	}
}

type result struct {
	actions, invokers int
	done, failed      int64
	lat               []time.Duration
	stats             benchsys.PoolStats
	perInvoker        string
}

func run(c config) error {
	tmp, err := os.MkdirTemp("", "flurry-scalebench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	code, err := benchsys.NoopCode(context.Background(), tmp)
	if err != nil {
		return err
	}

	var results []result
	for _, ni := range c.invokers {
		for _, na := range c.actions {
			dir := filepath.Join(tmp, fmt.Sprintf("a%d-i%d", na, ni))
			r, err := runOne(c, code, dir, na, ni)
			if err != nil {
				return fmt.Errorf("%d actions, %d invokers: %w", na, ni, err)
			}
			results = append(results, r)
			fmt.Fprintf(os.Stderr, "done: %d actions, %d invokers: %.0f act/s\n", na, ni, float64(r.done)/c.duration.Seconds())
		}
	}
	how := fmt.Sprintf("%d closed-loop REST clients", c.clients)
	if c.rate > 0 {
		how = fmt.Sprintf("open-loop Poisson arrivals at %.0f/s served by %d REST callers", c.rate, c.clients)
	}
	budget := fmt.Sprintf("memory budget %d MB per invoker (%d slots, room for %d containers)",
		c.memoryMB, max(c.memoryMB/256, 4), c.memoryMB/c.actionMemoryMB)
	if c.memoryMB == 0 {
		budget = "memory budget and slots sized from the host (flurry's --memory 0)"
	}
	fmt.Printf("runtime %s, %s (blocking, result=true), %s measured after warm-up, no-op Go action of %d MB, %s\n\n",
		c.runtime, how, c.duration, c.actionMemoryMB, budget)
	fmt.Println("| actions | invokers | activations/s | p50 | p99 | failed | warm hits | containers started (cold + stem + scale-out) | evictions | per invoker: activations (cold starts) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		s := r.stats
		total := s.ColdStarts + s.PrewarmStarts + s.WarmHits
		ratio := 0.0
		if total > 0 {
			ratio = 100 * float64(s.WarmHits) / float64(total)
		}
		fmt.Printf("| %d | %d | %.0f | %s | %s | %d | %.1f %% | %d (%d + %d + %d) | %d | %s |\n",
			r.actions, r.invokers, float64(r.done)/c.duration.Seconds(), ms(benchsys.Percentile(r.lat, 50)), ms(benchsys.Percentile(r.lat, 99)), r.failed,
			ratio, s.ColdStarts+s.PrewarmStarts+s.ScaleOuts, s.ColdStarts, s.PrewarmStarts, s.ScaleOuts, s.Evictions, r.perInvoker)
	}
	return nil
}

func runOne(c config, code, dir string, nActions, nInvokers int) (result, error) {
	r := result{actions: nActions, invokers: nInvokers}
	mem := strconv.Itoa(c.memoryMB)
	args := append([]string{"--memory", mem, "--runtime", c.runtime, "--container-addr", c.containerAddr}, strings.Fields(c.standaloneArgs)...)
	sys, err := benchsys.Start(c.flurry, dir, args...)
	if err != nil {
		return r, err
	}
	defer sys.Stop()
	if c.logFile != "" {
		defer appendLog(c.logFile, nActions, nInvokers, sys.Out)
	}
	hb, err := benchsys.WatchHeartbeats(sys)
	if err != nil {
		return r, err
	}
	defer hb.Close()
	if nInvokers == 2 {
		if err := sys.AddInvoker(c.flurry, "--id", "second", "--memory", mem, "--runtime", c.runtime, "--container-addr", c.containerAddr,
			"--work-dir", filepath.Join(dir, "second")); err != nil {
			return r, err
		}
	}
	t0 := time.Now()
	for hb.Invokers(t0) < nInvokers {
		if time.Since(t0) > time.Minute {
			return r, fmt.Errorf("%d invokers not heard from within 1m:\n%s", nInvokers, sys.Out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Placement needs the members to see each other (3 benchsys.Heartbeats) before
	// partitions are split; give it that long.
	time.Sleep(3 * time.Second)

	names := make([]string, nActions)
	for i := range names {
		names[i] = fmt.Sprintf("noop-%04d", i)
		if err := sys.Put(names[i], code, c.actionMemoryMB); err != nil {
			return r, err
		}
	}

	hot := names
	if c.hot > 0 && c.hot < nActions {
		hot = names[:c.hot]
	}
	pick := func(rng *rand.Rand) (string, bool) { return hot[rng.IntN(len(hot))], true }
	// drive offers the measured load shape until end.
	drive := func(end time.Time, invoke invokeFunc, record func([]sample), failed *atomic.Int64) {
		if c.rate > 0 {
			loadOpen(c.rate, c.clients, end, pick, invoke, record, failed)
		} else {
			load(c.clients, end, pick, invoke, record, failed)
		}
	}

	// Warm-up: every action once (bounded), then the measured load shape
	// for the rest, so that the measured phase starts in that load's
	// steady state (no container starts of a heavier warm-up spilling
	// into it). The load shape gets at least a quarter of the warm-up
	// even when the first calls took all of it (a hundred Docker starts
	// at once can take a minute on a slow engine).
	cs := sys.Callers(c.clients)
	defer cs.Close()
	invoke := invokeCallers(cs)
	if c.netHTTP {
		invoke = invokeNetHTTP(sys)
	}
	var next atomic.Int64
	warmFrom := hb.Fresh()
	warmStart := time.Now()
	end := warmStart.Add(c.warmup)
	load(c.clients, end, func(*rand.Rand) (string, bool) {
		i := next.Add(1) - 1
		return names[min(i, int64(nActions)-1)], i < int64(nActions)
	}, invoke, nil, nil)
	fmt.Fprintf(os.Stderr, "%d actions, %d invokers: first calls took %s\n", nActions, nInvokers,
		time.Since(warmStart).Round(time.Millisecond))
	if time.Until(end) < c.warmup/4 {
		end = time.Now().Add(c.warmup / 4)
	}
	drive(end, invoke, nil, nil)

	before := hb.Fresh()
	beforeEach := hb.Snapshot()
	w := before.Sub(warmFrom)
	fmt.Fprintf(os.Stderr, "%d actions, %d invokers: warm-up started %d containers (%d cold + %d stem + %d scale-out)\n",
		nActions, nInvokers, w.ColdStarts+w.PrewarmStarts+w.ScaleOuts, w.ColdStarts, w.PrewarmStarts, w.ScaleOuts)
	var cpuBefore cpuSample
	if c.cpu {
		cpuBefore = sampleCPU()
	}
	var samples []sample
	var mu sync.Mutex
	var failed atomic.Int64
	record := func(d []sample) {
		mu.Lock()
		samples = append(samples, d...)
		mu.Unlock()
	}
	if c.breakdown {
		invoke = invokeRecord(sys)
	}
	drive(time.Now().Add(c.duration), invoke, record, &failed)
	lat := make([]time.Duration, len(samples))
	for k, s := range samples {
		lat[k] = s.lat
	}
	if c.breakdown {
		fmt.Fprintf(os.Stderr, "%d actions, %d invokers: %s\n", nActions, nInvokers, breakdown(samples))
	}
	if c.stalls {
		fmt.Fprintf(os.Stderr, "%d actions, %d invokers: %s\n", nActions, nInvokers, stalls(samples, 100*time.Millisecond, 10))
	}
	if c.cpu {
		fmt.Fprintf(os.Stderr, "%d actions, %d invokers: %s\n", nActions, nInvokers, cpuAccount(cpuBefore, sampleCPU(), int64(len(lat))))
	}
	after := hb.Fresh()
	r.lat, r.done, r.failed = lat, int64(len(lat)), failed.Load()
	r.stats = after.Sub(before)
	// The per-invoker split of the measured phase (warm + cold + stem starts).
	afterEach := hb.Snapshot()
	var parts []string
	ids := make([]string, 0, len(afterEach))
	for id := range afterEach {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := afterEach[id].Sub(beforeEach[id])
		parts = append(parts, fmt.Sprintf("%s %d (%d cold)", id, p.ColdStarts+p.PrewarmStarts+p.WarmHits, p.ColdStarts))
	}
	r.perInvoker = strings.Join(parts, " / ")
	if r.failed > 0 {
		fmt.Fprintf(os.Stderr, "note: %d failed invocations; output tail:\n%s\n", r.failed, tail(sys.Out.String(), 2000))
	}
	return r, nil
}

// load runs clients closed-loop invokers until end; pick chooses the next
// action; record, if set, gets each client's latencies of successful calls.
func load(clients int, end time.Time, pick func(*rand.Rand) (string, bool), invoke invokeFunc, record func([]sample), failed *atomic.Int64) {
	callers(clients, func(rng *rand.Rand) (mine []sample) {
		for time.Now().Before(end) {
			name, ok := pick(rng)
			if !ok {
				break
			}
			if s, ok := call(invoke, name, time.Now(), failed); ok {
				mine = append(mine, s)
			}
		}
		return mine
	}, record)
}

// loadOpen offers activations at rate per second, Poisson arrivals, until
// end, served by clients concurrent callers. A call's latency counts from
// its arrival, so time spent waiting for a free caller is in it (no
// coordinated omission); arrivals that find a backlog of a whole second
// of calls are counted as failed.
func loadOpen(rate float64, clients int, end time.Time, pick func(*rand.Rand) (string, bool), invoke invokeFunc, record func([]sample), failed *atomic.Int64) {
	arrivals := make(chan time.Time, max(int(rate), 1))
	go func() {
		defer close(arrivals)
		rng := rand.New(rand.NewPCG(1, 2))
		next := time.Now()
		for next.Before(end) {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			for now := time.Now(); !next.After(now) && next.Before(end); next = next.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second))) {
				select {
				case arrivals <- next:
				default:
					if failed != nil {
						failed.Add(1)
					}
				}
			}
		}
	}()
	callers(clients, func(rng *rand.Rand) (mine []sample) {
		for at := range arrivals {
			name, _ := pick(rng)
			if s, ok := call(invoke, name, at, failed); ok {
				mine = append(mine, s)
			}
		}
		return mine
	}, record)
}

// callers runs n callers, each with its own random source, until work
// returns, and hands each one's samples to record (when set).
func callers(n int, work func(*rand.Rand) []sample, record func([]sample)) {
	var wg sync.WaitGroup
	for c := range n {
		wg.Go(func() {
			mine := work(rand.New(rand.NewPCG(uint64(c), 42)))
			if record != nil {
				record(mine)
			}
		})
	}
	wg.Wait()
}

// call invokes name and measures it from since; a failure is counted in
// failed (when set).
func call(invoke invokeFunc, name string, since time.Time, failed *atomic.Int64) (sample, bool) {
	sp, err := invoke(name)
	if err != nil {
		if failed != nil {
			failed.Add(1)
		}
		return sample{}, false
	}
	return sample{at: since, lat: time.Since(since), span: sp}, true
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// appendLog appends a configuration's Flurry output to path.
func appendLog(path string, nActions, nInvokers int, out fmt.Stringer) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scalebench: -log:", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "==== %d actions, %d invokers\n%s", nActions, nInvokers, out.String())
}
