package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
)

func invokeWithKey(t *testing.T, h http.Handler, path string, keys ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", path, strings.NewReader(`{"a":1}`))
	r.Header.Set("Authorization", goodAuth)
	for _, k := range keys {
		r.Header.Add(headerIdempotencyKey, k)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func (f *fakeBackend) lastInvoke() (controller.InvokeRequest, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.invokes) == 0 {
		return controller.InvokeRequest{}, 0
	}
	return f.invokes[len(f.invokes)-1], len(f.invokes)
}

// The Idempotency-Key header reaches the backend from /api/v1 and /v1;
// a bad one is refused before anything is invoked.
func TestIdempotencyKeyHeader(t *testing.T) {
	for _, path := range []string{"/api/v1/namespaces/_/actions/hello", "/v1/namespaces/_/actions/hello:invoke"} {
		t.Run(path, func(t *testing.T) {
			g, f := newTestGateway(t)
			longest := strings.Repeat("~", controller.MaxIdempotencyKeyBytes)
			for _, key := range []string{"order-7", longest} {
				w := invokeWithKey(t, g.Handler(), path, key)
				req, _ := f.lastInvoke()
				if w.Code/100 != 2 || req.IdempotencyKey != key {
					t.Fatalf("key %.20q: status %d, backend got key %.20q; body %s", key, w.Code, req.IdempotencyKey, w.Body.String())
				}
			}
			w := invokeWithKey(t, g.Handler(), path)
			if req, _ := f.lastInvoke(); w.Code/100 != 2 || req.IdempotencyKey != "" {
				t.Fatalf("no key: status %d, backend got key %q", w.Code, req.IdempotencyKey)
			}
			_, before := f.lastInvoke()
			for name, keys := range map[string][]string{
				"empty":       {""},
				"too long":    {longest + "~"},
				"not ASCII":   {"clé"},
				"control":     {"a\tb"},
				"given twice": {"a", "b"},
			} {
				w := invokeWithKey(t, g.Handler(), path, keys...)
				if w.Code != http.StatusBadRequest {
					t.Errorf("%s: status %d, want 400; body %s", name, w.Code, w.Body.String())
				}
			}
			if _, after := f.lastInvoke(); after != before {
				t.Errorf("%d invokes reached the backend with bad keys", after-before)
			}
		})
	}
}

func TestIdempotencyKeyGRPC(t *testing.T) {
	s := serve(t)
	_, err := s.invoke.Invoke(authed(goodAuth), &flurryv1.InvokeRequest{Namespace: "_", Name: "hello", IdempotencyKey: "k-1"})
	if err != nil {
		t.Fatal(err)
	}
	if req, _ := s.f.lastInvoke(); req.IdempotencyKey != "k-1" {
		t.Fatalf("backend got key %q", req.IdempotencyKey)
	}
	_, err = s.invoke.Invoke(authed(goodAuth), &flurryv1.InvokeRequest{Namespace: "_", Name: "hello", IdempotencyKey: strings.Repeat("k", 256)})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("long key: %v", err)
	}
}

// invokeBackend is the fake with another Invoke.
type invokeBackend struct {
	*fakeBackend
	invoke func(ctx context.Context, id controller.Identity, req controller.InvokeRequest) (*controller.InvokeResult, error)
}

func (b *invokeBackend) Invoke(ctx context.Context, id controller.Identity, req controller.InvokeRequest) (*controller.InvokeResult, error) {
	return b.invoke(ctx, id, req)
}

func gatewayWith(t *testing.T, invoke func(context.Context, controller.Identity, controller.InvokeRequest) (*controller.InvokeResult, error)) *Gateway {
	t.Helper()
	g, err := New(&invokeBackend{fakeBackend: newFakeBackend(), invoke: invoke}, Config{Log: slog.New(slog.DiscardHandler), RetryAfter: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// What an invoke that went wrong answers: a reused key 422 on both REST
// APIs; an unanswered one 503 with Retry-After that says whether it may
// have been queued, from the controller client over a real NATS server.
func TestIdempotencyStatuses(t *testing.T) {
	nc, _ := testutil.JetStream(t)
	client := controller.NewClient(nc, 300*time.Millisecond)
	silent := false
	cases := []struct {
		name   string
		err    error
		silent bool // a controller takes the request and never answers
		key    bool
		status int
		says   string
	}{
		{name: "reused", err: fmt.Errorf("k: %w", controller.ErrKeyReused), key: true, status: http.StatusUnprocessableEntity, says: "different request"},
		{name: "unresolved", err: fmt.Errorf("k: %w", controller.ErrKeyUnresolved), key: true, status: http.StatusConflict, says: "unknown state"},
		{name: "no controller", status: http.StatusServiceUnavailable, says: "not queued"},
		{name: "no answer", silent: true, status: http.StatusServiceUnavailable, says: "may have been queued, and a retry may run it twice"},
		{name: "no answer with key", silent: true, key: true, status: http.StatusServiceUnavailable, says: "retrying with the same Idempotency-Key is safe"},
	}
	pt := t
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.silent && !silent {
				sub, err := nc.Subscribe(names.ControllerAPISubject(controller.MethodInvoke), func(*nats.Msg) {})
				if err != nil {
					t.Fatal(err)
				}
				pt.Cleanup(func() { sub.Unsubscribe() })
				if err := nc.Flush(); err != nil {
					t.Fatal(err)
				}
				silent = true
			}
			g := gatewayWith(t, func(ctx context.Context, id controller.Identity, req controller.InvokeRequest) (*controller.InvokeResult, error) {
				if tc.err != nil {
					return nil, tc.err
				}
				return client.Invoke(ctx, id, req)
			})
			for _, path := range []string{"/api/v1/namespaces/_/actions/hello", "/v1/namespaces/_/actions/hello:invoke"} {
				var keys []string
				if tc.key {
					keys = []string{"k"}
				}
				w := invokeWithKey(t, g.Handler(), path, keys...)
				if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.says) {
					t.Errorf("%s: status %d, body %s; want %d saying %q", path, w.Code, w.Body.String(), tc.status, tc.says)
				}
				if tc.status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") != "2" {
					t.Errorf("%s: Retry-After %q", path, w.Header().Get("Retry-After"))
				}
			}
		})
	}
}
