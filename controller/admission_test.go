package controller_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/testutil"
)

// fakeClock is an admission clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// newFakeClock starts one second into a minute.
func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_040+1, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// second starts another controller on e's JetStream.
func (e *env) second(t *testing.T, cfg controller.Config) *controller.Controller {
	t.Helper()
	if cfg.GuestAuth == "" {
		cfg.GuestAuth = guestAuth
	}
	c, err := controller.New(e.ctx, e.nc, cfg, nil)
	if err != nil {
		t.Fatalf("second controller: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// outcome counts invokes that passed and that were throttled; any other
// error fails the test. Throttle messages must contain want.
type outcome struct{ ok, throttled int }

func (e *env) invokeN(t *testing.T, ctls []*controller.Controller, n int, want string) outcome {
	t.Helper()
	var o outcome
	for i := range n {
		_, err := ctls[i%len(ctls)].Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "a"})
		switch {
		case err == nil:
			o.ok++
		case errors.Is(err, controller.ErrThrottled):
			o.throttled++
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("throttle message %q does not say %q", err, want)
			}
		default:
			t.Fatalf("invoke #%d: %v", i, err)
		}
	}
	return o
}

func TestAdmissionConcurrencyOverControllers(t *testing.T) {
	for _, limit := range []int64{1, 3, 40} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			cfg := controller.Config{LimitConcurrent: limit, LimitPerMinute: controller.Unlimited}
			e := newEnv(t, cfg)
			ctls := []*controller.Controller{e.ctl, e.second(t, cfg)}
			_, err := e.ctl.PutAction(e.ctx, e.id, goAction("a", code1))
			must(t, err)

			want := fmt.Sprintf("too many concurrent activations for namespace guest: limit %d", limit)
			o := e.invokeN(t, ctls, 3*int(limit)+4, want)
			if o.ok != int(limit) {
				t.Fatalf("admitted %d over two controllers, want the limit %d (%+v)", o.ok, limit, o)
			}
			if q := e.queued(t); q != uint64(limit) {
				t.Errorf("queued %d, want %d", q, limit)
			}

			// Finished activations free their slots on both controllers.
			e.startInvoker(t)
			for _, c := range ctls {
				testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
					_, err := c.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "a"})
					return err
				})
			}
		})
	}
}

func TestAdmissionBlockingReleasesAtOnce(t *testing.T) {
	e := newEnv(t, controller.Config{LimitConcurrent: 1})
	e.startInvoker(t)
	_, err := e.ctl.PutAction(e.ctx, e.id, goAction("a", code1))
	must(t, err)
	// The result frees the slot before the call returns: back-to-back
	// blocking calls of a namespace limited to 1 all pass.
	for i := range 20 {
		res, err := e.ctl.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "a", Blocking: true, Wait: 10 * time.Second})
		must(t, err)
		if res.Record == nil {
			t.Fatalf("invoke #%d: no record", i)
		}
	}
}

func TestAdmissionRateOverControllers(t *testing.T) {
	for _, limit := range []int64{1, 5, 100} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			clock := newFakeClock()
			cfg := controller.WithClock(controller.Config{LimitConcurrent: controller.Unlimited, LimitPerMinute: limit}, clock.now)
			e := newEnv(t, cfg)
			ctls := []*controller.Controller{e.ctl, e.second(t, cfg)}
			_, err := e.ctl.PutAction(e.ctx, e.id, goAction("a", code1))
			must(t, err)

			want := fmt.Sprintf("too many invocations per minute for namespace guest: limit %d", limit)
			for minute := range 3 {
				o := e.invokeN(t, ctls, 2*int(limit)+4, want)
				if o.ok != int(limit) {
					t.Fatalf("minute %d: admitted %d over two controllers, want the limit %d (%+v)", minute, o.ok, limit, o)
				}
				// Late in the minute nothing changes; the next one starts afresh.
				clock.add(58 * time.Second)
				if o := e.invokeN(t, ctls, 2, want); o.ok != 0 {
					t.Fatalf("minute %d: %d admitted at its end", minute, o.ok)
				}
				clock.add(2 * time.Second)
			}
		})
	}
}

func TestAdmissionLeaseExpires(t *testing.T) {
	clockA, clockB := newFakeClock(), newFakeClock()
	base := controller.Config{LimitConcurrent: 2, LimitPerMinute: controller.Unlimited}
	e := newEnv(t, controller.WithClock(base, clockA.now))
	b := e.second(t, controller.WithClock(base, clockB.now))
	_, err := e.ctl.PutAction(e.ctx, e.id, goAction("a", code1))
	must(t, err)
	want := "too many concurrent activations for namespace guest: limit 2"
	if o := e.invokeN(t, []*controller.Controller{e.ctl}, 3, want); o.ok != 2 {
		t.Fatalf("a admitted %d, want 2", o.ok)
	}
	// A crashes holding the namespace's slots; they stay taken until its
	// lease expires, then B has them.
	e.ctl.Close()
	if o := e.invokeN(t, []*controller.Controller{b}, 2, want); o.ok != 0 {
		t.Fatalf("b admitted %d while a's lease lives", o.ok)
	}
	clockB.add(controller.LeaseTTL - time.Second)
	if o := e.invokeN(t, []*controller.Controller{b}, 1, want); o.ok != 0 {
		t.Fatalf("b admitted %d before a's lease expired", o.ok)
	}
	clockB.add(time.Second)
	if o := e.invokeN(t, []*controller.Controller{b}, 3, want); o.ok != 2 {
		t.Fatalf("b admitted %d after a's lease expired, want 2", o.ok)
	}
}

