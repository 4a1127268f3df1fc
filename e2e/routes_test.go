package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRoutes serves HTTP routes and OpenWhisk web actions from a
// standalone system: the httpecho example action answers with the
// request it got, so the event shape is checked from outside.
func TestRoutes(t *testing.T) {
	s := startSystem(t, "")
	s.createAction(t, "httpecho", "httpecho", nil)

	// Routes through the CLI: one private, one public, one prefix.
	out, _ := s.cli(t, false, "route", "create", "GET,POST", "/users/{id}", "httpecho")
	if !strings.Contains(out, "ok: created route get-post-users-id") || !strings.Contains(out, s.api+"/r/guest/users/{id}") {
		t.Fatalf("route create: %s", out)
	}
	s.cli(t, false, "route", "create", "--public", "--name", "pub", "GET", "/public/*", "httpecho")
	if out, err := s.cli(t, true, "route", "create", "--name", "dup", "GET", "/users/{uid}", "httpecho"); err == nil || !strings.Contains(out, "409") {
		t.Fatalf("conflicting route: %v %s", err, out)
	}
	out, _ = s.cli(t, false, "route", "list")
	if !strings.Contains(out, "get-post-users-id") || !strings.Contains(out, "pub") || !strings.Contains(out, "public") {
		t.Fatalf("route list: %s", out)
	}

	call := func(t *testing.T, method, path, auth string, hdr map[string]string, body []byte) response {
		t.Helper()
		req, err := http.NewRequest(method, s.api+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if auth != "" {
			u, k, _ := strings.Cut(auth, ":")
			req.SetBasicAuth(u, k)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, header: resp.Header, body: b}
	}

	t.Run("private route with a path parameter", func(t *testing.T) {
		r := call(t, "POST", "/r/guest/users/42?q=go&status=201", guestAuth, map[string]string{"Content-Type": "application/json", "X-Test": "yes"}, []byte(`{"a":1}`))
		if r.status != 201 || r.header.Get("X-Echo") != "1" || r.header.Get("x-openwhisk-activation-id") == "" {
			t.Fatalf("status %d headers %v body %s", r.status, r.header, r.body)
		}
		ev := r.json(t)
		if ev["method"] != "POST" || ev["path"] != "/users/42" || ev["route"] != "/users/{id}" || ev["body"] != `{"a":1}` || ev["isBase64Encoded"] != false {
			t.Errorf("event %s", r.body)
		}
		if pp, _ := ev["pathParams"].(map[string]any); pp["id"] != "42" {
			t.Errorf("pathParams %v", ev["pathParams"])
		}
		if q, _ := ev["query"].(map[string]any); q["q"] != "go" {
			t.Errorf("query %v", ev["query"])
		}
		h, _ := ev["headers"].(map[string]any)
		if h["x-test"] != "yes" || h["authorization"] != nil {
			t.Errorf("headers %v (the key must not reach the action)", h)
		}
	})
	t.Run("private route needs the key", func(t *testing.T) {
		if r := call(t, "GET", "/r/guest/users/1", "", nil, nil); r.status != 401 {
			t.Fatalf("no key: %d %s", r.status, r.body)
		}
		if r := call(t, "GET", "/r/guest/users/1", strings.Split(guestAuth, ":")[0]+":wrong", nil, nil); r.status != 401 {
			t.Fatalf("wrong key: %d %s", r.status, r.body)
		}
	})
	t.Run("public prefix route with a binary body", func(t *testing.T) {
		bin := []byte{0x89, 'P', 'N', 'G', 0, 0xff}
		r := call(t, "GET", "/r/guest/public/img/a.png", "", map[string]string{"Content-Type": "image/png"}, bin)
		if r.status != 200 || r.header.Get("Content-Type") != "image/png" || !bytes.Equal(r.body, bin) {
			t.Fatalf("status %d type %q body %q", r.status, r.header.Get("Content-Type"), r.body)
		}
		r = call(t, "GET", "/r/guest/public/a/b", "", nil, nil)
		if pp, _ := r.json(t)["pathParams"].(map[string]any); pp["*"] != "a/b" {
			t.Errorf("prefix pathParams %s", r.body)
		}
	})
	t.Run("404 and 405", func(t *testing.T) {
		r := call(t, "GET", "/r/guest/nothing", "", nil, nil)
		if r.status != 404 || !strings.Contains(string(r.body), "no route") {
			t.Fatalf("404: %d %s", r.status, r.body)
		}
		r = call(t, "DELETE", "/r/guest/users/1", guestAuth, nil, nil)
		if r.status != 405 || r.header.Get("Allow") != "GET, HEAD, POST" {
			t.Fatalf("405: %d %v %s", r.status, r.header, r.body)
		}
	})
	t.Run("route deleted", func(t *testing.T) {
		s.cli(t, false, "route", "delete", "pub")
		if r := call(t, "GET", "/r/guest/public/x", "", nil, nil); r.status != 404 {
			t.Fatalf("deleted route: %d", r.status)
		}
	})

	t.Run("web actions", func(t *testing.T) {
		r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/actions/webecho?overwrite=true", map[string]any{
			"exec":        map[string]any{"kind": "go", "binary": true, "code": base64.StdEncoding.EncodeToString(example(t, "httpecho"))},
			"annotations": []map[string]any{{"key": "web-export", "value": true}},
		})
		if r.status != 200 {
			t.Fatalf("create web action: %d %s", r.status, r.body)
		}
		// .json: the whole result (here an HTTP response object) as JSON.
		r = call(t, "GET", "/api/v1/web/guest/default/webecho.json?name=Jane", "", nil, nil)
		if r.status != 200 {
			t.Fatalf(".json: %d %s", r.status, r.body)
		}
		var args map[string]any
		if err := json.Unmarshal([]byte(r.json(t)["body"].(string)), &args); err != nil {
			t.Fatal(err)
		}
		if args["name"] != "Jane" || args["__ow_method"] != "get" || args["__ow_path"] != "" {
			t.Errorf(".json params %v", args)
		}
		// .http: the result is the response.
		r = call(t, "POST", "/api/v1/web/guest/default/webecho.http", "", map[string]string{"Content-Type": "application/json"}, []byte(`{"name":"Ada"}`))
		if r.status != 200 || r.header.Get("X-Echo") != "1" || r.json(t)["name"] != "Ada" {
			t.Fatalf(".http: %d %v %s", r.status, r.header, r.body)
		}
		// Not exported: 404, like an action that does not exist.
		if r = call(t, "GET", "/api/v1/web/guest/default/httpecho.json", "", nil, nil); r.status != 404 {
			t.Fatalf("not exported: %d %s", r.status, r.body)
		}
		// require-whisk-auth true: 401 without the namespace's key.
		r = s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/actions/webecho?overwrite=true", map[string]any{
			"annotations": []map[string]any{{"key": "web-export", "value": true}, {"key": "require-whisk-auth", "value": true}},
		})
		if r.status != 200 {
			t.Fatalf("update web action: %d %s", r.status, r.body)
		}
		if r = call(t, "GET", "/api/v1/web/guest/default/webecho.json", "", nil, nil); r.status != 401 {
			t.Fatalf("auth required: %d %s", r.status, r.body)
		}
		if r = call(t, "GET", "/api/v1/web/guest/default/webecho.json", guestAuth, nil, nil); r.status != 200 {
			t.Fatalf("auth given: %d %s", r.status, r.body)
		}
	})
}
