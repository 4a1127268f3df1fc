package proxy

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/flurryfn/flurry/invoker/container"
)

// flaskShop is a Flask app with a route of every kind the runtime must
// carry: text, path parameters, bodies, cookies, headers, binary, errors.
const flaskShop = `import os
from flask import Flask, Response, jsonify, make_response, request, url_for

app = Flask(__name__)


@app.route("/")
def index():
    print("index for", request.path)
    return '<a href="%s">user 7</a>' % url_for("user", id=7)


@app.route("/users/<int:id>")
def user(id):
    return jsonify(id=id, link=url_for("user", id=id), external=url_for("user", id=id, _external=True))


@app.route("/echo", methods=["POST"])
def echo():
    return jsonify(json=request.get_json(silent=True), form=request.form.to_dict(),
                   args=request.args.to_dict(flat=False), type=request.content_type)


@app.route("/cookies", methods=["GET", "POST"])
def cookies():
    if request.method == "POST":
        resp = make_response("set")
        resp.set_cookie("a", "1")
        resp.set_cookie("b", "2")
        return resp
    return jsonify(request.cookies.to_dict())


@app.route("/headers")
def headers():
    return jsonify(agent=request.headers.get("User-Agent"), custom=request.headers.get("X-Custom"),
                   url=request.url, activation=os.environ.get("__OW_ACTIVATION_ID"))


@app.route("/binary")
def binary():
    return Response(bytes(range(256)), mimetype="application/octet-stream")


@app.route("/upload", methods=["PUT"])
def upload():
    data = request.get_data()
    return jsonify(size=len(data), head=list(data[:3]))


@app.route("/files/<path:name>")
def files(name):
    return name


@app.route("/boom")
def boom():
    raise ValueError("kaboom")
`

// plainWSGI is a WSGI application without any framework: it reports its
// environ, and exercises write(), repeated headers, close() and errors.
const plainWSGI = `import json, os, sys


class Closing:
    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        print("closed", file=sys.stderr)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/raise":
        raise RuntimeError("wsgi failed")
    if path == "/bytes":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [b"\xff\xfe", b"\x00"]
    if path == "/stream":
        write = start_response("201 Created", [("Set-Cookie", "a=1"), ("X-Unicode", "\u00e9".encode().decode("latin-1")),
                                               ("set-cookie", "b=2")])
        write(b"written ")
        return Closing([b"yielded"])
    info = {k: environ.get(k) for k in (
        "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
        "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "HTTP_HOST", "HTTP_X_CUSTOM", "HTTP_COOKIE",
        "wsgi.url_scheme", "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once", "wsgi.version")}
    info["headers"] = sorted(k for k in environ if k.startswith("HTTP_"))
    info["body"] = environ["wsgi.input"].read().decode("utf-8")
    info["errors"] = environ["wsgi.errors"] is sys.stderr
    info["activation"] = os.environ.get("__OW_ACTIVATION_ID")
    print("served", path)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(info).encode()]
`

var (
	flaskOnce sync.Once
	flaskErr  error
)

// requireFlask skips t unless the host's python3 can import flask.
func requireFlask(t *testing.T) {
	t.Helper()
	flaskOnce.Do(func() {
		var py string
		if py, flaskErr = exec.LookPath("python3"); flaskErr == nil {
			flaskErr = exec.Command(py, "-c", "import flask").Run()
		}
	})
	if flaskErr != nil {
		t.Skipf("python3 cannot import flask: %v", flaskErr)
	}
}

func appInit(code, main string) map[string]any {
	return map[string]any{"value": map[string]any{
		"app": true, "name": "shop", "main": main, "code": code, "env": map[string]any{"GREETING": "hi"},
	}}
}

func appZipInit(code []byte, main string) map[string]any {
	return map[string]any{"value": map[string]any{
		"app": true, "name": "shop", "main": main, "binary": true, "code": base64.StdEncoding.EncodeToString(code),
	}}
}

