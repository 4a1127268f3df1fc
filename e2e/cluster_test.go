package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

// clusterLoadRate is the invokes per second the node-loss test sends.
const clusterLoadRate = 30

// maxFailureWindow bounds how long invokes may fail after a NATS server
// is lost: its streams elect new leaders (ADR 023; the target is 5 s).
const maxFailureWindow = 15 * time.Second

// invokeResult is one invoke of the load.
type invokeResult struct {
	at         time.Time // sent
	blocking   bool
	status     int // 0: no HTTP answer
	retryAfter string
	id         string // activation id of an accepted invoke
	success    bool   // a blocking 200's result was a success
	body       string
	err        error
}

// TestClusterNodeLoss runs a controller, a gateway and an invoker, each
// given all three servers of a JetStream cluster, under steady load; it
// kills (SIGKILL) the server leading FLURRY_ACTIVATIONS, restarts it,
// then kills the one leading FLURRY_RECORDS. Every accepted activation
// must get exactly one record, a success; every failed invoke must be a
// 503 with Retry-After, and failures must end within the leader
// election.
func TestClusterNodeLoss(t *testing.T) {
	c := startNATSCluster(t, 3)
	js := c.jetStream(t)
	rt := "process"
	if dockerReachable() {
		rt = "docker"
	}
	t.Logf("invoker runtime %s", rt)
	a := freeAddrs(t, 2)
	ctlOut := startComponent(t, append([]string{"controller", "--guest-key", guestAuth}, c.natsArgs(broker.RoleController)...)...)
	// Controllers provision; the others need the assets to exist.
	testutil.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		if !strings.Contains(ctlOut.String(), "controller serving") {
			return errNotYet("controller not serving yet")
		}
		return nil
	})
	gwOut := startComponent(t, append([]string{"gateway", "--api-listen", a[0], "--grpc-listen", a[1]}, c.natsArgs(broker.RoleGateway)...)...)
	invOut := startComponent(t, append([]string{"invoker", "--id", "cluster", "--runtime", rt, "--work-dir", t.TempDir()}, c.natsArgs(broker.RoleInvoker)...)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("controller:\n%s\ngateway:\n%s\ninvoker:\n%s", tail(ctlOut.String(), 60), tail(gwOut.String(), 60), tail(invOut.String(), 60))
		}
	})
	gw := &system{t: t, api: "http://" + a[0]}
	testutil.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		r, err := clusterInvokeRaw(gw.api+"/api/v1/namespaces/_/actions", http.MethodGet, nil)
		if err != nil {
			return err
		}
		if r.status != http.StatusOK {
			return fmt.Errorf("gateway and controller not serving yet: %d", r.status)
		}
		return nil
	})

	// Auto: three servers, so every asset has three replicas.
	if !strings.Contains(ctlOut.String(), "replicas=3") {
		t.Fatalf("the controller did not choose 3 replicas:\n%s", ctlOut.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name := range js.StreamNames(ctx).Name() {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, r)
		}
	}

	gw.createAction(t, "noop", "hello", map[string]any{"memory": 128})
	testutil.CheckFor(t, 3*time.Minute, 100*time.Millisecond, func() error {
		r := clusterInvoke(gw.api, true)
		if r.status != http.StatusOK {
			return fmt.Errorf("first invoke: %d %s %v", r.status, r.body, r.err)
		}
		return nil
	})

	load := startClusterLoad(gw.api)
	time.Sleep(5 * time.Second) // steady load before the first loss
	kills := map[string]time.Time{}
	for _, stream := range []string{names.ActivationsStream, names.RecordsStream} {
		c.waitCurrent(t, js, 90*time.Second)
		victim := c.leaderOf(t, js, stream)
		kills[stream] = time.Now()
		c.kill(victim)
		t.Logf("killed n%d, leader of %s", victim, stream)
		time.Sleep(15 * time.Second)
		c.start(victim)
	}
	time.Sleep(5 * time.Second)
	results := load.stop()

	// Failures: all 503 with Retry-After; their window per loss.
	accepted := map[string]bool{}
	var failed []invokeResult
	for _, r := range results {
		switch {
		case r.status == http.StatusOK || r.status == http.StatusAccepted:
			if r.id == "" {
				t.Errorf("accepted invoke without an activation id: %d %s", r.status, r.body)
				continue
			}
			accepted[r.id] = true
			if r.blocking && r.status == http.StatusOK && !r.success {
				t.Errorf("blocking invoke %s answered a failure: %s", r.id, r.body)
			}
		default:
			failed = append(failed, r)
			if r.status != http.StatusServiceUnavailable || r.retryAfter == "" {
				t.Errorf("failed invoke at %s (blocking %v): %d %q (Retry-After %q) %v",
					r.at.Format("15:04:05.000"), r.blocking, r.status, r.body, r.retryAfter, r.err)
			}
		}
	}
	t.Logf("%d invokes, %d accepted, %d failed", len(results), len(accepted), len(failed))
	byAnswer := map[string]int{}
	for _, r := range failed {
		byAnswer[fmt.Sprintf("%d %.80s %v", r.status, strings.TrimSpace(r.body), r.err)]++
	}
	for answer, n := range byAnswer {
		t.Logf("%5d failed: %s", n, answer)
	}
	episodes := []string{names.ActivationsStream, names.RecordsStream}
	for i, stream := range episodes {
		from, to := kills[stream], time.Now()
		if i+1 < len(episodes) {
			to = kills[episodes[i+1]]
		}
		var first, last time.Time
		n := 0
		for _, r := range failed {
			if r.at.Before(from) || !r.at.Before(to) {
				continue
			}
			if n == 0 {
				first = r.at
			}
			last, n = r.at, n+1
		}
		window := time.Duration(0)
		if n > 0 {
			window = last.Sub(from)
		}
		t.Logf("loss of the %s leader: %d failed invokes, the first %v and the last %v after the kill",
			stream, n, first.Sub(from).Round(time.Millisecond), window.Round(time.Millisecond))
		if window > maxFailureWindow {
			t.Errorf("invokes failed for %v after the loss of the %s leader (first at +%v), want at most %v",
				window, stream, first.Sub(from).Round(time.Millisecond), maxFailureWindow)
		}
	}

	// Every accepted activation has exactly one record, a success.
	oneRecordEach(t, js, guestNamespace, accepted, 90*time.Second)
	var notSuccess []string
	for id := range accepted {
		r, err := clusterInvokeRaw(gw.api+"/api/v1/namespaces/_/activations/"+id, http.MethodGet, nil)
		if err != nil || r.status != http.StatusOK {
			t.Errorf("get record %s: %v %d %s", id, err, r.status, r.body)
			continue
		}
		var rec struct {
			Response struct {
				Status  string `json:"status"`
				Success bool   `json:"success"`
			} `json:"response"`
		}
		if err := json.Unmarshal([]byte(r.body), &rec); err != nil || !rec.Response.Success {
			notSuccess = append(notSuccess, id+" "+rec.Response.Status)
		}
	}
	if len(notSuccess) > 0 {
		sort.Strings(notSuccess)
		t.Errorf("%d of %d accepted activations were not recorded as a success, e.g. %v",
			len(notSuccess), len(accepted), notSuccess[:min(5, len(notSuccess))])
	}
}

