package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

// guestNamespace is the namespace of guestAuth in standalone.
const guestNamespace = "guest"

// partitionActions returns one action name per activation partition, so
// that every invoker owns some of them whatever the rendezvous (ADR 004).
func partitionActions(prefix string) []string {
	out := make([]string, names.Partitions)
	found := 0
	for n := 0; found < names.Partitions; n++ {
		name := fmt.Sprintf("%s-%d", prefix, n)
		if p := names.Partition(guestNamespace, name); out[p] == "" {
			out[p] = name
			found++
		}
	}
	return out
}

// startInvoker starts `flurry invoker` against s's NATS server.
func startInvoker(t *testing.T, s *system, id, workDir string) (*exec.Cmd, *testutil.Buffer) {
	t.Helper()
	rt := "process"
	if dockerReachable() {
		rt = "docker"
	}
	out := &testutil.Buffer{}
	// Debug logs a line per finished activation, which the fault test
	// counts.
	cmd := exec.Command(buildFlurry(t), append([]string{"invoker", "--id", id, "--runtime", rt,
		"--work-dir", workDir, "--log-level", "debug"}, s.natsArgs(broker.RoleInvoker)...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

// TestInvokerKilledLosesNothing puts activations in flight on two
// invokers, kills one with SIGKILL, and checks that every accepted
// activation still gets exactly one record: those the dead invoker had
// not begun run elsewhere; those it had begun get an internal-error
// record (the sleep action allows no retries).
//
// The survivor then runs all 16 actions in 2,048 MB (set: the default
// is sized from the host), which holds them only if it gives up its stem
// cell and evicts nothing its actions still call (ADR 011, 2026-12-05
// amendments; ADR 024).
func TestInvokerKilledLosesNothing(t *testing.T) {
	s := startSystem(t, "", "--memory", "2048")
	workDir := t.TempDir()
	victim, out := startInvoker(t, s, "victim", workDir)
	killed := false
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("victim invoker output:\n%s\nstandalone output:\n%s", out.String(), s.output.String())
		}
		if !killed {
			victim.Process.Kill()
			victim.Wait()
		}
		// A restart with the same id removes the containers the killed
		// invoker left; then it stops cleanly.
		again, aout := startInvoker(t, s, "victim", workDir)
		testutil.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
			if !strings.Contains(aout.String(), "invoker running") {
				return errNotYet("restarted invoker not running yet")
			}
			return nil
		})
		again.Process.Signal(syscall.SIGINT)
		again.Wait()
		// Containers the restarted invoker was still starting when it
		// stopped can outlive it; leave the engine as the test found it.
		if ids, err := exec.Command("docker", "ps", "-aq", "--filter", "label=io.flurry.invoker=victim").Output(); err == nil && len(strings.Fields(string(ids))) > 0 {
			// The restarted invoker may still be removing some: those
			// answer "already in progress" or "no such container".
			out, err := exec.Command("docker", append([]string{"rm", "-f"}, strings.Fields(string(ids))...)...).CombinedOutput()
			if err != nil && !strings.Contains(string(out), "already in progress") && !strings.Contains(string(out), "No such container") {
				t.Logf("remove the victim's containers: %v\n%s", err, out)
			}
		}
	})

	actions := partitionActions("fault")
	for _, a := range actions {
		s.createAction(t, a, "sleep", map[string]any{"memory": 128})
	}
	// Both invokers are members: the victim runs the actions it owns.
	// Every action is called in each round, so the load finds them warm
	// (where placement put them) rather than timing the engine's starts.
	testutil.CheckFor(t, 60*time.Second, 10*time.Millisecond, func() error {
		onVictim := false
		for _, a := range actions {
			r := s.invoke(t, a, map[string]any{"ms": 1}, "blocking=true")
			if r.status != http.StatusOK {
				t.Fatalf("warm-up invoke %s: %d %s", a, r.status, r.body)
			}
			if inv, _ := annotation(r.json(t), "invoker"); inv == "victim" {
				onVictim = true
			}
		}
		if !onVictim {
			return errNotYet("the victim invoker has not run an activation yet")
		}
		return nil
	})

	const n = 200
	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	finished := func() int { return strings.Count(out.String(), "activation finished") }
	before := finished()
	throttled := 0
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for k := range work {
				for {
					r := s.invoke(t, actions[k%len(actions)], map[string]any{"ms": 300}, "blocking=false")
					if r.status == http.StatusTooManyRequests {
						// The namespace's concurrency limit: not accepted,
						// so try again once some finished.
						mu.Lock()
						throttled++
						mu.Unlock()
						time.Sleep(100 * time.Millisecond)
						continue
					}
					if r.status != http.StatusAccepted {
						t.Errorf("non-blocking invoke: %d %s", r.status, r.body)
						break
					}
					id, _ := r.json(t)["activationId"].(string)
					mu.Lock()
					ids = append(ids, id)
					mu.Unlock()
					break
				}
			}
		})
	}
	go func() {
		for k := range n {
			work <- k
		}
		close(work)
	}()
	// Kill the victim while it runs activations.
	testutil.CheckFor(t, 60*time.Second, 5*time.Millisecond, func() error {
		if finished() < before+3 {
			return errNotYet("the victim has not finished activations under load yet")
		}
		return nil
	})
	if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.Wait()
	killed = true
	killedAt := time.Now()
	wg.Wait()
	if len(ids) != n {
		t.Fatalf("%d of %d activations accepted", len(ids), n)
	}
	t.Logf("%d activations accepted (%d answers 429 on the way)", n, throttled)

	// Every accepted activation gets a record.
	missing := map[string]bool{}
	for _, id := range ids {
		missing[id] = true
	}
	byInvoker := map[string]int{}
	internal := 0
	testutil.CheckFor(t, 2*time.Minute, time.Second, func() error {
		for id := range missing {
			r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/"+id, guestAuth, nil)
			if r.status == http.StatusNotFound {
				continue
			}
			if r.status != http.StatusOK {
				t.Fatalf("get record %s: %d %s", id, r.status, r.body)
			}
			rec := r.json(t)
			inv, _ := annotation(rec, "invoker")
			byInvoker[fmt.Sprint(inv)]++
			if resp, _ := rec["response"].(map[string]any); resp["statusCode"] == float64(3) {
				internal++
				t.Logf("activation %s: internal error %v", id, resp["result"])
			}
			delete(missing, id)
		}
		if len(missing) > 0 {
			some := make([]string, 0, 5)
			for id := range missing {
				if len(some) == cap(some) {
					break
				}
				some = append(some, id)
			}
			return fmt.Errorf("%d of %d accepted activations have no record %v after the kill, among them %v",
				len(missing), n, time.Since(killedAt).Round(time.Second), some)
		}
		return nil
	})
	t.Logf("all %d records present %v after the kill; by invoker %v; internal errors (began on the victim) %d",
		n, time.Since(killedAt).Round(time.Millisecond), byInvoker, internal)

	// Exactly one record per activation: list them all through the API.
	count := map[string]int{}
	for skip := 0; ; skip += 200 {
		r := s.do(t, http.MethodGet, fmt.Sprintf("/api/v1/namespaces/_/activations?limit=200&skip=%d", skip), guestAuth, nil)
		if r.status != http.StatusOK {
			t.Fatalf("list activations: %d %s", r.status, r.body)
		}
		var page []map[string]any
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatalf("list activations: %v: %s", err, r.body)
		}
		for _, rec := range page {
			id, _ := rec["activationId"].(string)
			count[id]++
		}
		if len(page) < 200 {
			break
		}
	}
	dups := 0
	for _, id := range ids {
		switch c := count[id]; {
		case c == 0:
			t.Errorf("activation %s has a record by id but is not listed", id)
		case c > 1:
			dups++
			t.Logf("activation %s has %d records", id, c)
		}
	}
	t.Logf("duplicate records: %d", dups)
}
