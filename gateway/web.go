package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

// OpenWhisk web actions: /api/v1/web/{ns}/{pkg}/{action}[.{ext}][/{path}],
// served without a key for actions annotated web-export, with OpenWhisk's
// parameters (__ow_method, __ow_headers, __ow_path, __ow_query, __ow_body,
// __ow_user) and content extensions (docs/webactions.md of OpenWhisk).

// Annotations of web actions.
const (
	AnnotationWebExport        = "web-export"
	AnnotationRawHTTP          = "raw-http"
	AnnotationRequireWhiskAuth = "require-whisk-auth"
)

// headerRequireWhiskAuth carries the secret of a web action whose
// require-whisk-auth annotation is a string or number.
const headerRequireWhiskAuth = "X-Require-Whisk-Auth"

// defaultPackage names "no package" in a web action's path.
const defaultPackage = "default"

// webExtensions maps content extensions to the media type of a projected
// text result; "json" and "http" are handled apart.
var webExtensions = map[string]string{
	"json": "application/json",
	"http": "",
	"html": "text/html; charset=utf-8",
	"text": "text/plain; charset=utf-8",
	"svg":  "image/svg+xml",
}

// webMethods are the HTTP methods a web action answers.
var webMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

func (g *Gateway) routeWeb(mux *http.ServeMux) {
	mux.HandleFunc("/api/v1/web/{ns}/{pkg}/{rest...}", g.webAction)
}

// errWebNotFound is OpenWhisk's answer for anything that is not a
// web-exported action: it says nothing about whether the action exists.
func errWebNotFound(ns, pkg, name string) error {
	return fmt.Errorf("web action %s/%s/%s: %w", ns, pkg, name, controller.ErrNotFound)
}

// splitWebName splits "name.ext" into the action name and a known
// extension ("http" when there is none).
func splitWebName(s string) (name, ext string) {
	if i := strings.LastIndexByte(s, '.'); i > 0 {
		if _, ok := webExtensions[s[i+1:]]; ok {
			return s[:i], s[i+1:]
		}
	}
	return s, "http"
}

