package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

// The shared fakeBackend has no routes and no web actions; routeFake
// (below) adds them for this file's and web_test.go's tests.

func (f *fakeBackend) PutRoute(_ context.Context, id controller.Identity, req controller.PutRouteRequest) (*entity.Route, error) {
	return nil, fmt.Errorf("routes: %w", controller.ErrUnavailable)
}

func (f *fakeBackend) GetRoute(_ context.Context, id controller.Identity, ns, name string) (*entity.Route, error) {
	return nil, fmt.Errorf("route %q: %w", name, controller.ErrNotFound)
}

func (f *fakeBackend) ListRoutes(_ context.Context, id controller.Identity, ns string) ([]*entity.Route, error) {
	return []*entity.Route{}, nil
}

func (f *fakeBackend) DeleteRoute(_ context.Context, id controller.Identity, ns, name string) (*entity.Route, error) {
	return nil, fmt.Errorf("route %q: %w", name, controller.ErrNotFound)
}

func (f *fakeBackend) RouteTable(_ context.Context, ns string) (*controller.RouteTable, error) {
	return &controller.RouteTable{Namespace: ns, Routes: []*entity.Route{}}, nil
}

func (f *fakeBackend) WebAction(_ context.Context, ns, name string) (*entity.Action, error) {
	return nil, fmt.Errorf("action %q: %w", name, controller.ErrNotFound)
}

// routeFake is a Backend with routes, web actions and a scripted Invoke:
// respond turns the request into a record (nil: the wait ran out).
type routeFake struct {
	*fakeBackend
	mu      sync.Mutex
	rev     uint64
	routes  map[string]*entity.Route
	actions map[string]*entity.Action
	respond func(req controller.InvokeRequest) *activation.Record
	// last is the last invoke and its identity.
	last   controller.InvokeRequest
	lastID controller.Identity
	tables int // RouteTable calls
}