// event is a gateway request event below /apps/shop.
func event(method, path string, headers map[string]any) map[string]any {
	if headers == nil {
		headers = map[string]any{}
	}
	return map[string]any{"method": method, "path": path, "headers": headers, "scriptName": "/apps/shop",
		"route": "/ignored", "pathParams": map[string]any{}, "query": map[string]any{}}
}

func withBody(ev map[string]any, body string, b64 bool) map[string]any {
	ev["body"], ev["isBase64Encoded"] = body, b64
	return ev
}

func withQuery(ev map[string]any, q string) map[string]any {
	ev["rawQuery"] = q
	return ev
}

func (p *testProxy) mustInitApp(t *testing.T, body map[string]any) {
	t.Helper()
	if st, res := p.post(t, "/init", body); st != http.StatusOK {
		t.Fatalf("init: %d %v\nstderr: %s", st, res, p.stderr.String())
	}
}

// serve runs ev and returns the HTTP result, failing on anything else.
func (p *testProxy) serve(t *testing.T, ev map[string]any) httpResult {
	t.Helper()
	st, res := p.post(t, "/run", runBody(ev))
	if st != http.StatusOK || res["error"] != nil {
		t.Fatalf("run %v %v: %d %v", ev["method"], ev["path"], st, res)
	}
	raw, _ := json.Marshal(res)
	var r httpResult
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("run result %s: %v", raw, err)
	}
	return r
}

type httpResult struct {
	StatusCode      int                 `json:"statusCode"`
	Headers         map[string][]string `json:"headers"`
	Body            string              `json:"body"`
	IsBase64Encoded bool                `json:"isBase64Encoded"`
}

func (r httpResult) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.Body, err)
	}
	return m
}