// annotation returns the value of annotation key (nil when absent).
func annotation(a *entity.Action, key string) json.RawMessage {
	for _, kv := range a.Annotations {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// truthy reads a boolean annotation as OpenWhisk's CLI writes them
// (true, or "true"/"yes" from older clients).
func truthy(v json.RawMessage) bool {
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return strings.EqualFold(s, "true") || strings.EqualFold(s, "yes")
	}
	return false
}

func (g *Gateway) webAction(w http.ResponseWriter, r *http.Request) {
	ns, pkg := r.PathValue("ns"), r.PathValue("pkg")
	first, projection, _ := strings.Cut(r.PathValue("rest"), "/")
	name, ext := splitWebName(first)
	if !slices.Contains(webMethods, r.Method) {
		w.Header().Set("Allow", strings.Join(webMethods, ", "))
		g.writeError(w, r, fmt.Errorf("%s on a web action: %w", r.Method, errMethodNotAllowed))
		return
	}
	if pkg != defaultPackage || ns == "_" || !entity.ValidName(ns) || !entity.ValidName(name) {
		// Flurry has no packages; OpenWhisk needs an explicit namespace.
		g.writeError(w, r, errWebNotFound(ns, pkg, name))
		return
	}
	a, err := g.backend.WebAction(r.Context(), ns, name)
	if errors.Is(err, controller.ErrNotFound) || (err == nil && !truthy(annotation(a, AnnotationWebExport))) {
		g.writeError(w, r, errWebNotFound(ns, pkg, name))
		return
	}
	if err != nil {
		g.writeError(w, r, err)
		return
	}

	id := ownerIdentity(ns)
	var user string
	secret := false
	if req := annotation(a, AnnotationRequireWhiskAuth); req != nil && !isNull(req) {
		var b bool
		if json.Unmarshal(req, &b) == nil {
			if b {
				if id, err = g.namespaceAuth(r, ns); err != nil {
					g.writeError(w, r, err)
					return
				}
				user, secret = id.Namespace, true
			}
		} else {
			want := string(req)
			var s string
			if json.Unmarshal(req, &s) == nil {
				want = s
			}
			if got := r.Header.Get(headerRequireWhiskAuth); got == "" || got != want {
				g.writeError(w, r, fmt.Errorf("web action %s/%s: missing or wrong %s: %w", ns, name, headerRequireWhiskAuth, controller.ErrUnauthenticated))
				return
			}
		}
	}

	body, err := g.readRequestBody(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	params, err := webParams(r, a, body, "/"+projection, user, secret)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	res, err := g.backend.Invoke(r.Context(), id, controller.InvokeRequest{
		Namespace: ns, Name: name, Params: params, Blocking: true,
	})
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	w.Header().Set(headerActivationID, res.ActivationID)
	if res.Record == nil {
		writeJSON(w, http.StatusAccepted, map[string]string{"activationId": res.ActivationID})
		return
	}
	g.writeWebResult(w, r, res.Record, ext, projection)
}

// webParams builds a web action's params. Raw-http actions get only the
// __ow_ fields, query and body unparsed; others get query parameters,
// then a JSON-object or form body, merged as top-level params (the body
// wins), and any other body as __ow_body. A request may not set an __ow_
// name or a parameter the action defines (OpenWhisk's protected
// parameters): that is 400.
func webParams(r *http.Request, a *entity.Action, body []byte, path, user string, secret bool) (json.RawMessage, error) {
	if path == "/" {
		path = ""
	}
	p := map[string]any{
		"__ow_method":  strings.ToLower(r.Method),
		"__ow_headers": lowerHeaders(r.Header, secret),
		"__ow_path":    path,
	}
	if user != "" {
		p["__ow_user"] = user
	}
	ct := r.Header.Get("Content-Type")
	if truthy(annotation(a, AnnotationRawHTTP)) {
		p["__ow_query"] = r.URL.RawQuery
		s := owBody(ct, body)
		p["__ow_body"] = s
		return json.Marshal(p)
	}

	req := map[string]any{}
	for k, vs := range r.URL.Query() {
		req[k] = vs[0]
	}
	if len(bytes.TrimSpace(body)) > 0 {
		switch mediaType(ct) {
		case "application/json":
			var obj map[string]any
			if err := json.Unmarshal(body, &obj); err == nil && obj != nil {
				for k, v := range obj {
					req[k] = v
				}
			} else {
				p["__ow_body"] = owBody(ct, body)
			}
		case "application/x-www-form-urlencoded":
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, fmt.Errorf("the form body is malformed: %w: %w", err, controller.ErrInvalid)
			}
			for k, vs := range form {
				req[k] = vs[0]
			}
		default:
			p["__ow_body"] = owBody(ct, body)
		}
	}
	for k, v := range req {
		if strings.HasPrefix(k, "__ow_") {
			return nil, fmt.Errorf("request defines the reserved parameter %q: %w", k, controller.ErrInvalid)
		}
		for _, d := range a.Parameters {
			if d.Key == k {
				return nil, fmt.Errorf("request defines parameter %q, which the action defines and protects: %w", k, controller.ErrInvalid)
			}
		}
		p[k] = v
	}
	return json.Marshal(p)
}

func mediaType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// owBody is OpenWhisk's __ow_body: plain text for text/* and form
// bodies (and bodies without a type) in UTF-8, base64 for anything else,
// JSON included (OpenWhisk treats it as binary).
func owBody(ct string, body []byte) string {
	mt := mediaType(ct)
	if (mt == "" || strings.HasPrefix(mt, "text/") || mt == "application/x-www-form-urlencoded") && utf8.Valid(body) {
		return string(body)
	}
	return base64.StdEncoding.EncodeToString(body)
}

// writeWebResult answers with an activation's result per the extension:
// .json the (projected) result as JSON, .http the result as {statusCode,
// headers, body}, .html/.text/.svg the string at the projection (by
// default the property named as the extension). A failed action's result
// is replaced by its "error" property (projection ignored) and answered
// with status 400 unless it is an .http response with its own statusCode;
// a developer or internal error is 502 with the error, as for routes.
func (g *Gateway) writeWebResult(w http.ResponseWriter, r *http.Request, rec *activation.Record, ext, projection string) {
	status := http.StatusOK
	var value json.RawMessage
	switch rec.Response.StatusCode {
	case activation.StatusSuccess:
		value = resultOf(rec)
	case activation.StatusApplicationError:
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(resultOf(rec), &obj)
		value, projection, status = obj["error"], "", http.StatusBadRequest
		if value == nil {
			value = json.RawMessage("null")
		}
	default:
		actionSucceeded(w, rec)
		return
	}
	fields := strings.FieldsFunc(projection, func(c rune) bool { return c == '/' })
	if len(fields) == 0 && ext != "json" && ext != "http" && status == http.StatusOK {
		fields = []string{ext}
	}
	for _, f := range fields {
		var obj map[string]json.RawMessage
		if json.Unmarshal(value, &obj) != nil || obj[f] == nil {
			g.writeErrorStatus(w, r, http.StatusBadRequest, fmt.Sprintf("the action's result has no property %q to project for .%s", f, ext))
			return
		}
		value = obj[f]
	}
	switch ext {
	case "json":
		writeJSON(w, status, value)
	case "http":
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(value, &obj); err != nil {
			g.writeErrorStatus(w, r, http.StatusBadGateway, "the action's result is not an HTTP response object")
			return
		}
		g.writeHTTPResult(w, r, obj, status, "text/html; charset=utf-8", true)
	default:
		var s string
		if err := json.Unmarshal(value, &s); err != nil {
			if ext != "text" || bytes.HasPrefix(bytes.TrimSpace(value), []byte("{")) || bytes.HasPrefix(bytes.TrimSpace(value), []byte("[")) {
				g.writeErrorStatus(w, r, http.StatusBadRequest, fmt.Sprintf("the action's result is not valid for .%s: a string is needed", ext))
				return
			}
			s = string(bytes.TrimSpace(value)) // numbers and booleans as text
		}
		w.Header().Set("Content-Type", webExtensions[ext])
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			w.Write([]byte(s))
		}
	}
}
