package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/testutil"
)

// proc is a `flurry` server process the test stops with SIGTERM and
// starts again with the same arguments.
type proc struct {
	t      *testing.T
	name   string
	args   []string
	cmd    *exec.Cmd
	out    *testutil.Buffer
	exited chan struct{}
	// outs keeps every run's output, for a failure's log.
	outs []*testutil.Buffer
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, args: args}
	p.start()
	t.Cleanup(func() {
		p.term(30 * time.Second)
		if t.Failed() {
			for k, o := range p.outs {
				t.Logf("%s, run %d:\n%s", p.name, k+1, o.String())
			}
		}
	})
	return p
}

func (p *proc) start() {
	p.t.Helper()
	p.out = &testutil.Buffer{}
	p.outs = append(p.outs, p.out)
	p.cmd = exec.Command(buildFlurry(p.t), p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(p.cmd, p.exited)
}

// term sends SIGTERM and waits for the process to exit; it reports how
// long that took.
func (p *proc) term(within time.Duration) time.Duration {
	p.t.Helper()
	select {
	case <-p.exited:
		return 0
	default:
	}
	t0 := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(within):
		p.cmd.Process.Kill()
		<-p.exited
		p.t.Errorf("%s did not exit within %v of SIGTERM", p.name, within)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Errorf("%s exited with %d after SIGTERM:\n%s", p.name, code, p.out.String())
	}
	return time.Since(t0)
}

// waitFor waits until the current run's output holds line.
func (p *proc) waitFor(line string) {
	p.t.Helper()
	testutil.CheckFor(p.t, 60*time.Second, 20*time.Millisecond, func() error {
		select {
		case <-p.exited:
			p.t.Fatalf("%s exited:\n%s", p.name, p.out.String())
		default:
		}
		if !strings.Contains(p.out.String(), line) {
			return fmt.Errorf("%s: no %q yet", p.name, line)
		}
		return nil
	})
}

// rollCall is one invoke of the client loop.
type rollCall struct {
	at      time.Time
	gateway int
	status  int
	body    string
	err     error
	id      string
	waitMS  float64 // the record's waitTime (queue wait), -1 if none
	invoker string
	start   string // how the container was had: warm, prewarm or cold
}