func TestAppFlask(t *testing.T) {
	requireFlask(t)
	p := startLangProxy(t, Python)
	p.mustInitApp(t, appInit(flaskShop, ""))

	st, reg := p.post(t, "/register", "")
	if st != http.StatusOK {
		t.Fatalf("register: %d %v", st, reg)
	}
	var routes []map[string]any
	for _, r := range reg["routes"].([]any) {
		routes = append(routes, r.(map[string]any))
	}
	wantRules := []string{"/", "/users/<int:id>", "/echo", "/cookies", "/headers", "/binary", "/upload", "/files/<path:name>", "/boom"}
	var rules []string
	for _, r := range routes {
		if r["endpoint"] != "static" {
			rules = append(rules, r["rule"].(string))
		}
		switch r["endpoint"] {
		case "user":
			if got := r["methods"]; !reflect.DeepEqual(got, []any{"GET", "HEAD", "OPTIONS"}) {
				t.Errorf("user methods = %v", got)
			}
		case "echo":
			if got := r["methods"]; !reflect.DeepEqual(got, []any{"OPTIONS", "POST"}) {
				t.Errorf("echo methods = %v", got)
			}
		}
	}
	if !reflect.DeepEqual(rules, wantRules) {
		t.Errorf("rules in url_map order = %v, want %v", rules, wantRules)
	}

	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name  string
		ev    map[string]any
		check func(t *testing.T, r httpResult)
	}{
		{"index with script name", event("GET", "/", nil), func(t *testing.T, r httpResult) {
			if r.StatusCode != 200 || r.Body != `<a href="/apps/shop/users/7">user 7</a>` ||
				!reflect.DeepEqual(r.Headers["Content-Type"], []string{"text/html; charset=utf-8"}) {
				t.Errorf("got %+v", r)
			}
		}},
		{"path parameter and external url", event("GET", "/users/42", map[string]any{"host": "shop.example.com", "x-forwarded-proto": "https"}),
			func(t *testing.T, r httpResult) {
				m := r.json(t)
				if m["id"] != float64(42) || m["link"] != "/apps/shop/users/42" || m["external"] != "https://shop.example.com/apps/shop/users/42" {
					t.Errorf("got %v", m)
				}
			}},
		{"head", event("HEAD", "/users/3", nil), func(t *testing.T, r httpResult) {
			if r.StatusCode != 200 || r.Body != "" || len(r.Headers["Content-Length"]) != 1 {
				t.Errorf("got %+v", r)
			}
		}},
		{"json body", withQuery(withBody(event("POST", "/echo", map[string]any{"content-type": "application/json"}), `{"x":[1,2]}`, false), "q=1&q=2"),
			func(t *testing.T, r httpResult) {
				m := r.json(t)
				if !reflect.DeepEqual(m["json"], map[string]any{"x": []any{1.0, 2.0}}) ||
					!reflect.DeepEqual(m["args"], map[string]any{"q": []any{"1", "2"}}) || m["type"] != "application/json" {
					t.Errorf("got %v", m)
				}
			}},
		{"form body", withBody(event("POST", "/echo", map[string]any{"content-type": form}), "name=Ada&lang=py", false),
			func(t *testing.T, r httpResult) {
				if m := r.json(t); !reflect.DeepEqual(m["form"], map[string]any{"name": "Ada", "lang": "py"}) {
					t.Errorf("got %v", m)
				}
			}},
		{"cookies set", event("POST", "/cookies", nil), func(t *testing.T, r httpResult) {
			if got := r.Headers["Set-Cookie"]; !reflect.DeepEqual(got, []string{"a=1; Path=/", "b=2; Path=/"}) {
				t.Errorf("Set-Cookie = %q", got)
			}
		}},
		{"cookies read", event("GET", "/cookies", map[string]any{"cookie": "a=1; b=2"}), func(t *testing.T, r httpResult) {
			if m := r.json(t); !reflect.DeepEqual(m, map[string]any{"a": "1", "b": "2"}) {
				t.Errorf("got %v", m)
			}
		}},
		{"headers", withQuery(event("GET", "/headers", map[string]any{"host": "shop.example.com", "user-agent": "curl/8", "x-custom": "yes"}), "a=1&b=2"),
			func(t *testing.T, r httpResult) {
				m := r.json(t)
				if m["agent"] != "curl/8" || m["custom"] != "yes" || m["url"] != "http://shop.example.com/apps/shop/headers?a=1&b=2" || m["activation"] != "a1b2" {
					t.Errorf("got %v", m)
				}
			}},
		{"binary response", event("GET", "/binary", nil), func(t *testing.T, r httpResult) {
			b, err := base64.StdEncoding.DecodeString(r.Body)
			if !r.IsBase64Encoded || err != nil || len(b) != 256 || b[255] != 255 {
				t.Errorf("got %+v (%v)", r, err)
			}
		}},
		{"binary request", withBody(event("PUT", "/upload", map[string]any{"content-type": "application/octet-stream"}),
			base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff, 0xfe}), true),
			func(t *testing.T, r httpResult) {
				if m := r.json(t); m["size"] != 5.0 || !reflect.DeepEqual(m["head"], []any{0.0, 1.0, 2.0}) {
					t.Errorf("got %v", m)
				}
			}},
		{"percent-encoded path", event("GET", "/files/a%20b/c%2Fd", nil), func(t *testing.T, r httpResult) {
			if r.StatusCode != 200 || r.Body != "a b/c/d" {
				t.Errorf("got %+v", r)
			}
		}},
		{"unknown path", event("GET", "/nope", nil), func(t *testing.T, r httpResult) {
			if r.StatusCode != 404 || !strings.Contains(r.Body, "Not Found") {
				t.Errorf("got %+v", r)
			}
		}},
		{"view raises", event("GET", "/boom", nil), func(t *testing.T, r httpResult) {
			if r.StatusCode != 500 {
				t.Errorf("got %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, p.serve(t, tt.ev))
		})
	}

	// Register and every run each end an activation.
	if n, want := strings.Count(p.stdout.String(), container.EndMarker), 1+len(tests); n != want {
		t.Errorf("stdout has %d markers, want %d", n, want)
	}
	if !strings.Contains(p.stdout.String(), "index for /\n"+container.EndMarker) {
		t.Errorf("stdout lacks the index's print before its marker:\n%s", p.stdout.String())
	}
	if !strings.Contains(p.stderr.String(), "ValueError: kaboom") {
		t.Errorf("stderr lacks Flask's traceback of /boom:\n%s", p.stderr.String())
	}
}

