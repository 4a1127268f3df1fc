package controller_test

import (
	"testing"
	"time"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/testutil"
)

// Serve's stop lets a blocking invoke in flight get its result, within
// the drain timeout, and past it ends the wait with a 202-style result.
func TestServeStopDrains(t *testing.T) {
	for _, tc := range []struct {
		name    string
		drain   time.Duration
		release bool // the action finishes while stop drains
	}{
		{"finishes within the drain", 20 * time.Second, true},
		{"drain times out", 300 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, controller.Config{DrainTimeout: tc.drain})
			gate, started := make(chan struct{}), make(chan struct{}, 1)
			e.startInvokerWith(t, func(m *activation.Message) activation.Response {
				started <- struct{}{}
				<-gate
				return activation.NewResponse(activation.StatusSuccess, m.Params)
			})
			defer func() {
				if !tc.release {
					close(gate)
				}
			}()
			stop, err := controller.Serve(e.ctx, e.nc, e.ctl)
			if err != nil {
				t.Fatal(err)
			}
			nc2, err := testutil.Connect(e.url)
			if err != nil {
				t.Fatal(err)
			}
			defer nc2.Close()
			client := controller.NewClient(nc2, 5*time.Second)
			_, err = client.PutAction(e.ctx, e.id, goAction("slow", code1))
			must(t, err)

			type result struct {
				res *controller.InvokeResult
				err error
			}
			done := make(chan result, 1)
			go func() {
				res, err := client.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "slow", Params: raw(map[string]any{"n": 1}), Blocking: true})
				done <- result{res, err}
			}()
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("the activation did not start")
			}
			stopped := make(chan struct{})
			t0 := time.Now()
			go func() { stop(); close(stopped) }()
			if tc.release {
				select {
				case <-stopped:
					t.Fatal("stop returned with a request in flight")
				case <-time.After(200 * time.Millisecond):
				}
				close(gate)
			}
			select {
			case <-stopped:
			case <-time.After(tc.drain + 10*time.Second):
				t.Fatal("stop did not return")
			}
			r := <-done
			must(t, r.err)
			if tc.release && (r.res.Record == nil || !r.res.Record.Response.Success) {
				t.Fatalf("drained invoke: %+v", r.res)
			}
			if !tc.release {
				if r.res.Record != nil || r.res.ActivationID == "" {
					t.Fatalf("invoke past the drain timeout: %+v, want its id without a record", r.res)
				}
				if d := time.Since(t0); d > tc.drain+5*time.Second {
					t.Fatalf("stop took %v with a drain timeout of %v", d, tc.drain)
				}
			}
		})
	}
}
