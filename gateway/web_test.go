package gateway

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

func kv(k, v string) entity.KeyValue { return entity.KeyValue{Key: k, Value: json.RawMessage(v)} }

// webFake has web actions: "echo" (web-export, returns its params under
// "response" and as .http result fields when asked), "raw" (raw-http),
// "hidden" (not exported), "authed" (require-whisk-auth true), "secret"
// (require-whisk-auth "s3cret"), "fails" (application error).
func webFake(t *testing.T) (*routeFake, http.Handler) {
	f, h := newRouteFake(t)
	add := func(name string, params []entity.KeyValue, ann ...entity.KeyValue) {
		f.actions[testNS+"/"+name] = &entity.Action{Namespace: testNS, Name: name, Annotations: ann, Parameters: params}
	}
	web := kv(AnnotationWebExport, "true")
	add("echo", []entity.KeyValue{kv("fixed", `"x"`)}, web)
	add("raw", nil, web, kv(AnnotationRawHTTP, "true"))
	add("hidden", nil)
	add("off", nil, kv(AnnotationWebExport, "false"))
	add("authed", nil, web, kv(AnnotationRequireWhiskAuth, "true"))
	add("secret", nil, web, kv(AnnotationRequireWhiskAuth, `"s3cret"`))
	add("num", nil, web, kv(AnnotationRequireWhiskAuth, `1234`))
	add("fails", nil, web)
	add("my.dotted", nil, web)
	f.respond = func(req controller.InvokeRequest) *activation.Record {
		if req.Name == "fails" {
			return &activation.Record{Response: activation.NewResponse(activation.StatusApplicationError,
				json.RawMessage(`{"error":{"statusCode":418,"body":"teapot","text":"bad"}}`))}
		}
		var p map[string]any
		_ = json.Unmarshal(req.Params, &p)
		res := map[string]any{"response": p, "html": "<b>hi</b>", "text": "plain", "statusCode": 201,
			"headers": map[string]string{"X-Web": "1"}, "body": "from http"}
		b, _ := json.Marshal(res)
		return success(b)
	}
	return f, h
}

func lastParams(t *testing.T, f *routeFake) map[string]any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var p map[string]any
	if err := json.Unmarshal(f.last.Params, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWebActionStatus(t *testing.T) {
	_, h := webFake(t)
	cases := []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		body               string
		ctype              string
	}{
		{name: "json", path: "/api/v1/web/guest/default/echo.json", status: 200, ctype: "application/json"},
		{name: "http honours the result", path: "/api/v1/web/guest/default/echo.http", status: 201, body: "from http"},
		{name: "no extension is http", path: "/api/v1/web/guest/default/echo", status: 201, body: "from http"},
		{name: "html", path: "/api/v1/web/guest/default/echo.html", status: 200, body: "<b>hi</b>", ctype: "text/html; charset=utf-8"},
		{name: "text", path: "/api/v1/web/guest/default/echo.text", status: 200, body: "plain", ctype: "text/plain; charset=utf-8"},
		{name: "projection", path: "/api/v1/web/guest/default/echo.text/response/name?name=Jane", status: 200, body: "Jane"},
		{name: "projection of a missing field", path: "/api/v1/web/guest/default/echo.json/nope", status: 400},
		{name: "dotted name", path: "/api/v1/web/guest/default/my.dotted.json", status: 200},
		{name: "unknown action", path: "/api/v1/web/guest/default/nothing.json", status: 404},
		{name: "not exported", path: "/api/v1/web/guest/default/hidden.json", status: 404},
		{name: "exported false", path: "/api/v1/web/guest/default/off.json", status: 404},
		{name: "a package", path: "/api/v1/web/guest/pkg/echo.json", status: 404},
		{name: "underscore namespace", path: "/api/v1/web/_/default/echo.json", status: 404},
		{name: "auth required, none", path: "/api/v1/web/guest/default/authed.json", status: 401},
		{name: "auth required, wrong", path: "/api/v1/web/guest/default/authed.json", hdr: map[string]string{"Authorization": basic(testUUID + ":x")}, status: 401},
		{name: "auth required, given", path: "/api/v1/web/guest/default/authed.json", hdr: map[string]string{"Authorization": goodAuth}, status: 200},
		{name: "secret missing", path: "/api/v1/web/guest/default/secret.json", status: 401},
		{name: "secret wrong", path: "/api/v1/web/guest/default/secret.json", hdr: map[string]string{"X-Require-Whisk-Auth": "nope"}, status: 401},
		{name: "secret right", path: "/api/v1/web/guest/default/secret.json", hdr: map[string]string{"X-Require-Whisk-Auth": "s3cret"}, status: 200},
		{name: "numeric secret", path: "/api/v1/web/guest/default/num.json", hdr: map[string]string{"X-Require-Whisk-Auth": "1234"}, status: 200},
		{name: "reserved param", path: "/api/v1/web/guest/default/echo.json?__ow_method=x", status: 400},
		{name: "protected param", path: "/api/v1/web/guest/default/echo.json?fixed=y", status: 400},
		{name: "application error, json", path: "/api/v1/web/guest/default/fails.json", status: 400, body: `{"statusCode":418,"body":"teapot","text":"bad"}` + "\n"},
		{name: "application error, http", path: "/api/v1/web/guest/default/fails.http", status: 418, body: "teapot"},
		{name: "application error, text", path: "/api/v1/web/guest/default/fails.text", status: 400},
		{name: "method not allowed", method: "TRACE", path: "/api/v1/web/guest/default/echo.json", status: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.method
			if m == "" {
				m = "GET"
			}
			w := do(t, h, m, tc.path, tc.hdr, "")
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.status, w.Body.String())
			}
			if tc.body != "" && w.Body.String() != tc.body {
				t.Errorf("body = %q, want %q", w.Body.String(), tc.body)
			}
			if tc.ctype != "" && w.Header().Get("Content-Type") != tc.ctype {
				t.Errorf("content-type = %q, want %q", w.Header().Get("Content-Type"), tc.ctype)
			}
		})
	}
}

