package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

// HTTP routes (ADR 009): the management API under
// /api/v1/namespaces/{ns}/routes, and the routes themselves, served under
// RoutePrefix + "{ns}/...". A routed request becomes one blocking
// activation whose params are the request (RouteEvent) and whose result
// is the response ({statusCode, headers, body}).

// RoutePrefix is where routes are served: /r/{ns}/{path...}. It is apart
// from /api/v1 and /v1, so no route can shadow the API.
const RoutePrefix = "/r/"

// RouteEvent is what a routed action receives as its params, close to
// API Gateway's event. Header names are lower-case; repeated headers and
// query parameters are joined with ", " and "," (rawQuery keeps them
// apart). Body is the text of a textual content type (text/*, JSON, XML,
// forms, none) when valid UTF-8, else base64 with IsBase64Encoded.
type RouteEvent struct {
	Method string `json:"method"`
	// Path is the request path below /r/{ns}, e.g. "/users/42".
	Path string `json:"path"`
	// Route is the matched route's path pattern, e.g. "/users/{id}".
	Route string `json:"route"`
	// PathParams holds {name} segments and, for a "/*" route, "*": the
	// rest of the path without its leading slash.
	PathParams      map[string]string `json:"pathParams"`
	Query           map[string]string `json:"query"`
	RawQuery        string            `json:"rawQuery"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

// routeRoutes registers the route management API and the routes.
func (g *Gateway) routeRoutes(mux *http.ServeMux) {
	mux.Handle("/api/v1/namespaces/{ns}/routes", g.route(methods{http.MethodGet: g.listRoutes}))
	mux.Handle("/api/v1/namespaces/{ns}/routes/{name}", g.limitBody(g.route(methods{
		http.MethodPut:    g.putRoute,
		http.MethodGet:    g.getRoute,
		http.MethodDelete: g.deleteRoute,
	})))
	rs := &routeServer{g: g, tables: map[string]*compiledTable{}}
	mux.HandleFunc(RoutePrefix, rs.serve)
	g.routeWeb(mux)
}

// routeDoc is a route on the management API. Namespace, revision and
// updated are set by the platform (a revision sent on PUT must match).
type routeDoc struct {
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name,omitempty"`
	Methods   []string `json:"methods"`
	Path      string   `json:"path"`
	Action    string   `json:"action"`
	Public    bool     `json:"public"`
	Revision  uint64   `json:"revision,omitempty"`
	Updated   int64    `json:"updated,omitempty"`
	// URL is where the route is served, relative to the API host.
	URL string `json:"url,omitempty"`
}

func toRouteDoc(r *entity.Route) routeDoc {
	return routeDoc{Namespace: r.Namespace, Name: r.Name, Methods: nonNil(r.Methods), Path: r.Path,
		Action: r.Action, Public: r.Public, Revision: r.Revision, Updated: r.Updated,
		URL: RoutePrefix + url.PathEscape(r.Namespace) + strings.TrimSuffix(r.Path, "/*")}
}

func (g *Gateway) putRoute(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	overwrite, err := boolParam(r, "overwrite", false)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	var doc routeDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		g.writeError(w, r, fmt.Errorf("the request content was malformed: %w: %w", err, controller.ErrInvalid))
		return
	}
	rt, err := g.backend.PutRoute(r.Context(), id, controller.PutRouteRequest{
		Namespace: r.PathValue("ns"), Name: r.PathValue("name"), Methods: doc.Methods, Path: doc.Path,
		Action: doc.Action, Public: doc.Public, Overwrite: overwrite, Revision: doc.Revision,
	})
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRouteDoc(rt))
}

func (g *Gateway) getRoute(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	rt, err := g.backend.GetRoute(r.Context(), id, r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRouteDoc(rt))
}

func (g *Gateway) deleteRoute(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	rt, err := g.backend.DeleteRoute(r.Context(), id, r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRouteDoc(rt))
}

