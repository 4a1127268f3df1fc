package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

// The shared fakeBackend has no apps; appFake (below) adds them.

func (f *fakeBackend) DeployApp(_ context.Context, _ controller.Identity, req controller.DeployAppRequest) (*entity.App, error) {
	return nil, fmt.Errorf("app %q: %w", req.Name, controller.ErrUnavailable)
}

func (f *fakeBackend) GetApp(_ context.Context, _ controller.Identity, _, name string) (*entity.App, error) {
	return nil, fmt.Errorf("app %q: %w", name, controller.ErrNotFound)
}

func (f *fakeBackend) ListApps(context.Context, controller.Identity, string) ([]*entity.App, error) {
	return []*entity.App{}, nil
}

func (f *fakeBackend) DeleteApp(_ context.Context, _ controller.Identity, _, name string) (*entity.App, error) {
	return nil, fmt.Errorf("app %q: %w", name, controller.ErrNotFound)
}

func (f *fakeBackend) App(_ context.Context, name string) (*entity.App, error) {
	return nil, fmt.Errorf("app %q: %w", name, controller.ErrNotFound)
}

func (f *fakeBackend) InvokeApp(_ context.Context, req controller.AppRequest) (*controller.InvokeResult, error) {
	return nil, fmt.Errorf("app %q: %w", req.App, controller.ErrNotFound)
}

// appFake holds apps in memory and answers app requests with respond.
type appFake struct {
	*fakeBackend
	mu      sync.Mutex
	apps    map[string]*entity.App
	deploys []controller.DeployAppRequest
	invokes []controller.AppRequest
	respond func(req controller.AppRequest) *activation.Record
}

func newAppFake(t *testing.T) (*appFake, http.Handler) {
	t.Helper()
	f := &appFake{fakeBackend: newFakeBackend(), apps: map[string]*entity.App{}}
	f.respond = func(controller.AppRequest) *activation.Record {
		return success(json.RawMessage(`{"statusCode":200,"headers":{"Content-Type":["text/plain"]},"body":"ok"}`))
	}
	g, err := New(f, Config{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return f, g.Handler()
}

// shop is an app with the route shapes the gateway must tell apart.
func shop(rev uint64) *entity.App {
	return &entity.App{Namespace: testNS, Name: "shop", Revision: rev, Registration: "reg1",
		Action: entity.Action{Namespace: testNS, Name: "shop", Version: "0.0.1", Exec: entity.Exec{Kind: entity.KindPython, Main: "app:app"}},
		Routes: []entity.AppRoute{
			{Methods: []string{"GET", "HEAD", "OPTIONS"}, Rule: "/", Endpoint: "index", Path: "/"},
			{Methods: []string{"GET", "HEAD", "OPTIONS"}, Rule: "/items/<int:id>", Endpoint: "item", Path: "/items/{id}"},
			{Methods: []string{"GET", "HEAD", "OPTIONS"}, Rule: "/items/new", Endpoint: "new_item", Path: "/items/new"},
			{Methods: []string{"OPTIONS", "POST"}, Rule: "/cart", Endpoint: "cart", Path: "/cart"},
			{Methods: []string{"GET", "HEAD", "OPTIONS"}, Rule: "/static/<path:filename>", Endpoint: "static", Path: "/static/*"},
		}}
}

func (f *appFake) DeployApp(_ context.Context, id controller.Identity, req controller.DeployAppRequest) (*entity.App, error) {
	if _, err := resolve(id, req.Namespace); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deploys = append(f.deploys, req)
	if strings.Contains(string(req.Code), "syntax error") {
		return nil, fmt.Errorf("app %q: %w: the app did not load or register (activation a9): SyntaxError", req.Name, controller.ErrInvalid)
	}
	a := shop(uint64(len(f.deploys)))
	a.Name = req.Name
	f.apps[req.Name] = a
	return a, nil
}

func (f *appFake) GetApp(_ context.Context, id controller.Identity, ns, name string) (*entity.App, error) {
	if _, err := resolve(id, ns); err != nil {
		return nil, err
	}
	return f.App(context.Background(), name)
}

func (f *appFake) ListApps(_ context.Context, id controller.Identity, ns string) ([]*entity.App, error) {
	if _, err := resolve(id, ns); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*entity.App
	for _, a := range f.apps {
		out = append(out, a)
	}
	return out, nil
}

func (f *appFake) DeleteApp(ctx context.Context, id controller.Identity, ns, name string) (*entity.App, error) {
	a, err := f.GetApp(ctx, id, ns, name)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	delete(f.apps, name)
	f.mu.Unlock()
	return a, nil
}

func (f *appFake) App(_ context.Context, name string) (*entity.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.apps[name]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("app %q: %w", name, controller.ErrNotFound)
}

func (f *appFake) InvokeApp(_ context.Context, req controller.AppRequest) (*controller.InvokeResult, error) {
	f.mu.Lock()
	f.invokes = append(f.invokes, req)
	respond := f.respond
	f.mu.Unlock()
	res := &controller.InvokeResult{ActivationID: "aid2"}
	if rec := respond(req); rec != nil {
		rec.ActivationID = res.ActivationID
		res.Record = rec
	}
	return res, nil
}

func (f *appFake) lastInvoke(t *testing.T) (controller.AppRequest, AppEvent) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.invokes) == 0 {
		t.Fatal("the app was not invoked")
	}
	req := f.invokes[len(f.invokes)-1]
	var ev AppEvent
	if err := json.Unmarshal(req.Params, &ev); err != nil {
		t.Fatalf("params %s: %v", req.Params, err)
	}
	return req, ev
}

