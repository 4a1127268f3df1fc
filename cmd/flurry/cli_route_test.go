package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/client/clienttest"
)

// routeAPI fakes the route paths of /api/v1 and records requests and
// bodies.
func routeAPI(t *testing.T) (reqs *[]string, bodies *[]string) {
	t.Helper()
	var mu sync.Mutex
	reqs, bodies = &[]string{}, &[]string{}
	r := client.Route{Namespace: "guest", Name: "get-users-id", Methods: []string{"GET"}, Path: "/users/{id}", Action: "get-user", Revision: 1, URL: "/r/guest/users/{id}"}
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	p := "/api/v1/namespaces/{ns}/routes"
	mux.HandleFunc("GET "+p, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, []client.Route{r}) })
	mux.HandleFunc("GET "+p+"/{name}", func(w http.ResponseWriter, req *http.Request) {
		if req.PathValue("name") != r.Name {
			writeJSON(w, 404, map[string]string{"error": "the requested resource does not exist", "code": "x"})
			return
		}
		writeJSON(w, 200, r)
	})
	mux.HandleFunc("PUT "+p+"/{name}", func(w http.ResponseWriter, req *http.Request) {
		var in client.Route
		_ = json.NewDecoder(req.Body).Decode(&in)
		in.Name, in.Namespace, in.URL = req.PathValue("name"), "guest", "/r/guest"+in.Path
		writeJSON(w, 200, in)
	})
	mux.HandleFunc("DELETE "+p+"/{name}", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, r) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		mu.Lock()
		*reqs = append(*reqs, req.Method+" "+req.URL.RequestURI())
		*bodies = append(*bodies, string(b))
		mu.Unlock()
		req.Body = io.NopCloser(strings.NewReader(string(b)))
		mux.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	cliTestEnv(t)
	t.Setenv("FLURRY_API_HOST", srv.URL)
	t.Setenv("FLURRY_AUTH", clienttest.Auth)
	return reqs, bodies
}

func TestCLIRoute(t *testing.T) {
	reqs, bodies := routeAPI(t)
	tests := []struct {
		args    []string
		want    []string
		request string
		body    string
		fails   bool
	}{
		{[]string{"create", "GET", "/users/{id}", "get-user"}, []string{"ok: created route get-users-id: GET /users/{id} -> get-user", "/r/guest/users/{id}"},
			"PUT /api/v1/namespaces/_/routes/get-users-id", `{"methods":["GET"],"path":"/users/{id}","action":"get-user","public":false}`, false},
		{[]string{"create", "--public", "--name", "files", "get,head", "/files/*", "static"}, []string{"ok: created route files: GET,HEAD /files/* -> static"},
			"PUT /api/v1/namespaces/_/routes/files", `{"methods":["GET","HEAD"],"path":"/files/*","action":"static","public":true}`, false},
		{[]string{"update", "POST", "/", "root"}, []string{"ok: updated route post-root"},
			"PUT /api/v1/namespaces/_/routes/post-root?overwrite=true", "", false},
		{[]string{"list"}, []string{"Name", "get-users-id", "GET", "/users/{id}", "get-user", "key"}, "GET /api/v1/namespaces/_/routes", "", false},
		{[]string{"list", "-o", "json"}, []string{`"name": "get-users-id"`}, "GET /api/v1/namespaces/_/routes", "", false},
		{[]string{"get", "get-users-id"}, []string{"ok: got route get-users-id", `"path": "/users/{id}"`}, "GET /api/v1/namespaces/_/routes/get-users-id", "", false},
		{[]string{"get", "nope"}, nil, "GET /api/v1/namespaces/_/routes/nope", "", true},
		{[]string{"delete", "get-users-id"}, []string{"ok: deleted route get-users-id"}, "DELETE /api/v1/namespaces/_/routes/get-users-id", "", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := runCLI(t, cliRoute, tt.args...)
			if (err != nil) != tt.fails {
				t.Fatalf("err = %v, want failure %v", err, tt.fails)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if got := (*reqs)[len(*reqs)-1]; got != tt.request {
				t.Errorf("request %q, want %q", got, tt.request)
			}
			if got := strings.TrimSpace((*bodies)[len(*bodies)-1]); tt.body != "" && got != tt.body {
				t.Errorf("body %s, want %s", got, tt.body)
			}
		})
	}
	for _, args := range [][]string{{}, {"bogus"}, {"get"}, {"create", "GET", "/x"}, {"create", "GET", "x", "a"}, {"create", ",", "/x", "a"}} {
		if _, _, err := runCLI(t, cliRoute, args...); exitCode(err) != 2 {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

func TestDefaultRouteName(t *testing.T) {
	for _, tc := range []struct {
		methods []string
		path    string
		want    string
	}{
		{[]string{"GET"}, "/users/{id}", "get-users-id"},
		{[]string{"GET", "POST"}, "/", "get-post-root"},
		{[]string{"GET"}, "/files/*", "get-files-all"},
		{[]string{"PUT"}, "/a.b/Üx", "put-a-b-x"},
	} {
		if got := client.DefaultRouteName(tc.methods, tc.path); got != tc.want {
			t.Errorf("DefaultRouteName(%v, %q) = %q, want %q", tc.methods, tc.path, got, tc.want)
		}
	}
}