func newRouteFake(t *testing.T) (*routeFake, http.Handler) {
	t.Helper()
	f := &routeFake{fakeBackend: newFakeBackend(), routes: map[string]*entity.Route{}, actions: map[string]*entity.Action{}}
	f.respond = func(req controller.InvokeRequest) *activation.Record { return success(req.Params) }
	g, err := New(f, Config{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return f, g.Handler()
}

func success(result json.RawMessage) *activation.Record {
	return &activation.Record{Response: activation.NewResponse(activation.StatusSuccess, result)}
}

func (f *routeFake) addRoute(name, path, action string, public bool, methods ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rev++
	f.routes[name] = &entity.Route{Namespace: testNS, Name: name, Methods: methods, Path: path, Action: action, Public: public, Revision: 1}
}

func (f *routeFake) PutRoute(_ context.Context, id controller.Identity, req controller.PutRouteRequest) (*entity.Route, error) {
	if _, err := resolve(id, req.Namespace); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.routes[req.Name]; ok && !req.Overwrite {
		return nil, fmt.Errorf("route %q: %w", req.Name, controller.ErrExists)
	}
	f.rev++
	r := &entity.Route{Namespace: testNS, Name: req.Name, Methods: req.Methods, Path: req.Path, Action: req.Action, Public: req.Public, Revision: 1}
	f.routes[req.Name] = r
	return r, nil
}

func (f *routeFake) GetRoute(_ context.Context, id controller.Identity, ns, name string) (*entity.Route, error) {
	if _, err := resolve(id, ns); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.routes[name]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("route %q: %w", name, controller.ErrNotFound)
}

func (f *routeFake) ListRoutes(_ context.Context, id controller.Identity, ns string) ([]*entity.Route, error) {
	if _, err := resolve(id, ns); err != nil {
		return nil, err
	}
	t, _ := f.RouteTable(context.Background(), testNS)
	return t.Routes, nil
}

func (f *routeFake) DeleteRoute(_ context.Context, id controller.Identity, ns, name string) (*entity.Route, error) {
	if _, err := resolve(id, ns); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.routes[name]
	if !ok {
		return nil, fmt.Errorf("route %q: %w", name, controller.ErrNotFound)
	}
	f.rev++
	delete(f.routes, name)
	return r, nil
}

func (f *routeFake) RouteTable(_ context.Context, ns string) (*controller.RouteTable, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tables++
	t := &controller.RouteTable{Namespace: ns, Routes: []*entity.Route{}}
	if ns != testNS {
		return t, nil
	}
	t.Revision = f.rev
	for _, r := range f.routes {
		t.Routes = append(t.Routes, r)
	}
	sort.Slice(t.Routes, func(i, j int) bool { return t.Routes[i].Name < t.Routes[j].Name })
	return t, nil
}

func (f *routeFake) WebAction(_ context.Context, ns, name string) (*entity.Action, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.actions[ns+"/"+name]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("action %q: %w", name, controller.ErrNotFound)
}

func (f *routeFake) Invoke(_ context.Context, id controller.Identity, req controller.InvokeRequest) (*controller.InvokeResult, error) {
	if _, err := resolve(id, req.Namespace); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.last, f.lastID = req, id
	respond := f.respond
	f.mu.Unlock()
	res := &controller.InvokeResult{ActivationID: "aid1"}
	if rec := respond(req); rec != nil {
		rec.ActivationID = res.ActivationID
		res.Record = rec
	}
	return res, nil
}

func (f *routeFake) lastEvent(t *testing.T) (RouteEvent, controller.InvokeRequest, controller.Identity) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var ev RouteEvent
	if err := json.Unmarshal(f.last.Params, &ev); err != nil {
		t.Fatalf("params %s: %v", f.last.Params, err)
	}
	return ev, f.last, f.lastID
}

func do(t *testing.T, h http.Handler, method, path string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestRouteMatching(t *testing.T) {
	f, h := newRouteFake(t)
	f.addRoute("get-user", "/users/{id}", "get-user", true, "GET")
	f.addRoute("put-user", "/users/{id}", "put-user", true, "POST", "PUT")
	f.addRoute("me", "/users/me", "me", true, "GET")
	f.addRoute("list", "/users", "list", true, "GET")
	f.addRoute("files", "/files/*", "files", true, "GET")
	f.addRoute("docs", "/files/docs/*", "docs", true, "GET")
	f.addRoute("root", "/", "root", true, "GET")
	f.addRoute("order", "/users/{id}/orders/{order}", "order", true, "GET")
	for _, a := range []string{"get-user", "put-user", "me", "list", "files", "docs", "root", "order"} {
		f.fakeBackend.actions[testNS+"/"+a] = &entity.Action{Namespace: testNS, Name: a}
	}

	cases := []struct {
		method, path string
		status       int
		action       string
		params       map[string]string
		allow        string
	}{
		{"GET", "/r/guest/users/42", 200, "get-user", map[string]string{"id": "42"}, ""},
		{"GET", "/r/guest/users/me", 200, "me", map[string]string{}, ""},
		{"GET", "/r/guest/users/me/", 200, "me", map[string]string{}, ""},
		{"PUT", "/r/guest/users/7", 200, "put-user", map[string]string{"id": "7"}, ""},
		{"POST", "/r/guest/users/me", 200, "put-user", map[string]string{"id": "me"}, ""},
		{"HEAD", "/r/guest/users/42", 200, "get-user", map[string]string{"id": "42"}, ""},
		{"GET", "/r/guest/users/a%2Fb", 200, "get-user", map[string]string{"id": "a/b"}, ""},
		{"GET", "/r/guest/users/3/orders/9", 200, "order", map[string]string{"id": "3", "order": "9"}, ""},
		{"GET", "/r/guest/users", 200, "list", map[string]string{}, ""},
		{"GET", "/r/guest/files", 200, "files", map[string]string{"*": ""}, ""},
		{"GET", "/r/guest/files/a/b.txt", 200, "files", map[string]string{"*": "a/b.txt"}, ""},
		{"GET", "/r/guest/files/docs/x/y", 200, "docs", map[string]string{"*": "x/y"}, ""},
		{"GET", "/r/guest/files/docs", 200, "docs", map[string]string{"*": ""}, ""},
		{"GET", "/r/guest", 200, "root", map[string]string{}, ""},
		{"GET", "/r/guest/", 200, "root", map[string]string{}, ""},
		{"DELETE", "/r/guest/users/42", 405, "", nil, "GET, HEAD, POST, PUT"},
		{"POST", "/r/guest/files/a", 405, "", nil, "GET, HEAD"},
		{"GET", "/r/guest/users/1/2", 404, "", nil, ""},
		{"GET", "/r/guest/nothing", 404, "", nil, ""},
		{"GET", "/r/other/users/1", 404, "", nil, ""},
		{"GET", "/r/bad%20ns/users/1", 404, "", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			f.mu.Lock()
			f.last = controller.InvokeRequest{}
			f.mu.Unlock()
			w := do(t, h, tc.method, tc.path, nil, "")
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.status, w.Body.String())
			}
			if tc.status != 200 {
				if got := w.Header().Get("Allow"); got != tc.allow {
					t.Errorf("Allow = %q, want %q", got, tc.allow)
				}
				var eb errorBody
				if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error == "" || eb.Code == "" {
					t.Errorf("error body %s: %v", w.Body.String(), err)
				}
				return
			}
			ev, req, _ := f.lastEvent(t)
			if req.Name != tc.action || !req.Blocking {
				t.Errorf("invoked %q (blocking %v), want %q", req.Name, req.Blocking, tc.action)
			}
			if !reflect.DeepEqual(ev.PathParams, tc.params) {
				t.Errorf("pathParams = %v, want %v", ev.PathParams, tc.params)
			}
			if got := w.Header().Get(headerActivationID); got != "aid1" {
				t.Errorf("activation id header = %q", got)
			}
		})
	}
	// The compiled table is kept until the table changes.
	f.addRoute("late", "/late", "root", true, "GET")
	if w := do(t, h, "GET", "/r/guest/late", nil, ""); w.Code != 200 {
		t.Fatalf("new route: %d %s", w.Code, w.Body.String())
	}
}