func TestAppServing(t *testing.T) {
	f, h := newAppFake(t)
	f.apps["shop"] = shop(7)

	cases := []struct {
		method, path string
		endpoint     string
		appPath      string
	}{
		{"GET", "/apps/shop/", "index", "/"},
		{"GET", "/apps/shop", "index", "/"},
		{"GET", "/apps/shop/items/42", "item", "/items/42"},
		{"GET", "/apps/shop/items/new", "new_item", "/items/new"}, // literal beats {id}
		{"HEAD", "/apps/shop/items/3", "item", "/items/3"},
		{"POST", "/apps/shop/cart", "cart", "/cart"},
		{"GET", "/apps/shop/static/css/site.css", "static", "/static/css/site.css"},
		{"GET", "/apps/shop/items/a%20b", "item", "/items/a%20b"},
		{"GET", "/apps/shop/items/a%2Fb", "item", "/items/a%2Fb"},
	}
	for _, c := range cases {
		w := do(t, h, c.method, c.path, map[string]string{"Cookie": "sid=1; theme=dark", "X-Trace": "t1"}, "")
		if w.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", c.method, c.path, w.Code, w.Body)
		}
		req, ev := f.lastInvoke(t)
		if req.App != "shop" || req.Revision != 7 || req.Endpoint != c.endpoint {
			t.Errorf("%s %s: invoked %+v, want endpoint %s at revision 7", c.method, c.path, req, c.endpoint)
		}
		if ev.Path != c.appPath || ev.ScriptName != "/apps/shop" || ev.Method != c.method {
			t.Errorf("%s %s: event path %q script %q method %q", c.method, c.path, ev.Path, ev.ScriptName, ev.Method)
		}
		if ev.Headers["cookie"] != "sid=1; theme=dark" || ev.Headers["x-trace"] != "t1" {
			t.Errorf("%s %s: headers %v", c.method, c.path, ev.Headers)
		}
		if w.Header().Get(headerActivationID) != "aid2" {
			t.Errorf("%s %s: no activation id header", c.method, c.path)
		}
	}
}

func TestAppResponse(t *testing.T) {
	f, h := newAppFake(t)
	f.apps["shop"] = shop(1)
	f.respond = func(controller.AppRequest) *activation.Record {
		return success(json.RawMessage(`{"statusCode":201,"headers":{"Content-Type":["application/json"],"Set-Cookie":["a=1; Path=/","b=2; Path=/"]},"body":"{\"ok\":true}"}`))
	}
	w := do(t, h, "POST", "/apps/shop/cart?x=1&x=2", map[string]string{"Content-Type": "application/json"}, `{"sku":"p1"}`)
	if w.Code != http.StatusCreated || w.Body.String() != `{"ok":true}` {
		t.Fatalf("got %d %q", w.Code, w.Body)
	}
	if got := w.Header().Values("Set-Cookie"); !slices.Equal(got, []string{"a=1; Path=/", "b=2; Path=/"}) {
		t.Errorf("Set-Cookie %q, want both cookies apart", got)
	}
	_, ev := f.lastInvoke(t)
	if ev.Body != `{"sku":"p1"}` || ev.IsBase64Encoded || ev.RawQuery != "x=1&x=2" {
		t.Errorf("event body %q b64 %v query %q", ev.Body, ev.IsBase64Encoded, ev.RawQuery)
	}

	// A failing activation is a 502 with its error, not the app's page.
	f.respond = func(controller.AppRequest) *activation.Record {
		return &activation.Record{Response: activation.NewResponse(activation.StatusDeveloperError, activation.ErrorResult("crashed"))}
	}
	if w := do(t, h, "GET", "/apps/shop/", nil, ""); w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "crashed") {
		t.Errorf("failed activation: %d %s", w.Code, w.Body)
	}
	// A wait that ran out is a 202 with the id.
	f.respond = func(controller.AppRequest) *activation.Record { return nil }
	if w := do(t, h, "GET", "/apps/shop/", nil, ""); w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), "aid2") {
		t.Errorf("no record: %d %s", w.Code, w.Body)
	}
}

