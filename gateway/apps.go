package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/entity"
)

// Web apps (ADR 010): the management API under
// /api/v1/namespaces/{ns}/apps, and the apps themselves, served under
// AppPrefix + "{app}/...". A request to an app is matched against the
// app's registered routes here (404 and 405 are answered without an
// activation) and becomes one blocking activation of the app's code in a
// container specialized for the matched endpoint.

// AppPrefix is where apps are served: /apps/{app}/{path...}.
const AppPrefix = "/apps/"

// AppEvent is what an app's runtime receives as params: the route event
// plus the path the app is mounted at (WSGI's SCRIPT_NAME). Unlike a
// route's, Path is the request path below the mount point as sent,
// percent-encoded.
type AppEvent struct {
	RouteEvent
	ScriptName string `json:"scriptName"`
}

// routeApps registers the app management API and the apps.
func (g *Gateway) routeApps(mux *http.ServeMux) {
	mux.Handle("/api/v1/namespaces/{ns}/apps", g.route(methods{http.MethodGet: g.listApps}))
	mux.Handle("/api/v1/namespaces/{ns}/apps/{name}", g.limitBody(g.route(methods{
		http.MethodPut:    g.deployApp,
		http.MethodGet:    g.getApp,
		http.MethodDelete: g.deleteApp,
	})))
	as := &appServer{g: g, apps: map[string]*compiledApp{}}
	mux.HandleFunc(AppPrefix, as.serve)
}

// appDoc is an app on the management API.
type appDoc struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Kind      string            `json:"kind"`
	Main      string            `json:"main"`
	Version   string            `json:"version"`
	Updated   int64             `json:"updated"`
	Limits    entity.Limits     `json:"limits"`
	Routes    []entity.AppRoute `json:"routes"`
	// Registration is the id of the activation that ran /register.
	Registration string `json:"registration"`
	// URL is where the app is served, relative to the API host.
	URL string `json:"url"`
}

func toAppDoc(a *entity.App) appDoc {
	routes := a.Routes
	if routes == nil {
		routes = []entity.AppRoute{}
	}
	return appDoc{Namespace: a.Namespace, Name: a.Name, Kind: a.Action.Exec.Kind, Main: a.Action.Exec.Main,
		Version: a.Action.Version, Updated: a.Updated, Limits: a.Action.Limits, Routes: routes,
		Registration: a.Registration, URL: AppPrefix + url.PathEscape(a.Name) + "/"}
}

// deployBody is the body of PUT .../apps/{name}.
type deployBody struct {
	Kind string `json:"kind"`
	Main string `json:"main"`
	// Code is base64 of a zip when Binary, else a one-file app's source.
	Code   string        `json:"code"`
	Binary bool          `json:"binary"`
	Limits entity.Limits `json:"limits"`
}

func (g *Gateway) deployApp(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	var doc deployBody
	if err := json.Unmarshal(body, &doc); err != nil {
		g.writeError(w, r, fmt.Errorf("the request content was malformed: %w: %w", err, controller.ErrInvalid))
		return
	}
	if doc.Code == "" {
		g.writeError(w, r, fmt.Errorf("an app needs code: %w", controller.ErrInvalid))
		return
	}
	a, err := g.backend.DeployApp(r.Context(), id, controller.DeployAppRequest{
		Namespace: r.PathValue("ns"), Name: r.PathValue("name"), Kind: doc.Kind, Main: doc.Main,
		Code: []byte(doc.Code), Binary: doc.Binary, Limits: doc.Limits,
	})
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAppDoc(a))
}

func (g *Gateway) getApp(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	a, err := g.backend.GetApp(r.Context(), id, r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAppDoc(a))
}

func (g *Gateway) deleteApp(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	a, err := g.backend.DeleteApp(r.Context(), id, r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAppDoc(a))
}