func TestWebActionParams(t *testing.T) {
	f, h := webFake(t)
	w := do(t, h, "POST", "/api/v1/web/guest/default/echo.json/response?name=Jane&x=1", map[string]string{"Content-Type": "application/json", "X-Hdr": "v"}, `{"x":2,"obj":{"k":true}}`)
	if w.Code != 200 {
		t.Fatalf("status %d %s", w.Code, w.Body.String())
	}
	p := lastParams(t, f)
	want := map[string]any{"name": "Jane", "x": float64(2), "obj": map[string]any{"k": true}, "__ow_method": "post", "__ow_path": "/response"}
	for k, v := range want {
		if !reflect.DeepEqual(p[k], v) {
			t.Errorf("%s = %#v, want %#v", k, p[k], v)
		}
	}
	if h, _ := p["__ow_headers"].(map[string]any); h["x-hdr"] != "v" {
		t.Errorf("__ow_headers = %v", p["__ow_headers"])
	}
	for _, k := range []string{"__ow_query", "__ow_body", "__ow_user"} {
		if _, ok := p[k]; ok {
			t.Errorf("%s set for a non-raw action", k)
		}
	}
	// The .json answer is the projected result.
	if field(decode(t, w), "name") != "Jane" {
		t.Errorf("json answer %s", w.Body.String())
	}

	// A form body merges like JSON; other bodies become __ow_body.
	do(t, h, "POST", "/api/v1/web/guest/default/echo.json", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "name=Form")
	if p := lastParams(t, f); p["name"] != "Form" {
		t.Errorf("form: %v", p)
	}
	do(t, h, "POST", "/api/v1/web/guest/default/echo.json", map[string]string{"Content-Type": "text/plain"}, "Jane")
	if p := lastParams(t, f); p["__ow_body"] != "Jane" {
		t.Errorf("text body: %v", p)
	}
	do(t, h, "POST", "/api/v1/web/guest/default/echo.json", map[string]string{"Content-Type": "application/octet-stream"}, "\x00\x01")
	if p := lastParams(t, f); p["__ow_body"] != "AAE=" {
		t.Errorf("binary body: %v", p)
	}

	// Raw HTTP: query and body unparsed, JSON body in base64.
	do(t, h, "POST", "/api/v1/web/guest/default/raw.json?name=Jane", map[string]string{"Content-Type": "application/json"}, `{"name":"Jane"}`)
	p = lastParams(t, f)
	if p["__ow_query"] != "name=Jane" || p["__ow_body"] != "eyJuYW1lIjoiSmFuZSJ9" || p["name"] != nil {
		t.Errorf("raw params: %v", p)
	}

	// require-whisk-auth true: __ow_user is the namespace, the key stays out.
	do(t, h, "GET", "/api/v1/web/guest/default/authed.json", map[string]string{"Authorization": goodAuth}, "")
	p = lastParams(t, f)
	if p["__ow_user"] != testNS {
		t.Errorf("__ow_user = %v", p["__ow_user"])
	}
	if hd, _ := p["__ow_headers"].(map[string]any); hd["authorization"] != nil {
		t.Errorf("the key reached the action")
	}
	if f.lastID.UUID != testUUID {
		t.Errorf("authed web action invoked as %+v", f.lastID)
	}
	// Public: invoked as the namespace.
	do(t, h, "GET", "/api/v1/web/guest/default/echo.json", nil, "")
	if f.lastID.Namespace != testNS || !strings.EqualFold(f.lastID.UUID, testNS) {
		t.Errorf("public web action invoked as %+v", f.lastID)
	}
}
