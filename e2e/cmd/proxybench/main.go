// Command proxybench measures the container side of an activation without
// Docker: it starts -proxies `flurry proxy` processes on the host, each
// serving a no-op Go action on its own unix socket with inline logs (as
// the invoker runs them), and calls /run on them from -clients callers,
// each call to a proxy picked at random, so most calls find their proxy
// and its action asleep, as in a run with many actions. It prints calls/s,
// the latency percentiles, and the CPU per call of the proxies and of the
// actions, read from /proc over the measured phase; and first the time of
// the /init calls that started the actions, one after another (a cold
// start's share in the proxy and its client).
//
//	go run ./e2e/cmd/proxybench -flurry bin/flurry -proxies 50 -clients 4 -duration 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flurryfn/flurry/e2e/internal/benchsys"
	"github.com/flurryfn/flurry/invoker/container"
)

func main() {
	flurry := flag.String("flurry", "bin/flurry", "the flurry binary to run as proxy")
	proxies := flag.Int("proxies", 50, "proxies (one action each)")
	clients := flag.Int("clients", 4, "concurrent callers")
	duration := flag.Duration("duration", 10*time.Second, "measured phase")
	noInit := flag.Bool("noinit", false, "send no /init, so /run answers 403 at once: the cost of the HTTP hop into the proxy alone")
	flag.Parse()
	if err := run(*flurry, *proxies, *clients, *duration, *noInit); err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

func run(flurry string, n, clients int, duration time.Duration, noInit bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tmp, err := os.MkdirTemp("", "proxybench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	code, err := benchsys.NoopCode(ctx, tmp)
	if err != nil {
		return err
	}

	var pids []int
	var cls []*container.Client
	var inits []time.Duration
	defer func() {
		for _, c := range cls {
			c.Close()
		}
	}()
	for i := range n {
		pdir := filepath.Join(tmp, fmt.Sprintf("p%d", i))
		if err := os.Mkdir(pdir, 0o700); err != nil {
			return err
		}
		sock := filepath.Join(pdir, "proxy.sock")
		cmd := exec.CommandContext(ctx, flurry, "proxy", "--listen", "unix:"+sock,
			"--dir", filepath.Join(pdir, "action"), "--inline-logs")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		pids = append(pids, cmd.Process.Pid)
		c := container.NewClient("unix:" + sock)
		c.InlineLogs(func(_, _ []byte) {})
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.WaitReady(wctx)
		if err == nil && !noInit {
			t0 := time.Now()
			err = c.Init(wctx, container.InitRequest{Name: "noop", Main: "main", Code: code, Binary: true})
			inits = append(inits, time.Since(t0))
		}
		wcancel()
		if err != nil {
			return fmt.Errorf("proxy %d: %w", i, err)
		}
		cls = append(cls, c)
	}

	call := func(c *container.Client) error {
		resp, err := c.Run(ctx, container.RunRequest{Value: []byte(`{"x":1}`), Namespace: "guest",
			ActionName: "/guest/noop", ActivationID: "0123456789abcdef0123456789abcdef",
			Deadline: time.Now().Add(time.Minute).UnixMilli()})
		if err == nil && resp.StatusCode != 200 && !noInit {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, resp.Body)
		}
		return err
	}
	if len(inits) > 0 {
		slices.Sort(inits)
		fmt.Printf("%d /init of a %d KB executable, one at a time: p50 %s, max %s\n",
			len(inits), len(code)*3/4>>10, inits[len(inits)/2], inits[len(inits)-1])
	}
	// Warm-up: every proxy a few times.
	for range 3 {
		for _, c := range cls {
			if err := call(c); err != nil {
				return err
			}
		}
	}

	var stop atomic.Bool
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuOf(pids)
	t0 := time.Now()
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for !stop.Load() {
				c := cls[rand.IntN(len(cls))]
				s := time.Now()
				if err := call(c); err != nil {
					failed.Add(1)
					continue
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	time.Sleep(duration)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(t0)
	cpu1 := cpuOf(pids)
	slices.Sort(lat)
	calls := len(lat)
	if calls == 0 {
		return fmt.Errorf("no call succeeded (%d failed)", failed.Load())
	}
	pct := func(p float64) time.Duration { return lat[min(int(p*float64(calls)), calls-1)] }
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(calls))
	}
	fmt.Printf("%d proxies, %d callers, %s: %.0f calls/s, p50 %s, p99 %s, failed %d\n",
		n, clients, duration, float64(calls)/elapsed.Seconds(), pct(0.5), pct(0.99), failed.Load())
	fmt.Printf("CPU per call: proxies %s, actions %s\n", per(cpu1.proxy-cpu0.proxy), per(cpu1.action-cpu0.action))
	return nil
}

type cpuTime struct{ proxy, action time.Duration }

// cpuOf sums the CPU time of the proxies pids and of their children (the
// actions).
func cpuOf(pids []int) cpuTime {
	var t cpuTime
	isProxy := map[int]bool{}
	for _, pid := range pids {
		isProxy[pid] = true
		if st, ok := benchsys.ReadProcStat(pid); ok {
			t.proxy += ticks(st.Ticks)
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := benchsys.ReadProcStat(pid); ok && isProxy[st.PPID] {
			t.action += ticks(st.Ticks)
		}
	}
	return t
}

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / benchsys.ClockTicks }
