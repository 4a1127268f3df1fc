// Command replay replays a time-compressed window of the Azure Functions
// 2019 trace sample (../shared/data/azure-functions, 100 functions) against
// a fresh standalone Flurry per keep-alive policy (docs/adr/006), with
// synthetic actions (actions/examples/sleep) that sleep for each function's
// average duration divided by the compression. The same schedule (same
// seed) runs under every policy; the invoker heartbeat's pool counters give
// cold starts, stem-cell starts, warm hits, policy prewarms and container
// memory-seconds, printed side by side as the markdown of docs/benchmarks.md.
//
//	CGO_ENABLED=0 go build -o bin/flurry ./cmd/flurry
//	go run ./e2e/cmd/replay -flurry bin/flurry
//
// Each trace minute is compressed to 60s/compression; a minute's
// invocations of a function are capped (-cap) and placed uniformly at random
// inside it. It owns nothing but its own output; never run it from tests.
package main

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flurryfn/flurry/actions/gowrap"
	"github.com/flurryfn/flurry/e2e/internal/benchsys"
)

type config struct {
	flurry, runtime, traceDir, sleepSrc string
	sample                              int
	startMinute, minutes                int
	compression                         float64
	cap                                 int
	maxSleep                            time.Duration
	seed                                uint64
	memoryMB, actionMemoryMB, prewarm   int
	inflight                            int
	policies                            []string
}

func (c config) validate() error {
	switch {
	case c.runtime != "docker" && c.runtime != "process":
		return fmt.Errorf("-runtime %q: want docker or process", c.runtime)
	case c.startMinute < 1 || c.minutes < 1 || c.startMinute+c.minutes-1 > 1440:
		return fmt.Errorf("-start %d -minutes %d: the window must lie in minutes 1..1440", c.startMinute, c.minutes)
	case c.compression < 1:
		return fmt.Errorf("-compression %v: want ≥ 1", c.compression)
	case float64(c.minutes)*60/c.compression > 600:
		return fmt.Errorf("-minutes %d at %v×: over 10 min per policy (the machine is shared)", c.minutes, c.compression)
	case c.cap < 1:
		return fmt.Errorf("-cap %d: want ≥ 1", c.cap)
	case c.inflight < 1:
		return fmt.Errorf("-inflight %d: want ≥ 1", c.inflight)
	}
	return nil
}