func TestAppSpecialize(t *testing.T) {
	requireFlask(t)
	p := startLangProxy(t, Python)
	check := func(path string, body any, wantStatus int, want map[string]any) {
		t.Helper()
		st, res := p.post(t, path, body)
		if st != wantStatus {
			t.Fatalf("%s: %d %v, want %d", path, st, res, wantStatus)
		}
		for k, v := range want {
			if s, ok := v.(string); ok && k == "error" {
				if !strings.Contains(errorOf(res), s) {
					t.Errorf("%s: error %q, want it to contain %q", path, errorOf(res), s)
				}
			} else if res[k] != v {
				t.Errorf("%s: %s = %v, want %v", path, k, res[k], v)
			}
		}
	}
	selfTest := map[string]any{"ok": true, "endpoint": "echo", "echo": "hello"}
	check("/specialize?endpoint=echo&echo=hello", "", 200, selfTest)
	check("/specialize?endpoint=user", "", 409, map[string]any{"error": "no app is initialized"})
	check("/register", "", 409, map[string]any{"error": "no app is initialized"})

	p.mustInitApp(t, appInit(flaskShop, "app:app"))
	before := len(p.stdout.String())
	check("/specialize?endpoint=user", "", 200, map[string]any{"ok": true, "endpoint": "user"})
	check("/specialize?endpoint=user", "", 200, map[string]any{"ok": true, "endpoint": "user"})
	check("/specialize", map[string]any{"endpoint": "user"}, 200, map[string]any{"ok": true, "endpoint": "user"})
	check("/specialize?endpoint=echo&echo=hello", "", 200, selfTest)
	// A successful specialize is part of the activation its /run ends.
	if out := p.stdout.String()[before:]; strings.Contains(out, container.EndMarker) {
		t.Errorf("specialize wrote a marker: %q", out)
	}
	if r := p.serve(t, event("GET", "/users/5", nil)); r.StatusCode != 200 {
		t.Errorf("run after specialize: %+v", r)
	}
	check("/specialize?endpoint=index", "", 409, map[string]any{"error": `specialized for endpoint "user", not "index"`})
	check("/specialize", "", 400, map[string]any{"error": "no endpoint given"})
	check("/specialize", "{", 400, map[string]any{"error": "malformed specialize request"})

	q := startLangProxy(t, Python)
	q.mustInitApp(t, appInit(flaskShop, "app"))
	st, res := q.post(t, "/specialize?endpoint=nope", "")
	if st != http.StatusNotFound || errorOf(res) != `the app has no endpoint "nope"` {
		t.Errorf("unknown endpoint: %d %v", st, res)
	}
	// A failed specialize ends the activation.
	if !strings.HasSuffix(q.stdout.String(), container.EndMarker+"\n") {
		t.Errorf("stdout after a failed specialize = %q, want the marker", q.stdout.String())
	}
	if st, res := q.post(t, "/specialize?endpoint=boom", ""); st != 200 {
		t.Errorf("specialize after an unknown endpoint: %d %v", st, res)
	}
}

func TestAppZip(t *testing.T) {
	requireFlask(t)
	p := startLangProxy(t, Python)
	code := makeZip(t, map[string]string{
		"shop/__init__.py": "from flask import Flask\nimport leftpad\napp = Flask(__name__)\nfrom shop import views\n",
		"shop/views.py": "from flask import render_template\nimport leftpad\nfrom shop import app\n\n" +
			"@app.route('/hello/<name>')\ndef hello(name):\n    return render_template('hello.html', name=leftpad.pad(name, 5))\n",
		"shop/templates/hello.html":                                   "Hello {{ name }} from {{ url_for('hello', name='x') }}",
		"virtualenv/lib/python3.11/site-packages/leftpad/__init__.py": "def pad(s, n):\n    return s.rjust(n, '*')\n",
	})
	p.mustInitApp(t, appZipInit(code, "shop:app"))
	if r := p.serve(t, event("GET", "/hello/ab", nil)); r.StatusCode != 200 || r.Body != "Hello ***ab from /apps/shop/hello/x" {
		t.Errorf("got %+v", r)
	}
	st, res := p.post(t, "/register", "")
	want := []any{"GET", "HEAD", "OPTIONS"}
	if routes, _ := res["routes"].([]any); st != 200 || len(routes) == 0 ||
		!reflect.DeepEqual(routes[len(routes)-1], map[string]any{"rule": "/hello/<name>", "endpoint": "hello", "methods": want}) {
		t.Errorf("register: %d %v", st, res)
	}
}