func TestRouteEvent(t *testing.T) {
	f, h := newRouteFake(t)
	f.addRoute("u", "/users/{id}", "hello", true, "POST")
	w := do(t, h, "POST", "/r/guest/users/42?a=1&a=2&b=x%20y", map[string]string{
		"Content-Type": "application/json", "X-Custom": "v", "Authorization": "Bearer app-token",
	}, `{"name":"Ada"}`)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	ev, _, id := f.lastEvent(t)
	want := RouteEvent{
		Method: "POST", Path: "/users/42", Route: "/users/{id}", PathParams: map[string]string{"id": "42"},
		Query: map[string]string{"a": "1,2", "b": "x y"}, RawQuery: "a=1&a=2&b=x%20y",
		Body: `{"name":"Ada"}`,
	}
	got := ev
	got.Headers = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event = %+v\nwant    %+v", got, want)
	}
	if ev.Headers["x-custom"] != "v" || ev.Headers["content-type"] != "application/json" || ev.Headers["authorization"] != "Bearer app-token" {
		t.Errorf("headers = %v (a public route passes Authorization on)", ev.Headers)
	}
	if id.Namespace != testNS {
		t.Errorf("identity = %+v", id)
	}

	// Binary bodies arrive base64 encoded.
	bin := []byte{0x89, 'P', 'N', 'G', 0xff, 0x00}
	w = do(t, h, "POST", "/r/guest/users/1", map[string]string{"Content-Type": "image/png"}, string(bin))
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	ev, _, _ = f.lastEvent(t)
	if !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString(bin) {
		t.Errorf("binary body = %q base64 %v", ev.Body, ev.IsBase64Encoded)
	}
	// Text that is not UTF-8 is binary too.
	do(t, h, "POST", "/r/guest/users/1", map[string]string{"Content-Type": "text/plain"}, "\xff\xfe")
	if ev, _, _ = f.lastEvent(t); !ev.IsBase64Encoded {
		t.Errorf("invalid UTF-8 text was not base64 encoded")
	}
}