func main() {
	var c config
	var policies string
	flag.StringVar(&c.flurry, "flurry", "bin/flurry", "the static flurry binary")
	flag.StringVar(&c.runtime, "runtime", "docker", "container runtime: docker or process")
	flag.StringVar(&c.traceDir, "trace", "../shared/data/azure-functions/2019-sample", "directory of N_inv.csv and N_run.csv")
	flag.IntVar(&c.sample, "sample", 100, "trace sample: 10, 100 or 1000 functions")
	flag.StringVar(&c.sleepSrc, "sleep-src", "actions/examples/sleep/sleep.go", "source of the synthetic action")
	flag.IntVar(&c.startMinute, "start", 601, "first trace minute of the window (1..1440)")
	flag.IntVar(&c.minutes, "minutes", 120, "window length in trace minutes")
	flag.Float64Var(&c.compression, "compression", 60, "time compression: 60 plays a trace minute in 1 s")
	flag.IntVar(&c.cap, "cap", 20, "at most this many invocations per function and trace minute")
	flag.DurationVar(&c.maxSleep, "max-sleep", time.Second, "cap of an action's (compressed) sleep")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the placement of invocations within a minute")
	flag.IntVar(&c.memoryMB, "memory", 8192, "invoker memory budget, MiB")
	flag.IntVar(&c.actionMemoryMB, "action-memory", 64, "memory limit of every synthetic action, MiB")
	flag.IntVar(&c.prewarm, "prewarm", -1, "explicit stem cells (--prewarm of the standalone; -1 leaves the default, 1 go stem cell)")
	flag.IntVar(&c.inflight, "inflight", 512, "at most this many blocking invocations in flight")
	flag.StringVar(&policies, "policies", "fixed,histogram", "keep-alive policies to compare")
	flag.Parse()
	c.policies = strings.Split(policies, ",")
	err := c.validate()
	if err == nil {
		err = run(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

// event is one invocation of the schedule.
type event struct {
	at     time.Duration // from the start of the replay
	action int           // index into the functions
}

type function struct {
	name  string
	sleep time.Duration // compressed, capped
}

// schedule reads the trace and places the window's invocations.
func schedule(c config) ([]function, []event, int, error) {
	inv, err := readCSV(filepath.Join(c.traceDir, fmt.Sprintf("%d_inv.csv", c.sample)))
	if err != nil {
		return nil, nil, 0, err
	}
	runs, err := readCSV(filepath.Join(c.traceDir, fmt.Sprintf("%d_run.csv", c.sample)))
	if err != nil {
		return nil, nil, 0, err
	}
	avg := map[string]float64{}
	for _, r := range runs[1:] {
		if len(r) > 4 {
			avg[r[0]], _ = strconv.ParseFloat(r[4], 64)
		}
	}
	minute := time.Duration(float64(time.Minute) / c.compression)
	rng := rand.New(rand.NewPCG(c.seed, 7))
	var fns []function
	var evs []event
	capped := 0
	for i, r := range inv[1:] {
		if len(r) < 3+1440 {
			return nil, nil, 0, fmt.Errorf("%d_inv.csv row %d: %d columns, want 1443", c.sample, i+2, len(r))
		}
		idx := -1
		for m := 0; m < c.minutes; m++ {
			n, err := strconv.Atoi(r[3+c.startMinute-1+m])
			if err != nil {
				return nil, nil, 0, fmt.Errorf("%d_inv.csv row %d: %w", c.sample, i+2, err)
			}
			if n > c.cap {
				capped += n - c.cap
				n = c.cap
			}
			if n > 0 && idx < 0 {
				d := time.Duration(avg[r[0]] * float64(time.Millisecond) / c.compression)
				fns = append(fns, function{name: fmt.Sprintf("fn-%03d", i), sleep: min(d, c.maxSleep)})
				idx = len(fns) - 1
			}
			for k := 0; k < n; k++ {
				at := time.Duration(m)*minute + time.Duration(rng.Float64()*float64(minute))
				evs = append(evs, event{at: at, action: idx})
			}
		}
	}
	slices.SortFunc(evs, func(a, b event) int { return int(a.at - b.at) })
	return fns, evs, capped, nil
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err == nil && len(rows) < 2 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return rows, nil
}

type result struct {
	policy        string
	stats         benchsys.PoolStats
	lat, overhead []time.Duration
	failed, late  int64
	wall          time.Duration
}

func run(c config) error {
	fns, evs, capped, err := schedule(c)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "flurry-replay")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	exe, err := gowrap.Build(context.Background(), c.sleepSrc, "Main")
	if err != nil {
		return err
	}
	code := base64.StdEncoding.EncodeToString(exe)
	bin := time.Duration(float64(time.Minute) / c.compression)
	idle := time.Duration(float64(10*time.Minute) / c.compression)
	var results []result
	var cmds []string
	for _, p := range c.policies {
		// Default slots (memory/256): raising them to the 256 containers
		// that fit made Docker on 2 cores collapse under the starts.
		args := []string{"--memory", strconv.Itoa(c.memoryMB), "--runtime", c.runtime, "--idle-timeout", idle.String()}
		if c.prewarm >= 0 {
			// Note: on this commit an explicit --prewarm fails with the
			// docker runtime ("prewarm kind go has no image"); see the report.
			args = append(args, "--prewarm", strconv.Itoa(c.prewarm))
		}
		switch p {
		case "fixed":
			args = append(args, "--keepalive", "fixed")
		case "histogram":
			args = append(args, "--keepalive", "histogram:"+bin.String())
		default:
			return fmt.Errorf("-policies: unknown policy %q (fixed, histogram)", p)
		}
		cmds = append(cmds, "flurry standalone "+strings.Join(args, " "))
		r, err := replay(c, code, filepath.Join(tmp, p), args, fns, evs)
		if err != nil {
			return fmt.Errorf("policy %s: %w", p, err)
		}
		r.policy = p
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "done: %s in %s\n", p, r.wall.Round(time.Second))
	}

	fmt.Printf("trace %d-function sample, minutes %d..%d (%d min) at %v× (1 trace minute = %s), seed %d: %d functions active, "+
		"%d invocations (%d more above the cap of %d per function and minute dropped); sleep = average duration / %v, at most %s; "+
		"actions %d MB, budget %d MB, runtime %s, blocking REST invokes, at most %d in flight\n\n",
		c.sample, c.startMinute, c.startMinute+c.minutes-1, c.minutes, c.compression, bin, c.seed, len(fns),
		len(evs), capped, c.cap, c.compression, c.maxSleep, c.actionMemoryMB, c.memoryMB, c.runtime, c.inflight)
	for i, cmd := range cmds {
		fmt.Printf("- %s: `%s`\n", c.policies[i], cmd)
	}
	fmt.Println()
	head := "| metric |"
	sep := "|---|"
	for _, r := range results {
		head += " " + r.policy + " |"
		sep += "---|"
	}
	fmt.Println(head)
	fmt.Println(sep)
	row := func(name string, f func(r result) string) {
		line := "| " + name + " |"
		for _, r := range results {
			line += " " + f(r) + " |"
		}
		fmt.Println(line)
	}
	starts := func(s benchsys.PoolStats) uint64 { return s.ColdStarts + s.PrewarmStarts + s.WarmHits }
	row("activations (pool acquires)", func(r result) string { return fmt.Sprint(starts(r.stats)) })
	row("cold starts", func(r result) string {
		return fmt.Sprintf("%d (%.1f %%)", r.stats.ColdStarts, 100*float64(r.stats.ColdStarts)/float64(max(starts(r.stats), 1)))
	})
	row("stem-cell (prewarm) starts", func(r result) string { return fmt.Sprint(r.stats.PrewarmStarts) })
	row("warm hits", func(r result) string { return fmt.Sprint(r.stats.WarmHits) })
	row("… of which on a policy prewarm", func(r result) string { return fmt.Sprint(r.stats.PolicyPrewarmHits) })
	row("policy prewarms", func(r result) string { return fmt.Sprint(r.stats.PolicyPrewarms) })
	row("evictions / expired", func(r result) string { return fmt.Sprintf("%d / %d", r.stats.Evictions, r.stats.Expired) })
	row("container memory (MB·s, replay time)", func(r result) string { return fmt.Sprintf("%.0f", r.stats.MemoryMBSeconds) })
	row("client latency p50 / p99", func(r result) string {
		return ms(benchsys.Percentile(r.lat, 50)) + " / " + ms(benchsys.Percentile(r.lat, 99))
	})
	row("latency − sleep p50 / p99", func(r result) string {
		return ms(benchsys.Percentile(r.overhead, 50)) + " / " + ms(benchsys.Percentile(r.overhead, 99))
	})
	row("failed / dispatched late (>100 ms)", func(r result) string { return fmt.Sprintf("%d / %d", r.failed, r.late) })
	return nil
}

func replay(c config, code, dir string, args []string, fns []function, evs []event) (result, error) {
	var r result
	sys, err := benchsys.Start(c.flurry, dir, args...)
	if err != nil {
		return r, err
	}
	defer sys.Stop()
	hb, err := benchsys.WatchHeartbeats(sys)
	if err != nil {
		return r, err
	}
	defer hb.Close()
	for _, f := range fns {
		if err := sys.Put(f.name, code, c.actionMemoryMB); err != nil {
			return r, err
		}
	}
	t0 := time.Now()
	for hb.Invokers(t0) < 1 {
		if time.Since(t0) > time.Minute {
			return r, fmt.Errorf("no heartbeat within 1m:\n%s", sys.Out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let the stem cells fill so that both policies start alike.
	time.Sleep(3 * time.Second)
	before := hb.Fresh()
	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		failed, late atomic.Int64
		sem          = make(chan struct{}, c.inflight)
	)
	begin := time.Now()
	for _, e := range evs {
		if d := time.Until(begin.Add(e.at)); d > 0 {
			time.Sleep(d)
		} else if -d > 100*time.Millisecond {
			late.Add(1)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(f function) {
			defer func() { <-sem; wg.Done() }()
			s := time.Now()
			if _, err := sys.Invoke(f.name, map[string]any{"ms": f.sleep.Milliseconds()}); err != nil {
				if failed.Add(1) == 1 {
					fmt.Fprintf(os.Stderr, "first failed invocation (%s): %v\n", f.name, err)
				}
				return
			}
			el := time.Since(s)
			mu.Lock()
			r.lat = append(r.lat, el)
			r.overhead = append(r.overhead, el-f.sleep)
			mu.Unlock()
		}(fns[e.action])
	}
	wg.Wait()
	r.wall = time.Since(begin)
	after := hb.Fresh()
	r.stats = after.Sub(before)
	r.failed, r.late = failed.Load(), late.Load()
	if r.failed > 0 {
		fmt.Fprintf(os.Stderr, "note: %d failed invocations; output tail:\n%s\n", r.failed, tail(sys.Out.String(), 2000))
	}
	return r, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