func (g *Gateway) listRoutes(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	rts, err := g.backend.ListRoutes(r.Context(), id, r.PathValue("ns"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	out := make([]routeDoc, 0, len(rts))
	for _, rt := range rts {
		out = append(out, toRouteDoc(rt))
	}
	writeJSON(w, http.StatusOK, out)
}

// compiledRoute is a route with its parsed path.
type compiledRoute struct {
	route *entity.Route
	segs  []controller.RouteSegment
}

// compiledTable is a namespace's routes, parsed, at one table revision.
type compiledTable struct {
	rev    uint64
	routes []compiledRoute
}

func compileTable(t *controller.RouteTable) *compiledTable {
	ct := &compiledTable{rev: t.Revision, routes: make([]compiledRoute, 0, len(t.Routes))}
	for _, r := range t.Routes {
		segs, err := controller.ParseRoutePath(r.Path)
		if err != nil {
			continue // the controller stores only valid paths
		}
		ct.routes = append(ct.routes, compiledRoute{route: r, segs: segs})
	}
	return ct
}

// routeMatch is the route chosen for a request and its path parameters.
type routeMatch struct {
	route  *entity.Route
	params map[string]string
}

// match picks the most specific route that serves method on path
// segments segs (already unescaped). When routes match the path but none
// serves the method, it returns nil and the methods they serve (405).
// HEAD is served by a GET route when no route names HEAD.
func (t *compiledTable) match(method string, segs []string) (*routeMatch, []string) {
	var best *compiledRoute
	var bestParams map[string]string
	var allow []string
	try := func(m string) {
		for i := range t.routes {
			cr := &t.routes[i]
			params, ok := matchSegments(cr.segs, segs)
			if !ok {
				continue
			}
			if !slices.Contains(cr.route.Methods, m) {
				allow = append(allow, cr.route.Methods...)
				continue
			}
			if best == nil || moreSpecific(cr, best) {
				best, bestParams = cr, params
			}
		}
	}
	try(method)
	if best == nil && method == http.MethodHead {
		allow = nil
		try(http.MethodGet)
	}
	if best != nil {
		return &routeMatch{route: best.route, params: bestParams}, nil
	}
	if len(allow) > 0 {
		if slices.Contains(allow, http.MethodGet) && !slices.Contains(allow, http.MethodHead) {
			allow = append(allow, http.MethodHead)
		}
		sort.Strings(allow)
		allow = slices.Compact(allow)
	}
	return nil, allow
}

// matchSegments matches a request's path segments against a route's.
func matchSegments(route []controller.RouteSegment, path []string) (map[string]string, bool) {
	params := map[string]string{}
	for i, s := range route {
		if s.Kind == controller.SegmentWildcard {
			params["*"] = strings.Join(path[i:], "/")
			return params, true
		}
		if i >= len(path) {
			return nil, false
		}
		switch s.Kind {
		case controller.SegmentLiteral:
			if path[i] != s.Value {
				return nil, false
			}
		case controller.SegmentParam:
			params[s.Value] = path[i]
		}
	}
	return params, len(path) == len(route)
}

// segmentRank orders segment kinds from most to least specific; a route
// that ends where the other goes on is the most specific of all.
func segmentRank(segs []controller.RouteSegment, i int) int {
	if i >= len(segs) {
		return -1
	}
	return segs[i].Kind // literal 0 < param 1 < wildcard 2
}

// moreSpecific reports whether a beats b: at the first segment where they
// differ, a literal beats a parameter, which beats a wildcard. Routes of
// the same shape (disjoint methods) are ordered by name.
func moreSpecific(a, b *compiledRoute) bool {
	for i := 0; i < max(len(a.segs), len(b.segs)); i++ {
		ra, rb := segmentRank(a.segs, i), segmentRank(b.segs, i)
		if ra != rb {
			return ra < rb
		}
		if ra == controller.SegmentWildcard {
			break
		}
	}
	return a.route.Name < b.route.Name
}

// routeServer serves /r/{ns}/... It keeps each namespace's compiled table
// until the table's revision changes.
type routeServer struct {
	g      *Gateway
	mu     sync.Mutex
	tables map[string]*compiledTable
}

// table returns ns's compiled routes.
func (rs *routeServer) table(r *http.Request, ns string) (*compiledTable, error) {
	t, err := rs.g.backend.RouteTable(r.Context(), ns)
	if err != nil {
		return nil, err
	}
	if len(t.Routes) == 0 {
		// Not kept: requests to made-up namespaces must not grow the map.
		rs.mu.Lock()
		delete(rs.tables, ns)
		rs.mu.Unlock()
		return &compiledTable{rev: t.Revision}, nil
	}
	rs.mu.Lock()
	ct := rs.tables[ns]
	rs.mu.Unlock()
	if ct != nil && ct.rev == t.Revision {
		return ct, nil
	}
	ct = compileTable(t)
	rs.mu.Lock()
	if old := rs.tables[ns]; old == nil || old.rev < ct.rev {
		rs.tables[ns] = ct
	}
	rs.mu.Unlock()
	return ct, nil
}

// splitPath splits an escaped path into unescaped segments, dropping
// empty ones (so "/a//b/" is "/a/b").
func splitPath(escaped string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(escaped, "/") {
		if s == "" {
			continue
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, fmt.Errorf("path segment %q: %w: %w", s, err, controller.ErrInvalid)
		}
		out = append(out, u)
	}
	return out, nil
}

func (rs *routeServer) serve(w http.ResponseWriter, r *http.Request) {
	g := rs.g
	rest := strings.TrimPrefix(r.URL.EscapedPath(), RoutePrefix)
	nsEsc, pathEsc, _ := strings.Cut(rest, "/")
	ns, err := url.PathUnescape(nsEsc)
	if err != nil || !entity.ValidName(ns) {
		g.writeError(w, r, fmt.Errorf("no namespace %q: %w", nsEsc, controller.ErrNotFound))
		return
	}
	segs, err := splitPath(pathEsc)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	t, err := rs.table(r, ns)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	reqPath := "/" + strings.Join(segs, "/")
	m, allow := t.match(r.Method, segs)
	if m == nil {
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			g.writeError(w, r, fmt.Errorf("%s %s in namespace %q: the route serves %s: %w", r.Method, reqPath, ns, strings.Join(allow, ", "), errMethodNotAllowed))
			return
		}
		g.writeError(w, r, fmt.Errorf("no route of namespace %q matches %s %s: %w", ns, r.Method, reqPath, controller.ErrNotFound))
		return
	}
	id := ownerIdentity(ns)
	if !m.route.Public {
		if id, err = g.namespaceAuth(r, ns); err != nil {
			g.writeError(w, r, err)
			return
		}
	}
	body, err := g.readRequestBody(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	ev := RouteEvent{
		Method: r.Method, Path: reqPath, Route: m.route.Path, PathParams: m.params,
		Query: joinedQuery(r.URL.Query()), RawQuery: r.URL.RawQuery,
		Headers: lowerHeaders(r.Header, !m.route.Public),
	}
	ev.Body, ev.IsBase64Encoded = encodeBody(r.Header.Get("Content-Type"), body)
	params, err := json.Marshal(&ev)
	if err != nil {
		g.writeError(w, r, fmt.Errorf("route event: %w", err))
		return
	}
	res, err := g.backend.Invoke(r.Context(), id, controller.InvokeRequest{
		Namespace: ns, Name: m.route.Action, Params: params, Blocking: true,
	})
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	g.writeRouted(w, r, res)
}

// writeRouted answers a routed request (a route or an app) with its
// activation: 202 + id while it runs, the failure's result, the result's
// {statusCode, headers, body}, or the result itself as a JSON body.
func (g *Gateway) writeRouted(w http.ResponseWriter, r *http.Request, res *controller.InvokeResult) {
	w.Header().Set(headerActivationID, res.ActivationID)
	if res.Record == nil {
		writeJSON(w, http.StatusAccepted, map[string]string{"activationId": res.ActivationID})
		return
	}
	if !actionSucceeded(w, res.Record) {
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(resultOf(res.Record), &obj); err != nil {
		writeJSON(w, http.StatusBadGateway, errorBody{Error: "the action's result is not a JSON object", Code: requestID(r.Context())})
		return
	}
	_, hasStatus := obj["statusCode"]
	_, hasHeaders := obj["headers"]
	_, hasBody := obj["body"]
	if !hasStatus && !hasHeaders && !hasBody {
		// Not an HTTP response: the result itself is the JSON body.
		writeJSON(w, http.StatusOK, resultOf(res.Record))
		return
	}
	g.writeHTTPResult(w, r, obj, http.StatusOK, "", false)
}

// ownerIdentity is whom a public route's or web action's activation is
// accounted to: the namespace (its record's subject is the namespace
// name, as OpenWhisk associates web activations with the action's owner).
func ownerIdentity(ns string) controller.Identity {
	return controller.Identity{UUID: ns, Namespace: ns}
}

// namespaceAuth requires Basic auth with a key of namespace ns. Every
// failure is 401, including a valid key of another namespace.
func (g *Gateway) namespaceAuth(r *http.Request, ns string) (controller.Identity, error) {
	id, err := g.authHTTP(r)
	if err != nil {
		return controller.Identity{}, err
	}
	if id.Namespace != ns {
		return controller.Identity{}, fmt.Errorf("the key is not one of namespace %q: %w", ns, controller.ErrUnauthenticated)
	}
	return id, nil
}

// actionSucceeded answers a failed activation (502 with its result, 500
// for an internal error) and reports whether it succeeded.
func actionSucceeded(w http.ResponseWriter, rec *activation.Record) bool {
	switch rec.Response.StatusCode {
	case activation.StatusSuccess:
		return true
	case activation.StatusApplicationError, activation.StatusDeveloperError:
		writeJSON(w, http.StatusBadGateway, resultOf(rec))
	default:
		writeJSON(w, http.StatusInternalServerError, resultOf(rec))
	}
	return false
}

// readRequestBody reads a routed request's body: at most MaxBodyBytes
// whatever the method (it becomes params, at most 1 MiB).
func (g *Gateway) readRequestBody(r *http.Request) ([]byte, error) {
	limit := g.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, fmt.Errorf("request body of %d bytes exceeds %d bytes: %w", r.ContentLength, limit, controller.ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w: %w", err, controller.ErrInvalid)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("request body exceeds %d bytes: %w", limit, controller.ErrTooLarge)
	}
	return b, nil
}

// joinedQuery flattens query parameters, joining repeated ones with ",".
func joinedQuery(q url.Values) map[string]string {
	out := make(map[string]string, len(q))
	for k, vs := range q {
		out[k] = strings.Join(vs, ",")
	}
	return out
}

// lowerHeaders flattens request headers with lower-case names, joining
// repeated ones with ", ". With secret, the Authorization header (the
// namespace's key) is left out: it must not reach params and records.
func lowerHeaders(h http.Header, secret bool) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		k = strings.ToLower(k)
		if secret && k == "authorization" {
			continue
		}
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

// textual reports whether a content type carries text.
func textual(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/x-www-form-urlencoded",
		mt == "application/javascript", mt == "application/graphql",
		mt == "application/x-yaml", mt == "application/yaml":
		return true
	}
	return false
}

// encodeBody returns a request body as text, or as base64 (true) when its
// content type is not textual or it is not valid UTF-8.
func encodeBody(contentType string, body []byte) (string, bool) {
	if textual(contentType) && utf8.Valid(body) {
		return string(body), false
	}
	return base64.StdEncoding.EncodeToString(body), true
}

// writeHTTPResult writes an action's {statusCode, headers, body} result.
// body is a string (base64 when isBase64Encoded is true or, with
// decodeBinary, when the content type is not textual, as OpenWhisk's web
// actions), or any other JSON value, sent as JSON. defaultType is the
// Content-Type of a string body without one ("": sniffed).
func (g *Gateway) writeHTTPResult(w http.ResponseWriter, r *http.Request, obj map[string]json.RawMessage, defaultStatus int, defaultType string, decodeBinary bool) {
	bad := func(msg string) {
		writeJSON(w, http.StatusBadGateway, errorBody{Error: "the action's HTTP response is invalid: " + msg, Code: requestID(r.Context())})
	}
	code := defaultStatus
	if raw, ok := obj["statusCode"]; ok && !isNull(raw) {
		n, err := strconv.Atoi(strings.Trim(string(raw), `"`))
		if err != nil || n < 100 || n > 599 {
			bad(fmt.Sprintf("statusCode %s is not an HTTP status", raw))
			return
		}
		code = n
	}
	hdr := http.Header{}
	if raw, ok := obj["headers"]; ok && !isNull(raw) {
		var hm map[string]json.RawMessage
		if err := json.Unmarshal(raw, &hm); err != nil {
			bad("headers is not an object")
			return
		}
		for k, v := range hm {
			vals, err := headerValues(v)
			if err != nil || !validHeaderName(k) {
				bad(fmt.Sprintf("header %q", k))
				return
			}
			for _, s := range vals {
				hdr.Add(k, s)
			}
		}
	}
	var isB64 bool
	if raw, ok := obj["isBase64Encoded"]; ok {
		_ = json.Unmarshal(raw, &isB64)
	}
	var body []byte
	if raw, ok := obj["body"]; ok && !isNull(raw) {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			if isB64 || (decodeBinary && hdr.Get("Content-Type") != "" && !textual(hdr.Get("Content-Type"))) {
				if body, err = base64.StdEncoding.DecodeString(s); err != nil {
					bad("body is not base64")
					return
				}
			} else {
				body = []byte(s)
				if hdr.Get("Content-Type") == "" && defaultType != "" {
					hdr.Set("Content-Type", defaultType)
				}
			}
		} else {
			// An object, array, number or boolean is sent as JSON.
			body = raw
			if hdr.Get("Content-Type") == "" {
				hdr.Set("Content-Type", "application/json")
			}
		}
	}
	for k, vs := range hdr {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Transfer-Encoding", "Connection", headerXRequestID:
			continue // the server's own
		}
		w.Header()[http.CanonicalHeaderKey(k)] = vs
	}
	if w.Header().Get("Content-Type") == "" && len(body) > 0 {
		// As net/http would, but before WriteHeader fixes the headers.
		w.Header().Set("Content-Type", http.DetectContentType(body))
	}
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

const headerXRequestID = "X-Request-Id"

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// headerValues reads a header value: a string, number or boolean, or an
// array of them (one header line each).
func headerValues(v json.RawMessage) ([]string, error) {
	var arr []json.RawMessage
	if err := json.Unmarshal(v, &arr); err == nil {
		out := make([]string, 0, len(arr))
		for _, e := range arr {
			s, err := scalarString(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := scalarString(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func scalarString(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		if strings.ContainsAny(s, "\r\n\x00") {
			return "", errors.New("control characters in a header value")
		}
		return s, nil
	}
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return "", err
	}
	switch x.(type) {
	case float64, bool:
		return strings.TrimSpace(string(v)), nil
	}
	return "", errors.New("a header value must be a string, number or boolean")
}

// validHeaderName reports an RFC 7230 token.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}