func (g *Gateway) listApps(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	apps, err := g.backend.ListApps(r.Context(), id, r.PathValue("ns"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	out := make([]appDoc, 0, len(apps))
	for _, a := range apps {
		out = append(out, toAppDoc(a))
	}
	writeJSON(w, http.StatusOK, out)
}

// compiledApp is an app's route table, parsed, at one app revision. Each
// route's Action is its endpoint; its Name keeps the app's rule order for
// ties between routes of the same shape.
type compiledApp struct {
	app   *entity.App
	table *compiledTable
}

func compileApp(a *entity.App) *compiledApp {
	t := &controller.RouteTable{Namespace: a.Namespace, Revision: a.Revision}
	for i, r := range a.Routes {
		t.Routes = append(t.Routes, &entity.Route{
			Namespace: a.Namespace, Name: fmt.Sprintf("%06d", i), Methods: r.Methods, Path: r.Path, Action: r.Endpoint, Public: true,
		})
	}
	return &compiledApp{app: a, table: compileTable(t)}
}

// appServer serves /apps/{app}/... It keeps each app's compiled table
// until the app's revision changes.
type appServer struct {
	g    *Gateway
	mu   sync.Mutex
	apps map[string]*compiledApp
}

// app returns app name, compiled.
func (as *appServer) app(r *http.Request, name string) (*compiledApp, error) {
	a, err := as.g.backend.App(r.Context(), name)
	if err != nil {
		// Misses are not kept: made-up names must not grow the map, and a
		// deleted app's table is dropped.
		as.mu.Lock()
		delete(as.apps, name)
		as.mu.Unlock()
		return nil, err
	}
	as.mu.Lock()
	ca := as.apps[name]
	as.mu.Unlock()
	if ca != nil && ca.app.Revision == a.Revision {
		return ca, nil
	}
	ca = compileApp(a)
	as.mu.Lock()
	if old := as.apps[name]; old == nil || old.app.Revision < a.Revision {
		as.apps[name] = ca
	}
	as.mu.Unlock()
	return ca, nil
}

func (as *appServer) serve(w http.ResponseWriter, r *http.Request) {
	g := as.g
	rest := strings.TrimPrefix(r.URL.EscapedPath(), AppPrefix)
	nameEsc, pathEsc, _ := strings.Cut(rest, "/")
	name, err := url.PathUnescape(nameEsc)
	if err != nil || name == "" {
		g.writeError(w, r, fmt.Errorf("no app %q: %w", nameEsc, controller.ErrNotFound))
		return
	}
	segs, err := splitPath(pathEsc)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	ca, err := as.app(r, name)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	reqPath := "/" + strings.Join(segs, "/")
	m, allow := ca.table.match(r.Method, segs)
	if m == nil {
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			g.writeError(w, r, fmt.Errorf("%s %s of app %q: the route serves %s: %w", r.Method, reqPath, name, strings.Join(allow, ", "), errMethodNotAllowed))
			return
		}
		g.writeError(w, r, fmt.Errorf("no route of app %q matches %s %s: %w", name, r.Method, reqPath, controller.ErrNotFound))
		return
	}
	body, err := g.readRequestBody(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	// The app gets its own path (below the mount point) as it was sent:
	// still percent-encoded (the runtime decodes it once, as WSGI wants,
	// so an encoded "/" stays apart from a separator) and with its
	// trailing slash (a router may tell /items from /items/).
	appPath := "/" + pathEsc
	ev := AppEvent{
		RouteEvent: RouteEvent{
			Method: r.Method, Path: appPath, Route: m.route.Path, PathParams: m.params,
			Query: joinedQuery(r.URL.Query()), RawQuery: r.URL.RawQuery,
			Headers: lowerHeaders(r.Header, false),
		},
		ScriptName: AppPrefix + nameEsc,
	}
	if h := r.Host; h != "" {
		ev.Headers["host"] = h
	}
	if cs := r.Header.Values("Cookie"); len(cs) > 1 {
		ev.Headers["cookie"] = strings.Join(cs, "; ") // RFC 6265: one line, "; " apart
	}
	ev.Body, ev.IsBase64Encoded = encodeBody(r.Header.Get("Content-Type"), body)
	params, err := json.Marshal(&ev)
	if err != nil {
		g.writeError(w, r, fmt.Errorf("app event: %w", err))
		return
	}
	res, err := g.backend.InvokeApp(r.Context(), controller.AppRequest{
		App: name, Revision: ca.app.Revision, Endpoint: m.route.Action, Params: params,
	})
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	g.writeRouted(w, r, res)
}