func TestAppNotServed(t *testing.T) {
	f, h := newAppFake(t)
	f.apps["shop"] = shop(1)
	cases := []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/apps/nosuch/", http.StatusNotFound, ""},
		{"GET", "/apps/", http.StatusNotFound, ""},
		{"GET", "/apps/shop/nothing/here", http.StatusNotFound, ""},
		{"GET", "/apps/shop/items", http.StatusNotFound, ""},
		{"DELETE", "/apps/shop/cart", http.StatusMethodNotAllowed, "OPTIONS, POST"},
	}
	for _, c := range cases {
		w := do(t, h, c.method, c.path, nil, "")
		if w.Code != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, w.Code, w.Body, c.code)
		}
		if w.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, w.Header().Get("Allow"), c.allow)
		}
	}
	if len(f.invokes) != 0 {
		t.Errorf("%d activations for requests no route serves", len(f.invokes))
	}
	big := strings.Repeat("x", DefaultMaxBodyBytes+1)
	if w := do(t, h, "POST", "/apps/shop/cart", nil, big); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize body: %d", w.Code)
	}
}

// A redeploy is picked up at its new revision: the gateway's compiled
// table follows the app's revision.
func TestAppRedeploySwapsRoutes(t *testing.T) {
	f, h := newAppFake(t)
	f.apps["shop"] = shop(1)
	if w := do(t, h, "POST", "/apps/shop/cart", nil, ""); w.Code != http.StatusOK {
		t.Fatalf("before: %d", w.Code)
	}
	next := shop(2)
	next.Routes = next.Routes[:1] // only the index is left
	f.mu.Lock()
	f.apps["shop"] = next
	f.mu.Unlock()
	if w := do(t, h, "POST", "/apps/shop/cart", nil, ""); w.Code != http.StatusNotFound {
		t.Errorf("removed route: %d, want 404", w.Code)
	}
	if w := do(t, h, "GET", "/apps/shop/", nil, ""); w.Code != http.StatusOK {
		t.Errorf("kept route: %d", w.Code)
	}
	if req, _ := f.lastInvoke(t); req.Revision != 2 {
		t.Errorf("served revision %d, want 2", req.Revision)
	}
}

func TestAppManagementAPI(t *testing.T) {
	f, h := newAppFake(t)
	auth := map[string]string{"Authorization": basic(testAuth)}
	w := do(t, h, "PUT", "/api/v1/namespaces/_/apps/shop", auth, `{"kind":"python:3","code":"UEsDBA==","binary":true}`)
	if w.Code != http.StatusOK {
		t.Fatalf("deploy: %d %s", w.Code, w.Body)
	}
	var doc appDoc
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Name != "shop" || doc.URL != "/apps/shop/" || len(doc.Routes) != 5 || doc.Registration != "reg1" || doc.Main != "app:app" {
		t.Errorf("deploy answered %+v", doc)
	}
	if d := f.deploys[0]; d.Namespace != "_" || string(d.Code) != "UEsDBA==" || !d.Binary || d.Kind != "python:3" {
		t.Errorf("deploy request %+v", d)
	}
	for _, c := range []struct {
		method, path, body string
		hdr                map[string]string
		code               int
	}{
		{"GET", "/api/v1/namespaces/_/apps/shop", "", auth, http.StatusOK},
		{"GET", "/api/v1/namespaces/_/apps", "", auth, http.StatusOK},
		{"GET", "/api/v1/namespaces/_/apps/shop", "", nil, http.StatusUnauthorized},
		{"GET", "/api/v1/namespaces/other/apps/shop", "", auth, http.StatusForbidden},
		{"PUT", "/api/v1/namespaces/_/apps/bad", `{"code":`, auth, http.StatusBadRequest},
		{"PUT", "/api/v1/namespaces/_/apps/bad", `{"kind":"python:3"}`, auth, http.StatusBadRequest},
		{"PUT", "/api/v1/namespaces/_/apps/bad", `{"code":"syntax error"}`, auth, http.StatusBadRequest},
		{"POST", "/api/v1/namespaces/_/apps/shop", "", auth, http.StatusMethodNotAllowed},
		{"DELETE", "/api/v1/namespaces/_/apps/shop", "", auth, http.StatusOK},
		{"GET", "/api/v1/namespaces/_/apps/shop", "", auth, http.StatusNotFound},
		{"DELETE", "/api/v1/namespaces/_/apps/shop", "", auth, http.StatusNotFound},
	} {
		w := do(t, h, c.method, c.path, c.hdr, c.body)
		if w.Code != c.code {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, w.Code, w.Body, c.code)
		}
	}
	if w := do(t, h, "GET", "/apps/shop/", nil, ""); w.Code != http.StatusNotFound {
		t.Errorf("deleted app still served: %d", w.Code)
	}
}
