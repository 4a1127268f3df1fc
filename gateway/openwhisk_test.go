package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/flurryfn/flurry/internal/entity"
)

func basic(auth string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(auth))
}

var goodAuth = basic(testAuth)

func newTestGateway(t *testing.T) (*Gateway, *fakeBackend) {
	t.Helper()
	f := newFakeBackend()
	g, err := New(f, Config{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("new gateway: %v", err)
	}
	return g, f
}

// request runs one request through the gateway's handler.
func request(t *testing.T, h http.Handler, method, path, auth string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, body)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decode(t *testing.T, w *httptest.ResponseRecorder) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q is not JSON: %v", w.Body.String(), err)
	}
	return v
}

// field walks a decoded JSON value along a dotted path ("exec.code", "0.name").
func field(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			v = c[k]
		case []any:
			i := 0
			for _, d := range k {
				i = i*10 + int(d-'0')
			}
			if i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

type restCase struct {
	name   string
	method string
	path   string
	auth   string
	body   string
	status int
	// want maps dotted JSON paths of the response body to expected values;
	// a nil value means the field is absent.
	want   map[string]any
	header map[string]string
	// record marks a 5xx whose body is an activation, not an error.
	record bool
}

func runRESTCases(t *testing.T, cases []restCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := newTestGateway(t)
			w := request(t, g.Handler(), tc.method, tc.path, tc.auth, strings.NewReader(tc.body))
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.status, w.Body.String())
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("content-type = %q", ct)
			}
			body := decode(t, w)
			if w.Code >= 400 && !tc.record {
				if field(body, "error") == nil || field(body, "code") != w.Header().Get("X-Request-Id") || field(body, "code") == "" {
					t.Errorf("error body %s lacks error or request id code", w.Body.String())
				}
			}
			for k, want := range tc.want {
				if got := field(body, k); !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v; body %s", k, got, want, w.Body.String())
				}
			}
			for k, want := range tc.header {
				if got := w.Header().Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestOpenWhiskAuthAndInfo(t *testing.T) {
	runRESTCases(t, []restCase{
		{name: "api info needs no auth", method: "GET", path: "/api/v1", status: 200,
			want: map[string]any{"api_version_path": "v1", "swagger_paths.api-docs": "/api/v1/openapi.json"}},
		{name: "api info wrong method", method: "POST", path: "/api/v1", auth: goodAuth, status: 405,
			header: map[string]string{"Allow": "GET"}},
		{name: "missing auth", method: "GET", path: "/api/v1/namespaces/_/actions", status: 401,
			header: map[string]string{"WWW-Authenticate": `Basic realm="flurry"`}},
		{name: "wrong key", method: "GET", path: "/api/v1/namespaces/_/actions", auth: basic(testUUID + ":nope"), status: 401,
			header: map[string]string{"WWW-Authenticate": `Basic realm="flurry"`}},
		{name: "malformed basic", method: "GET", path: "/api/v1/namespaces/_/actions", auth: "Basic !!!", status: 401},
		{name: "basic without colon", method: "GET", path: "/api/v1/namespaces/_/actions", auth: basic("justuuid"), status: 401},
		{name: "other namespace", method: "GET", path: "/api/v1/namespaces/other/actions", auth: goodAuth, status: 403},
		{name: "namespaces", method: "GET", path: "/api/v1/namespaces", auth: goodAuth, status: 200, want: map[string]any{"0": testNS}},
		{name: "unknown path", method: "GET", path: "/api/v1/nothing/here", auth: goodAuth, status: 404},
	})
}

func TestOpenWhiskActions(t *testing.T) {
	runRESTCases(t, []restCase{
		{name: "create", method: "PUT", path: "/api/v1/namespaces/_/actions/new", auth: goodAuth, status: 200,
			body: `{"exec":{"kind":"go","code":"package main","main":"Main"},"parameters":[{"key":"a","value":1}],"limits":{"timeout":1000,"memory":128},"annotations":[{"key":"web-export","value":true}],"publish":true}`,
			want: map[string]any{"name": "new", "namespace": testNS, "version": "0.0.1", "exec.kind": "go", "exec.code": "package main",
				"exec.main": "Main", "parameters.0.key": "a", "parameters.0.value": 1.0, "limits.timeout": 1000.0, "limits.memory": 128.0,
				"annotations.0.key": "web-export", "publish": true}},
		{name: "create blackbox", method: "PUT", path: "/api/v1/namespaces/guest/actions/bb", auth: goodAuth, status: 200,
			body: `{"exec":{"kind":"blackbox","image":"example/echo:1"}}`,
			want: map[string]any{"exec.kind": "blackbox", "exec.image": "example/echo:1", "exec.code": nil}},
		{name: "blackbox without image", method: "PUT", path: "/api/v1/namespaces/_/actions/bb", auth: goodAuth, status: 400,
			body: `{"exec":{"kind":"blackbox"}}`},
		{name: "exists without overwrite", method: "PUT", path: "/api/v1/namespaces/_/actions/hello", auth: goodAuth, status: 409,
			body: `{"exec":{"kind":"go","code":"x"}}`},
		{name: "overwrite", method: "PUT", path: "/api/v1/namespaces/_/actions/hello?overwrite=true", auth: goodAuth, status: 200,
			body: `{"exec":{"kind":"go","code":"y"}}`, want: map[string]any{"version": "0.0.2", "exec.code": "y"}},
		{name: "stale revision", method: "PUT", path: "/api/v1/namespaces/_/actions/stale?overwrite=true", auth: goodAuth, status: 409,
			body: `{"exec":{"kind":"go","code":"y"}}`},
		{name: "bad json", method: "PUT", path: "/api/v1/namespaces/_/actions/new", auth: goodAuth, status: 400, body: `{"exec":`},
		{name: "invalid entity", method: "PUT", path: "/api/v1/namespaces/_/actions/new", auth: goodAuth, status: 400, body: `{}`},
		{name: "bad overwrite flag", method: "PUT", path: "/api/v1/namespaces/_/actions/new?overwrite=maybe", auth: goodAuth, status: 400, body: `{}`},
		{name: "get with code", method: "GET", path: "/api/v1/namespaces/_/actions/hello", auth: goodAuth, status: 200,
			want: map[string]any{"name": "hello", "exec.code": "package main", "parameters.0.key": "greeting", "limits.timeout": 60000.0}},
		{name: "get without code", method: "GET", path: "/api/v1/namespaces/_/actions/hello?code=false", auth: goodAuth, status: 200,
			want: map[string]any{"name": "hello", "exec.code": nil, "exec.kind": "go"}},
		{name: "get missing", method: "GET", path: "/api/v1/namespaces/_/actions/missing", auth: goodAuth, status: 404},
		{name: "delete", method: "DELETE", path: "/api/v1/namespaces/_/actions/hello", auth: goodAuth, status: 200,
			want: map[string]any{"name": "hello"}},
		{name: "delete missing", method: "DELETE", path: "/api/v1/namespaces/_/actions/missing", auth: goodAuth, status: 404},
		{name: "wrong method", method: "PATCH", path: "/api/v1/namespaces/_/actions/hello", auth: goodAuth, status: 405,
			header: map[string]string{"Allow": "DELETE, GET, POST, PUT"}},
		{name: "list", method: "GET", path: "/api/v1/namespaces/_/actions", auth: goodAuth, status: 200,
			want: map[string]any{"0.name": "boom", "1.name": "busy", "2.name": "hello", "2.exec.code": nil}},
		{name: "list skip limit", method: "GET", path: "/api/v1/namespaces/_/actions?skip=2&limit=1", auth: goodAuth, status: 200,
			want: map[string]any{"0.name": "hello", "1": nil}},
		{name: "list limit too big", method: "GET", path: "/api/v1/namespaces/_/actions?limit=201", auth: goodAuth, status: 400},
		{name: "list negative skip", method: "GET", path: "/api/v1/namespaces/_/actions?skip=-1", auth: goodAuth, status: 400},
		{name: "list wrong method", method: "POST", path: "/api/v1/namespaces/_/actions", auth: goodAuth, status: 405},
	})
}

func TestOpenWhiskInvoke(t *testing.T) {
	const base = "/api/v1/namespaces/_/actions/hello"
	runRESTCases(t, []restCase{
		{name: "non-blocking", method: "POST", path: base, auth: goodAuth, body: `{"a":1}`, status: 202},
		{name: "empty body", method: "POST", path: base + "?blocking=true", auth: goodAuth, status: 200,
			want: map[string]any{"response.success": true, "response.result": map[string]any{}}},
		{name: "null body", method: "POST", path: base + "?blocking=true&result=true", auth: goodAuth, body: `null`, status: 200,
			want: map[string]any{"a": nil}},
		{name: "blocking success", method: "POST", path: base + "?blocking=true", auth: goodAuth, body: `{"a":1}`, status: 200,
			want: map[string]any{"name": "hello", "namespace": testNS, "response.status": "success", "response.statusCode": 0.0,
				"response.result.a": 1.0, "logs.0": "ran"}},
		{name: "blocking result only", method: "POST", path: base + "?blocking=true&result=true", auth: goodAuth, body: `{"a":1}`, status: 200,
			want: map[string]any{"a": 1.0, "response": nil}},
		{name: "application error", method: "POST", path: base + "?blocking=true", auth: goodAuth, body: `{"status":1}`, status: 502,
			want: map[string]any{"response.status": "application error", "response.result.error": "it failed", "response.success": false}, record: true},
		{name: "application error result only", method: "POST", path: base + "?blocking=true&result=true", auth: goodAuth, body: `{"status":1}`, status: 502,
			want: map[string]any{"error": "it failed"}, record: true},
		{name: "developer error", method: "POST", path: base + "?blocking=true", auth: goodAuth, body: `{"status":2}`, status: 502,
			want: map[string]any{"response.status": "action developer error"}, record: true},
		{name: "internal error status", method: "POST", path: base + "?blocking=true", auth: goodAuth, body: `{"status":3}`, status: 500,
			want: map[string]any{"response.status": "whisk internal error"}, record: true},
		{name: "wait exceeded", method: "POST", path: base + "?blocking=true&timeout=10", auth: goodAuth, body: `{"slow":true}`, status: 202},
		{name: "params not an object", method: "POST", path: base, auth: goodAuth, body: `[1,2]`, status: 400},
		{name: "params malformed", method: "POST", path: base, auth: goodAuth, body: `{"a":`, status: 400},
		{name: "bad blocking flag", method: "POST", path: base + "?blocking=yes", auth: goodAuth, body: `{}`, status: 400},
		{name: "bad timeout", method: "POST", path: base + "?blocking=true&timeout=-5", auth: goodAuth, body: `{}`, status: 400},
		{name: "unknown action", method: "POST", path: "/api/v1/namespaces/_/actions/missing", auth: goodAuth, body: `{}`, status: 404},
		{name: "throttled", method: "POST", path: "/api/v1/namespaces/_/actions/throttled", auth: goodAuth, body: `{}`, status: 429,
			header: map[string]string{"Retry-After": "1"}},
		{name: "unavailable", method: "POST", path: "/api/v1/namespaces/_/actions/busy", auth: goodAuth, body: `{}`, status: 503,
			header: map[string]string{"Retry-After": "1"}},
		{name: "internal error", method: "POST", path: "/api/v1/namespaces/_/actions/boom", auth: goodAuth, body: `{}`, status: 500,
			want: map[string]any{"error": internalMessage}},
		{name: "unauthenticated", method: "POST", path: base, body: `{}`, status: 401},
	})
}

func TestOpenWhiskInvokeHeaderAndParams(t *testing.T) {
	g, f := newTestGateway(t)
	for _, path := range []string{"?blocking=false", "?blocking=true", "?blocking=true&result=true", "?blocking=true&timeout=10"} {
		body := `{"x":"y"}`
		if strings.Contains(path, "timeout") {
			body = `{"slow":true}`
		}
		w := request(t, g.Handler(), "POST", "/api/v1/namespaces/_/actions/hello"+path, goodAuth, strings.NewReader(body))
		id := w.Header().Get(headerActivationID)
		if len(id) != 32 {
			t.Errorf("%s: %s = %q", path, headerActivationID, id)
		}
		if w.Code == http.StatusAccepted && field(decode(t, w), "activationId") != id {
			t.Errorf("%s: body %s does not carry activation id %s", path, w.Body.String(), id)
		}
	}
	last := f.invokes[len(f.invokes)-1]
	if last.Namespace != "_" || last.Name != "hello" || !last.Blocking || last.Wait.Milliseconds() != 10 || string(last.Params) != `{"slow":true}` {
		t.Errorf("backend got %+v", last)
	}
}

// TestOpenWhiskTooLarge checks that an oversize body is refused with 413,
// from its Content-Length before reading and while reading a body of
// unknown length, and that the read stops at the limit.
func TestOpenWhiskTooLarge(t *testing.T) {
	g, f := newTestGateway(t)
	big := `{"a":"` + strings.Repeat("x", 2<<20) + `"}`
	t.Run("content-length", func(t *testing.T) {
		body := &countingReader{r: strings.NewReader(big)}
		r := httptest.NewRequest("POST", "/api/v1/namespaces/_/actions/hello", body)
		r.ContentLength = int64(len(big))
		r.Header.Set("Authorization", goodAuth)
		w := httptest.NewRecorder()
		g.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusRequestEntityTooLarge || body.n != 0 {
			t.Fatalf("status %d after reading %d bytes, want 413 after none", w.Code, body.n)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		body := &countingReader{r: strings.NewReader(big)}
		r := httptest.NewRequest("POST", "/api/v1/namespaces/_/actions/hello", body)
		r.ContentLength = -1
		r.Header.Set("Authorization", goodAuth)
		w := httptest.NewRecorder()
		g.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusRequestEntityTooLarge || body.n > DefaultMaxBodyBytes+64<<10 {
			t.Fatalf("status %d after reading %d bytes, want 413 near the limit", w.Code, body.n)
		}
	})
	t.Run("params over 1 MiB within the body limit", func(t *testing.T) {
		params := `{"a":"` + strings.Repeat("x", entity.MaxPayloadBytes) + `"}`
		w := request(t, g.Handler(), "POST", "/api/v1/namespaces/_/actions/hello", goodAuth, strings.NewReader(params))
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", w.Code)
		}
	})
	t.Run("action code may exceed the invoke limit", func(t *testing.T) {
		doc, _ := json.Marshal(map[string]any{"exec": map[string]any{"kind": "go", "code": strings.Repeat("c", 3<<20)}})
		w := request(t, g.Handler(), "PUT", "/api/v1/namespaces/_/actions/large", goodAuth, bytes.NewReader(doc))
		if w.Code != http.StatusOK || len(f.code[testNS+"/large"]) != 3<<20 {
			t.Fatalf("status %d, stored %d bytes", w.Code, len(f.code[testNS+"/large"]))
		}
	})
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestOpenWhiskActivations(t *testing.T) {
	const base = "/api/v1/namespaces/_/activations"
	runRESTCases(t, []restCase{
		{name: "list summary", method: "GET", path: base, auth: goodAuth, status: 200,
			want: map[string]any{"0.activationId": "a1", "0.response.statusCode": 0.0, "0.response.result": nil, "0.logs.0": nil}},
		{name: "list docs", method: "GET", path: base + "?docs=true&name=hello&limit=5&skip=0&since=1&upto=2000", auth: goodAuth, status: 200,
			want: map[string]any{"0.activationId": "a1", "0.response.result.msg": "hi", "0.logs.1": "line 2"}},
		{name: "list other action", method: "GET", path: base + "?name=other", auth: goodAuth, status: 200, want: map[string]any{"0": nil}},
		{name: "list bad since", method: "GET", path: base + "?since=yesterday", auth: goodAuth, status: 400},
		{name: "list bad docs", method: "GET", path: base + "?docs=please", auth: goodAuth, status: 400},
		{name: "list forbidden", method: "GET", path: "/api/v1/namespaces/other/activations", auth: goodAuth, status: 403},
		{name: "get", method: "GET", path: base + "/a1", auth: goodAuth, status: 200,
			want: map[string]any{"activationId": "a1", "name": "hello", "start": 1000.0, "end": 1010.0, "duration": 10.0,
				"subject": testUUID, "response.result.msg": "hi", "logs.0": "line 1"}},
		{name: "get missing", method: "GET", path: base + "/nope", auth: goodAuth, status: 404},
		{name: "logs", method: "GET", path: base + "/a1/logs", auth: goodAuth, status: 200,
			want: map[string]any{"logs.0": "line 1", "logs.1": "line 2"}},
		{name: "result", method: "GET", path: base + "/a1/result", auth: goodAuth, status: 200,
			want: map[string]any{"result.msg": "hi", "status": "success", "success": true}},
		{name: "result missing", method: "GET", path: base + "/nope/result", auth: goodAuth, status: 404},
		{name: "logs unauthenticated", method: "GET", path: base + "/a1/logs", status: 401},
		{name: "delete not allowed", method: "DELETE", path: base + "/a1", auth: goodAuth, status: 405},
	})
}