func TestRouteResponses(t *testing.T) {
	cases := []struct {
		name    string
		rec     *activation.Record // nil: the wait ran out
		method  string
		status  int
		body    string
		headers map[string]string
		multi   map[string][]string
	}{
		{name: "full response", rec: success(json.RawMessage(`{"statusCode":201,"headers":{"X-A":"1","Content-Type":"text/plain"},"body":"hi"}`)),
			status: 201, body: "hi", headers: map[string]string{"X-A": "1", "Content-Type": "text/plain"}},
		{name: "missing statusCode is 200", rec: success(json.RawMessage(`{"body":"<p>x</p>"}`)),
			status: 200, body: "<p>x</p>", headers: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{name: "base64 body", rec: success(json.RawMessage(`{"headers":{"content-type":"image/png"},"body":"aGk=","isBase64Encoded":true}`)),
			status: 200, body: "hi", headers: map[string]string{"Content-Type": "image/png"}},
		{name: "object body is JSON", rec: success(json.RawMessage(`{"statusCode":200,"body":{"a":1}}`)),
			status: 200, body: `{"a":1}`, headers: map[string]string{"Content-Type": "application/json"}},
		{name: "plain result is JSON", rec: success(json.RawMessage(`{"greeting":"hi"}`)),
			status: 200, body: `{"greeting":"hi"}` + "\n", headers: map[string]string{"Content-Type": "application/json"}},
		{name: "numeric header and repeated header", rec: success(json.RawMessage(`{"statusCode":204,"headers":{"X-N":5,"Set-Cookie":["a=1","b=2"]}}`)),
			status: 204, body: "", headers: map[string]string{"X-N": "5"}, multi: map[string][]string{"Set-Cookie": {"a=1", "b=2"}}},
		{name: "HEAD has no body", method: "HEAD", rec: success(json.RawMessage(`{"body":"hidden"}`)), status: 200, body: ""},
		{name: "bad statusCode", rec: success(json.RawMessage(`{"statusCode":99}`)), status: 502},
		{name: "header with newline", rec: success(json.RawMessage(`{"headers":{"X":"a\r\nB: c"}}`)), status: 502},
		{name: "bad base64", rec: success(json.RawMessage(`{"body":"%%%","isBase64Encoded":true}`)), status: 502},
		{name: "application error", rec: &activation.Record{Response: activation.NewResponse(activation.StatusApplicationError, activation.ErrorResult("nope"))},
			status: 502, body: `{"error":"nope"}` + "\n"},
		{name: "developer error", rec: &activation.Record{Response: activation.NewResponse(activation.StatusDeveloperError, activation.ErrorResult("crashed"))},
			status: 502, body: `{"error":"crashed"}` + "\n"},
		{name: "wait ran out", rec: nil, status: 202, body: `{"activationId":"aid1"}` + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, h := newRouteFake(t)
			f.addRoute("r", "/x", "hello", true, "GET", "HEAD")
			f.respond = func(controller.InvokeRequest) *activation.Record { return tc.rec }
			method := tc.method
			if method == "" {
				method = "GET"
			}
			w := do(t, h, method, "/r/guest/x", nil, "")
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.status, w.Body.String())
			}
			if tc.status != 502 || tc.body != "" {
				if w.Body.String() != tc.body {
					t.Errorf("body = %q, want %q", w.Body.String(), tc.body)
				}
			}
			for k, v := range tc.headers {
				if got := w.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			for k, v := range tc.multi {
				if got := w.Header().Values(k); !reflect.DeepEqual(got, v) {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if w.Header().Get(headerActivationID) != "aid1" {
				t.Errorf("no activation id header")
			}
		})
	}
}

func TestRouteAuth(t *testing.T) {
	f, h := newRouteFake(t)
	f.addRoute("private", "/p", "hello", false, "GET")
	f.addRoute("public", "/pub", "hello", true, "GET")
	cases := []struct {
		name, path, auth string
		status           int
	}{
		{"private without key", "/r/guest/p", "", 401},
		{"private with wrong key", "/r/guest/p", basic(testUUID + ":nope"), 401},
		{"private with key", "/r/guest/p", goodAuth, 200},
		{"public without key", "/r/guest/pub", "", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, h, "GET", tc.path, map[string]string{"Authorization": tc.auth}, "")
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.status, w.Body.String())
			}
			if tc.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
	do(t, h, "GET", "/r/guest/p", map[string]string{"Authorization": goodAuth}, "")
	ev, _, id := f.lastEvent(t)
	if _, ok := ev.Headers["authorization"]; ok {
		t.Errorf("a private route's key reached the action: %v", ev.Headers)
	}
	if id.UUID != testUUID {
		t.Errorf("private route invoked as %+v, want the caller", id)
	}
}