// TestAppPlainWSGI needs no framework: it checks the environ the launcher
// builds and the WSGI call itself.
func TestAppPlainWSGI(t *testing.T) {
	p := startLangProxy(t, Python)
	p.mustInitApp(t, appInit(plainWSGI, "wsgi:application"))

	ev := withQuery(withBody(event("post", "/caf%C3%A9/a%2Fb", map[string]any{
		"host": "[::1]:8443", "x-forwarded-proto": "https", "content-type": "text/plain", "content-length": "999",
		"x-custom": []any{"a", "b"}, "cookie": "a=1; b=2", "x_spoof": "no", "transfer-encoding": "chunked",
	}), "héllo", false), "a=1&b=%20")
	m := p.serve(t, ev).json(t)
	want := map[string]any{
		"REQUEST_METHOD": "POST", "SCRIPT_NAME": "/apps/shop", "PATH_INFO": "/cafÃ©/a/b", "QUERY_STRING": "a=1&b=%20",
		"CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "6", "SERVER_NAME": "[::1]", "SERVER_PORT": "8443",
		"SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "[::1]:8443", "HTTP_X_CUSTOM": "a, b", "HTTP_COOKIE": "a=1; b=2",
		"wsgi.url_scheme": "https", "wsgi.multithread": false, "wsgi.multiprocess": true, "wsgi.run_once": false,
		"wsgi.version": []any{1.0, 0.0}, "body": "héllo", "errors": true, "activation": "a1b2",
		"headers": []any{"HTTP_COOKIE", "HTTP_HOST", "HTTP_X_CUSTOM", "HTTP_X_FORWARDED_PROTO"},
	}
	for k, v := range want {
		if !reflect.DeepEqual(m[k], v) {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	m = p.serve(t, event("GET", "", nil)).json(t)
	if m["PATH_INFO"] != "/" || m["SERVER_NAME"] != "localhost" || m["SERVER_PORT"] != "80" || m["wsgi.url_scheme"] != "http" {
		t.Errorf("defaults: %v", m)
	}

	r := p.serve(t, event("GET", "/stream", nil))
	wantHeaders := map[string][]string{"Set-Cookie": {"a=1", "b=2"}, "X-Unicode": {"é"}}
	if r.StatusCode != 201 || r.Body != "written yielded" || !reflect.DeepEqual(r.Headers, wantHeaders) {
		t.Errorf("stream: %+v", r)
	}
	if !strings.Contains(p.stderr.String(), "closed\n") {
		t.Errorf("close() was not called: stderr %q", p.stderr.String())
	}
	if r := p.serve(t, event("GET", "/bytes", nil)); !r.IsBase64Encoded || r.Body != "//4A" {
		t.Errorf("bytes: %+v", r)
	}

	st, res := p.post(t, "/run", runBody(event("GET", "/raise", nil)))
	if st != 200 || errorOf(res) != "RuntimeError: wsgi failed" {
		t.Errorf("raise: %d %v", st, res)
	}
	if !strings.Contains(p.stderr.String(), "Traceback") {
		t.Errorf("no traceback on stderr: %q", p.stderr.String())
	}

	st, res = p.post(t, "/register", "")
	if st != http.StatusBadGateway || !strings.Contains(errorOf(res), "no Werkzeug url_map") {
		t.Errorf("register: %d %v", st, res)
	}
	st, res = p.post(t, "/specialize?endpoint=index", "")
	if st != http.StatusBadGateway || !strings.Contains(errorOf(res), "no Werkzeug url_map") {
		t.Errorf("specialize: %d %v", st, res)
	}
	// The app still serves.
	if r := p.serve(t, event("GET", "/x", nil)); r.StatusCode != 200 {
		t.Errorf("run after register: %+v", r)
	}
	if !strings.Contains(p.stdout.String(), "served /x\n"+container.EndMarker) {
		t.Errorf("stdout lacks the app's print before the marker: %q", p.stdout.String())
	}
}

func TestAppLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		body map[string]any
		want string // part of /init's error
		logs string // part of stderr, before the marker
	}{
		{"syntax error", appInit("def app(environ, start_response)\n    pass\n", ""), "cannot load the app:", "SyntaxError"},
		{"missing attribute", appInit("def app(environ, start_response):\n    pass\n", "app:application"),
			"cannot load the app: AttributeError: module 'app' has no attribute 'application'", "Traceback"},
		{"not callable", appInit("app = 42\n", ""), "app:app is a int, not a WSGI application", "TypeError"},
		{"import error", appInit("import no_such_module\n", ""), "No module named 'no_such_module'", "ModuleNotFoundError"},
		{"module missing from zip", appZipInit(makeZip(t, map[string]string{"other.py": ""}), "shop:app"), "No module named 'shop'", "Traceback"},
		{"bad main", appInit("app = None\n", "app:a-b"), "is not module:attr", ""},
		{"text code in a package", appInit("app = None\n", "shop.web:app"), "send the app as a zip", ""},
		{"binary not a zip", appZipInit([]byte("not a zip"), ""), "must be a zip", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startLangProxy(t, Python)
			st, res := p.post(t, "/init", tt.body)
			if st != http.StatusBadGateway || !strings.Contains(errorOf(res), tt.want) {
				t.Fatalf("init: %d %v; want 502 with %q", st, res, tt.want)
			}
			stderr := p.stderr.String()
			if !strings.HasSuffix(stderr, container.EndMarker+"\n") || !strings.Contains(stderr, tt.logs) {
				t.Errorf("stderr = %q, want %q and then the marker", stderr, tt.logs)
			}
			if st, res := p.post(t, "/register", ""); st != http.StatusConflict {
				t.Errorf("register after a failed init: %d %v", st, res)
			}
		})
	}
}