// clusterLoad sends clusterLoadRate invokes a second of the noop action,
// blocking and not in turn, until stop.
type clusterLoad struct {
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []invokeResult
}

func startClusterLoad(api string) *clusterLoad {
	l := &clusterLoad{done: make(chan struct{})}
	l.wg.Go(func() {
		tick := time.NewTicker(time.Second / clusterLoadRate)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-l.done:
				return
			case <-tick.C:
			}
			l.wg.Go(func() {
				r := clusterInvoke(api, n%2 == 0)
				l.mu.Lock()
				l.results = append(l.results, r)
				l.mu.Unlock()
			})
		}
	})
	return l
}

// stop ends the load, waits for every invoke's answer and returns them.
func (l *clusterLoad) stop() []invokeResult {
	close(l.done)
	l.wg.Wait()
	sort.Slice(l.results, func(i, j int) bool { return l.results[i].at.Before(l.results[j].at) })
	return l.results
}

// clusterInvoke invokes the noop action as the guest.
func clusterInvoke(api string, blocking bool) invokeResult {
	r, err := clusterInvokeRaw(fmt.Sprintf("%s/api/v1/namespaces/_/actions/noop?blocking=%v", api, blocking),
		http.MethodPost, []byte(`{"name":"cluster"}`))
	r.blocking, r.err = blocking, err
	if r.status == http.StatusOK || r.status == http.StatusAccepted {
		var body struct {
			ActivationID string `json:"activationId"`
			Response     struct {
				Success bool `json:"success"`
			} `json:"response"`
		}
		if json.Unmarshal([]byte(r.body), &body) == nil {
			r.id, r.success = body.ActivationID, body.Response.Success
		}
	}
	return r
}

// clusterClient bounds a blocking invoke beyond the controller's wait.
var clusterClient = &http.Client{Timeout: 90 * time.Second}

// clusterInvokeRaw sends one request as the guest; it never fails the
// test, so load goroutines may call it.
func clusterInvokeRaw(url, method string, body []byte) (invokeResult, error) {
	r := invokeResult{at: time.Now()}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return r, err
	}
	req.Header.Set("Content-Type", "application/json")
	user, key, _ := strings.Cut(guestAuth, ":")
	req.SetBasicAuth(user, key)
	resp, err := clusterClient.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	r.status, r.retryAfter, r.body = resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
	return r, err
}