func TestNamespaceLimits(t *testing.T) {
	e := newEnv(t, controller.Config{})
	b := e.second(t, controller.Config{})
	_, err := e.ctl.PutAction(e.ctx, e.id, goAction("a", code1))
	must(t, err)

	get := func(c *controller.Controller, ns string) (int64, int64) {
		l := c.NamespaceLimits(ns)
		return *l.ConcurrentInvocations, *l.InvocationsPerMinute
	}
	if c, r := get(b, "guest"); c != entity.DefaultConcurrentInvocations || r != entity.DefaultInvocationsPerMinute {
		t.Fatalf("defaults = %d, %d", c, r)
	}
	one := int64(1)
	must(t, e.ctl.SetNamespaceLimits(e.ctx, "guest", entity.NamespaceLimits{ConcurrentInvocations: &one}))
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if c, r := get(b, "guest"); c != 1 || r != entity.DefaultInvocationsPerMinute {
			return fmt.Errorf("b sees %d, %d", c, r)
		}
		return nil
	})
	if c, _ := get(b, "other"); c != entity.DefaultConcurrentInvocations {
		t.Errorf("other namespace limited to %d", c)
	}
	want := "too many concurrent activations for namespace guest: limit 1"
	if o := e.invokeN(t, []*controller.Controller{b, e.ctl}, 4, want); o.ok != 1 {
		t.Fatalf("admitted %d, want 1", o.ok)
	}

	zero := int64(0)
	must(t, b.SetNamespaceLimits(e.ctx, "guest", entity.NamespaceLimits{ConcurrentInvocations: &zero, InvocationsPerMinute: &zero}))
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if c, r := get(e.ctl, "guest"); c != 0 || r != 0 {
			return fmt.Errorf("a sees %d, %d", c, r)
		}
		return nil
	})
	if o := e.invokeN(t, []*controller.Controller{b, e.ctl}, 20, want); o.ok != 20 {
		t.Fatalf("unlimited: admitted %d of 20", o.ok)
	}

	neg := int64(-1)
	for name, err := range map[string]error{
		"negative": e.ctl.SetNamespaceLimits(e.ctx, "guest", entity.NamespaceLimits{InvocationsPerMinute: &neg}),
		"bad name": e.ctl.SetNamespaceLimits(e.ctx, "bad name!", entity.NamespaceLimits{}),
	} {
		if !errors.Is(err, controller.ErrInvalid) {
			t.Errorf("%s: err = %v, want invalid", name, err)
		}
	}
}

func TestConfigLimits(t *testing.T) {
	for _, c := range []struct {
		conc, rate int64
		ok         bool
	}{{0, 0, true}, {controller.Unlimited, controller.Unlimited, true}, {5, 7, true}, {-2, 0, false}, {0, -2, false}} {
		err := controller.Config{LimitConcurrent: c.conc, LimitPerMinute: c.rate}.Validate()
		if (err == nil) != c.ok {
			t.Errorf("limits %d, %d: err = %v", c.conc, c.rate, err)
		}
	}
}

// post invokes action a through the gateway's OpenWhisk API.
func post(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", "/api/v1/namespaces/_/actions/a", strings.NewReader("{}"))
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(guestAuth)))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func errorText(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct{ Error string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	return body.Error
}

func TestAdmissionOverHTTP(t *testing.T) {
	t.Run("throttled is 429", func(t *testing.T) {
		e := newEnv(t, controller.Config{LimitConcurrent: 1})
		_, err := e.ctl.PutAction(e.ctx, e.id, goAction("a", code1))
		must(t, err)
		g, err := gateway.New(e.ctl, gateway.Config{})
		must(t, err)
		if w := post(t, g.Handler()); w.Code != http.StatusAccepted {
			t.Fatalf("first invoke: %d %s", w.Code, w.Body)
		}
		w := post(t, g.Handler())
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
			t.Fatalf("second invoke: %d %v %s", w.Code, w.Header(), w.Body)
		}
		if msg := errorText(t, w); !strings.Contains(msg, "too many concurrent activations for namespace guest: limit 1") {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("full backlog is 503 and keeps what it accepted", func(t *testing.T) {
		e := newEnv(t, controller.Config{
			LimitConcurrent: controller.Unlimited, LimitPerMinute: controller.Unlimited,
			Provision: provision.Options{ActivationsMaxMsgs: 3},
		})
		_, err := e.ctl.PutAction(e.ctx, e.id, goAction("a", code1))
		must(t, err)
		g, err := gateway.New(e.ctl, gateway.Config{})
		must(t, err)
		var ids []string
		for range 3 {
			w := post(t, g.Handler())
			if w.Code != http.StatusAccepted {
				t.Fatalf("invoke: %d %s", w.Code, w.Body)
			}
			var res struct{ ActivationID string }
			must(t, json.Unmarshal(w.Body.Bytes(), &res))
			ids = append(ids, res.ActivationID)
		}
		w := post(t, g.Handler())
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Fatalf("invoke over a full backlog: %d %v %s", w.Code, w.Header(), w.Body)
		}
		if msg := errorText(t, w); !strings.Contains(msg, "backlog is full") {
			t.Errorf("message %q", msg)
		}
		if q := e.queued(t); q != 3 {
			t.Fatalf("queued %d, want 3", q)
		}
		e.startInvoker(t)
		for _, id := range ids {
			testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
				_, err := e.ctl.GetActivation(context.Background(), e.id, "_", id)
				return err
			})
		}
		// The backlog drained: invokes pass again.
		if w := post(t, g.Handler()); w.Code != http.StatusAccepted {
			t.Fatalf("invoke after drain: %d %s", w.Code, w.Body)
		}
	})
}