func TestRouteManagementAPI(t *testing.T) {
	f, h := newRouteFake(t)
	auth := map[string]string{"Authorization": goodAuth}
	w := do(t, h, "PUT", "/api/v1/namespaces/_/routes/get-user", auth, `{"methods":["GET"],"path":"/users/{id}","action":"hello","public":true}`)
	if w.Code != 200 || field(decode(t, w), "url") != "/r/guest/users/{id}" {
		t.Fatalf("put: %d %s", w.Code, w.Body.String())
	}
	if w := do(t, h, "PUT", "/api/v1/namespaces/_/routes/get-user", auth, `{"methods":["GET"],"path":"/u","action":"hello"}`); w.Code != 409 {
		t.Errorf("put again: %d, want 409", w.Code)
	}
	if w := do(t, h, "PUT", "/api/v1/namespaces/_/routes/get-user?overwrite=true", auth, `{"methods":["GET"],"path":"/u","action":"hello"}`); w.Code != 200 {
		t.Errorf("overwrite: %d", w.Code)
	}
	if w := do(t, h, "PUT", "/api/v1/namespaces/_/routes/x", auth, `{not json`); w.Code != 400 {
		t.Errorf("bad json: %d", w.Code)
	}
	if w := do(t, h, "GET", "/api/v1/namespaces/_/routes/get-user", auth, ""); w.Code != 200 || field(decode(t, w), "path") != "/u" {
		t.Errorf("get: %d %s", w.Code, w.Body.String())
	}
	if w := do(t, h, "GET", "/api/v1/namespaces/_/routes", auth, ""); w.Code != 200 || field(decode(t, w), "0.name") != "get-user" {
		t.Errorf("list: %d %s", w.Code, w.Body.String())
	}
	if w := do(t, h, "GET", "/api/v1/namespaces/_/routes", nil, ""); w.Code != 401 {
		t.Errorf("list without key: %d", w.Code)
	}
	if w := do(t, h, "POST", "/api/v1/namespaces/_/routes/get-user", auth, ""); w.Code != 405 {
		t.Errorf("post: %d", w.Code)
	}
	if w := do(t, h, "DELETE", "/api/v1/namespaces/_/routes/get-user", auth, ""); w.Code != 200 {
		t.Errorf("delete: %d", w.Code)
	}
	if w := do(t, h, "DELETE", "/api/v1/namespaces/_/routes/get-user", auth, ""); w.Code != 404 {
		t.Errorf("delete again: %d", w.Code)
	}
	_ = f
}

func TestRouteBodyLimit(t *testing.T) {
	f, _ := newRouteFake(t)
	f.addRoute("r", "/x", "hello", true, "POST")
	g, err := New(f, Config{Log: slog.New(slog.DiscardHandler), MaxBodyBytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/r/guest/x", io.NopCloser(strings.NewReader(strings.Repeat("x", 11))))
	r.ContentLength = -1 // unknown length: the read is what must stop
	w := httptest.NewRecorder()
	g.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", w.Code)
	}
}

// BenchmarkRouteServe measures the gateway's own cost of a routed request
// (table lookup, matching, event encoding, response) with 52 routes and an
// instant backend.
func BenchmarkRouteServe(b *testing.B) {
	f := &routeFake{fakeBackend: newFakeBackend(), routes: map[string]*entity.Route{}, actions: map[string]*entity.Action{}}
	f.respond = func(controller.InvokeRequest) *activation.Record {
		return success(json.RawMessage(`{"statusCode":200,"body":"ok"}`))
	}
	for i := range 50 {
		f.addRoute(fmt.Sprintf("other%d", i), fmt.Sprintf("/other%d/{id}/items/*", i), "hello", true, "GET")
	}
	f.addRoute("pub", "/users/{id}", "hello", true, "GET")
	g, err := New(f, Config{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	h := g.Handler()
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", "/r/guest/users/42?x=1", nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
