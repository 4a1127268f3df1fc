package invoker

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/testutil"
)

// TestAppActivations runs an app's activations (ADR 010): register on a
// throw-away container, then requests in containers specialized per
// endpoint, warm per endpoint.
func TestAppActivations(t *testing.T) {
	rt := newProtoRuntime()
	e := start(t, rt, Config{Images: map[string]string{"python:3": "img-py"}, Prewarm: map[string]int{}, MemoryMB: 1024})
	a := e.action(t, "shop", entity.KindPython, "app", entity.Limits{Memory: 128})
	a.Exec.Main = "app:app"

	reg := e.invokeApp(t, a, &activation.AppCall{Op: activation.AppRegister}, `{}`)
	if !reg.Response.Success || string(reg.Response.Result) != `{"routes":[{"methods":["GET"],"rule":"/","endpoint":"index"}]}` {
		t.Fatalf("register: %+v %s", reg.Response, reg.Response.Result)
	}
	if got := annotation(t, reg, activation.AnnotationApp); got != "shop" {
		t.Errorf("register record app annotation %v", got)
	}
	if live, _, _ := rt.counts(); live != 1 {
		t.Errorf("%d containers live after register, want the register container kept, loaded", live)
	}
	prewarmed := func(n uint64) {
		t.Helper()
		testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
			if got := e.inv.PoolStats().PolicyPrewarms; got != n {
				return fmt.Errorf("%d loaded containers prewarmed, want %d", got, n)
			}
			return nil
		})
	}

	serve := func(endpoint string) *activation.Record {
		t.Helper()
		rec := e.invokeApp(t, a, &activation.AppCall{Op: activation.AppServe, Endpoint: endpoint}, `{"path":"/"}`)
		if !rec.Response.Success {
			t.Fatalf("serve %s: %+v %s", endpoint, rec.Response, rec.Response.Result)
		}
		var res struct{ Body string }
		json.Unmarshal(rec.Response.Result, &res)
		if res.Body != endpoint {
			t.Errorf("served by a container specialized for %q, want %q", res.Body, endpoint)
		}
		if got := annotation(t, rec, activation.AnnotationEndpoint); got != endpoint {
			t.Errorf("endpoint annotation %v, want %s", got, endpoint)
		}
		return rec
	}
	// The first request to an endpoint takes a loaded container and
	// specializes it; another loaded one is started in the background.
	for i, want := range []struct {
		endpoint, start string
		prewarms        uint64
	}{
		{"index", "loaded", 1}, {"index", "warm", 1}, {"cart", "loaded", 2}, {"cart", "warm", 2}, {"index", "warm", 2},
	} {
		if got := annotation(t, serve(want.endpoint), activation.AnnotationStart); got != want.start {
			t.Errorf("request %d to %s: start %v, want %s", i, want.endpoint, got, want.start)
		}
		prewarmed(want.prewarms)
	}
	if _, starts, _ := rt.counts(); starts != 3 {
		t.Errorf("%d containers started, want 3 (register, two loaded prewarms)", starts)
	}

	// An unknown endpoint fails at /specialize: a developer error.
	bad := e.invokeApp(t, a, &activation.AppCall{Op: activation.AppServe, Endpoint: "nosuch"}, `{}`)
	if bad.Response.StatusCode != activation.StatusDeveloperError || resultError(t, bad) != `the app has no endpoint "nosuch"` {
		t.Errorf("unknown endpoint: %+v %s", bad.Response, bad.Response.Result)
	}
	// A failed /register is a developer error with the runtime's message.
	broken := e.action(t, "broken", entity.KindPython, "badregister", entity.Limits{Memory: 128})
	rec := e.invokeApp(t, broken, &activation.AppCall{Op: activation.AppRegister}, `{}`)
	if rec.Response.StatusCode != activation.StatusDeveloperError || resultError(t, rec) != "the app's /register failed: the app has no url_map" {
		t.Errorf("failed register: %+v %s", rec.Response, rec.Response.Result)
	}
}
