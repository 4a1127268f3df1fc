package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/testutil"
)

// TestDistributed runs controller, gateway and invoker as separate
// processes against the NATS server of a standalone (any NATS server with
// JetStream would do), and invokes through that separate gateway.
func TestDistributed(t *testing.T) {
	s := startSystem(t, "")
	rt := "process"
	if dockerReachable() {
		rt = "docker"
	}
	a := freeAddrs(t, 2)
	ctlOut := startComponent(t, append([]string{"controller"}, s.natsArgs(broker.RoleController)...)...)
	invOut := startComponent(t, append([]string{"invoker", "--id", "second", "--runtime", rt, "--work-dir", t.TempDir()}, s.natsArgs(broker.RoleInvoker)...)...)
	gwOut := startComponent(t, append([]string{"gateway", "--api-listen", a[0], "--grpc-listen", a[1]}, s.natsArgs(broker.RoleGateway)...)...)

	gw := &system{t: t, api: "http://" + a[0]}
	// Up means the gateway answers and a controller serves it over NATS.
	testutil.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		req, _ := http.NewRequest(http.MethodGet, gw.api+"/api/v1/namespaces/_/actions", nil)
		user, key, _ := strings.Cut(guestAuth, ":")
		req.SetBasicAuth(user, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("separate gateway and controller not serving yet: %d", resp.StatusCode)
		}
		return nil
	})
	// One action per partition: each invoker owns some (ADR 004).
	actions := partitionActions("dist")
	for _, a := range actions {
		gw.createAction(t, a, "hello", nil)
	}
	seen := map[string]bool{}
	next := 0
	// Activations through the separate gateway and controller run on either invoker.
	testutil.CheckFor(t, 60*time.Second, 10*time.Millisecond, func() error {
		next++
		r := gw.invoke(t, actions[next%len(actions)], map[string]any{"name": "Dist"}, "blocking=true")
		if r.status != http.StatusOK {
			t.Fatalf("invoke through the separate gateway: %d %s\ncontroller:\n%s\ngateway:\n%s", r.status, r.body, ctlOut.String(), gwOut.String())
		}
		inv, _ := annotation(r.json(t), "invoker")
		seen[inv.(string)] = true
		if !seen["second"] {
			return errNotYet("the separate invoker has not run an activation yet")
		}
		return nil
	})
	if !strings.Contains(invOut.String(), "invoker running") {
		t.Fatalf("invoker output:\n%s", invOut.String())
	}
	// Bad input travels back through the NATS hop with the same status.
	if r := gw.invoke(t, "missing", nil, "blocking=true"); r.status != http.StatusNotFound {
		t.Fatalf("unknown action through the separate gateway: %d %s", r.status, r.body)
	}
	// Each process connected as its own role and needed nothing more.
	for name, out := range map[string]string{"controller": ctlOut.String(), "invoker": invOut.String(), "gateway": gwOut.String()} {
		if strings.Contains(out, roleViolation) {
			t.Fatalf("NATS refused the %s something:\n%s", name, out)
		}
	}
}

type errNotYet string

func (e errNotYet) Error() string { return string(e) }