func TestAppNeedsPython(t *testing.T) {
	p := startProxy(t)
	if st, res := p.post(t, "/specialize?endpoint=echo&echo=hi", ""); st != 200 || res["echo"] != "hi" {
		t.Errorf("self-test: %d %v", st, res)
	}
	for _, path := range []string{"/init", "/register", "/specialize?endpoint=x"} {
		body := any("")
		if path == "/init" {
			body = appZipInit(loopExe, "")
		}
		if st, res := p.post(t, path, body); st != http.StatusNotImplemented || !strings.Contains(errorOf(res), "apps need the python runtime") {
			t.Errorf("%s: %d %v; want 501", path, st, res)
		}
	}

	// A Python action is not an app.
	q := startLangProxy(t, Python)
	if st, res := q.post(t, "/init", textInit("def main(args):\n    return {}\n", "main")); st != 200 {
		t.Fatalf("init: %d %v", st, res)
	}
	for _, path := range []string{"/register", "/specialize?endpoint=x"} {
		if st, res := q.post(t, path, ""); st != http.StatusConflict {
			t.Errorf("%s on an action: %d %v; want 409", path, st, res)
		}
	}
}

func TestParseAppMain(t *testing.T) {
	tests := []struct{ main, module, attr string }{
		{"", "app", "app"},
		{"main", "app", "app"},
		{"shop", "shop", "app"},
		{"shop.web:application", "shop.web", "application"},
		{"_x:_y1", "_x", "_y1"},
	}
	for _, tt := range tests {
		module, attr, err := parseAppMain(tt.main)
		if err != nil || module != tt.module || attr != tt.attr {
			t.Errorf("parseAppMain(%q) = %q, %q, %v; want %q, %q", tt.main, module, attr, err, tt.module, tt.attr)
		}
	}
	for _, bad := range []string{"app:", ":app", "a..b:app", "1app:app", "app:a.b", "app:app()", "a b:app", "app:app:app"} {
		if _, _, err := parseAppMain(bad); err == nil {
			t.Errorf("parseAppMain(%q) succeeded", bad)
		}
	}
}