// TestRollingRestart restarts every separate component, one at a time
// with SIGTERM, while a client invokes at about 20/s through two
// gateways: no invoke may fail, and every accepted activation has exactly
// one record, a success (ADR 026).
//
// The client, like one behind a load balancer, sends each invoke on a new
// connection to one gateway in turn, and tries the other gateway only
// when the connection is refused (nothing was sent). Standalone provides
// NATS (and runs a controller, invoker and gateway of its own that are
// not restarted); beside it run two controllers, two invokers and two
// gateways, each restarted in turn.
func TestRollingRestart(t *testing.T) {
	s := startSystem(t, "", "--memory", "1024")
	rt := "process"
	if dockerReachable() {
		rt = "docker"
	}
	addrs := freeAddrs(t, 4)
	var ctls, invs, gws []*proc
	for k := range 2 {
		ctls = append(ctls, startProc(t, fmt.Sprintf("controller %d", k+1),
			append([]string{"controller", "--drain-timeout", "20s"}, s.natsArgs(broker.RoleController)...)...))
	}
	for _, id := range []string{"roll-a", "roll-b"} {
		invs = append(invs, startProc(t, "invoker "+id, append([]string{"invoker", "--id", id, "--runtime", rt,
			"--work-dir", t.TempDir(), "--memory", "1024", "--slots", "8", "--drain-timeout", "20s"},
			s.natsArgs(broker.RoleInvoker)...)...))
	}
	var apis []string
	for k := range 2 {
		gws = append(gws, startProc(t, fmt.Sprintf("gateway %d", k+1), append([]string{"gateway",
			"--api-listen", addrs[2*k], "--grpc-listen", addrs[2*k+1], "--drain-timeout", "20s"},
			s.natsArgs(broker.RoleGateway)...)...))
		apis = append(apis, "http://"+addrs[2*k])
	}
	for _, c := range ctls {
		c.waitFor("controller serving its API")
	}
	for _, i := range invs {
		i.waitFor("invoker starting")
	}
	gwUp := func(k int) {
		testutil.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
			resp, err := http.Get(apis[k] + "/api/v1")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("gateway %d: %d", k+1, resp.StatusCode)
			}
			return nil
		})
	}
	gwUp(0)
	gwUp(1)

	actions := partitionActions("roll")[:8]
	for _, a := range actions {
		s.createAction(t, a, "hello", map[string]any{"memory": 128})
	}
	// Warm: every action runs once through each gateway, on some invoker.
	for _, a := range actions {
		for k := range apis {
			if c := rollInvoke(apis, k, a); c.status != http.StatusOK {
				t.Fatalf("warm-up invoke %s through gateway %d: %d %s %v", a, k+1, c.status, c.body, c.err)
			}
		}
	}

	// The client loop: an invoke every 50 ms, each on its own goroutine
	// so a slow answer does not slow the rate.
	var (
		mu    sync.Mutex
		calls []rollCall
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				wg.Wait()
				return
			case <-tick.C:
			}
			wg.Go(func() {
				c := rollInvoke(apis, n%len(apis), actions[n%len(actions)])
				mu.Lock()
				calls = append(calls, c)
				mu.Unlock()
			})
		}
	}()

	type window struct {
		what       string
		from, back time.Time
		stopTook   time.Duration
	}
	var windows []window
	settle := func() { time.Sleep(3 * time.Second) } // load between restarts, not a wait for a condition
	settle()
	restart := func(p *proc, ready func()) {
		w := window{what: p.name, from: time.Now()}
		w.stopTook = p.term(40 * time.Second)
		p.start()
		ready()
		w.back = time.Now()
		windows = append(windows, w)
		t.Logf("%s: stopped in %v, back %v after SIGTERM", p.name, w.stopTook.Round(time.Millisecond), w.back.Sub(w.from).Round(time.Millisecond))
		settle()
	}
	for _, c := range ctls {
		restart(c, func() { c.waitFor("controller serving its API") })
	}
	for _, i := range invs {
		restart(i, func() { i.waitFor("invoker starting") })
	}
	for k, g := range gws {
		restart(g, func() { gwUp(k) })
	}
	close(stop)
	<-loopDone

	// No invoke failed.
	accepted := map[string]bool{}
	failed := 0
	for _, c := range calls {
		if c.err != nil || c.status < 200 || c.status > 299 {
			failed++
			t.Errorf("invoke at %s through gateway %d failed: %d %s %v", c.at.Format("15:04:05.000"), c.gateway+1, c.status, c.body, c.err)
			continue
		}
		accepted[c.id] = true
	}
	t.Logf("%d invokes over %v, %d failed", len(calls), calls[len(calls)-1].at.Sub(calls[0].at).Round(time.Second), failed)

	// Queue wait around each restart: from SIGTERM to 5 s after it is back.
	for _, w := range windows {
		var waits []float64
		starts := map[string]int{}
		for _, c := range calls {
			if c.waitMS >= 0 && !c.at.Before(w.from) && c.at.Before(w.back.Add(5*time.Second)) {
				waits = append(waits, c.waitMS)
				if c.start != "warm" {
					starts[c.start+" on "+c.invoker]++
				}
			}
		}
		slices.Sort(waits)
		if len(waits) == 0 {
			continue
		}
		t.Logf("queue wait around the restart of %s: %d invokes, p50 %.0f ms, p99 %.0f ms, max %.0f ms; not warm: %v",
			w.what, len(waits), waits[len(waits)/2], waits[len(waits)*99/100], waits[len(waits)-1], starts)
	}

	// Every accepted activation has exactly one record, a success.
	js, err := jetstream.New(s.connectNATS(t))
	if err != nil {
		t.Fatal(err)
	}
	oneRecordEach(t, js, guestNamespace, accepted, 60*time.Second)
	for _, c := range calls {
		if c.status == http.StatusOK {
			continue // its record came back as the answer, checked in rollInvoke
		}
		if c.status != http.StatusAccepted {
			continue
		}
		r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/"+c.id, guestAuth, nil)
		var rec struct {
			Response struct{ Success bool }
		}
		if r.status != http.StatusOK || json.Unmarshal(r.body, &rec) != nil || !rec.Response.Success {
			t.Errorf("activation %s (answered 202): %d %s", c.id, r.status, r.body)
		}
	}
}

// rollInvoke invokes action blocking through gateway k, or through the
// next one when k's refuses the connection.
func rollInvoke(apis []string, k int, action string) rollCall {
	c := rollCall{at: time.Now(), gateway: k, waitMS: -1}
	user, key, _ := strings.Cut(guestAuth, ":")
	for try := range len(apis) {
		c.gateway = (k + try) % len(apis)
		req, _ := http.NewRequest(http.MethodPost, apis[c.gateway]+"/api/v1/namespaces/_/actions/"+action+"?blocking=true",
			strings.NewReader(`{"name":"Roll"}`))
		req.SetBasicAuth(user, key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := rollClient.Do(req)
		if err != nil {
			c.err = err
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue
			}
			return c
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.status, c.body, c.err = resp.StatusCode, string(body), err
		break
	}
	if c.err != nil {
		return c
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(c.body), &rec); err != nil {
		c.err = fmt.Errorf("answer %q: %w", c.body, err)
		return c
	}
	c.id, _ = rec["activationId"].(string)
	if c.status == http.StatusOK {
		if resp, _ := rec["response"].(map[string]any); resp["success"] != true {
			c.err = fmt.Errorf("activation %s did not succeed: %v", c.id, resp)
		}
		if w, ok := annotation(rec, "waitTime"); ok {
			c.waitMS, _ = w.(float64)
		}
		inv, _ := annotation(rec, "invoker")
		c.invoker = fmt.Sprint(inv)
		how, _ := annotation(rec, "start")
		c.start = fmt.Sprint(how)
	}
	return c
}

// rollClient opens a connection per request: a refused connection is
// then the one sign that a request was not sent.
var rollClient = &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
