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
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if live, _, _ := rt.counts(); live != 0 {
			return fmt.Errorf("%d containers live after register, want the register container removed", live)
		}
		return nil
	})

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
	for i, want := range []struct{ endpoint, start string }{
		{"index", "cold"}, {"index", "warm"}, {"cart", "cold"}, {"cart", "warm"}, {"index", "warm"},
	} {
		if got := annotation(t, serve(want.endpoint), activation.AnnotationStart); got != want.start {
			t.Errorf("request %d to %s: start %v, want %s", i, want.endpoint, got, want.start)
		}
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
