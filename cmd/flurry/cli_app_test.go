package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/client/clienttest"
	"github.com/flurryfn/flurry/internal/entity"
)

// fakeApps fakes the app paths of /api/v1: it holds one app, "shop",
// answers deploys of any name with a two-route app, and records requests
// and bodies.
type fakeApps struct {
	url string

	mu     sync.Mutex
	reqs   []string
	bodies []string
	// deployError, when set, is the error body deploys answer with 400.
	deployError string
}

func (f *fakeApps) last() (req, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return "", ""
	}
	return f.reqs[len(f.reqs)-1], f.bodies[len(f.bodies)-1]
}

func (f *fakeApps) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *fakeApps) failDeploys(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deployError = msg
}

// shopApp is the app the fake holds and deploys.
func shopApp(name string) client.App {
	return client.App{
		Namespace: "guest", Name: name, Kind: "python:3", Main: "app:app", Version: "0.0.3",
		Updated: 1764000000000, URL: "/apps/" + name + "/", Registration: "reg1",
		Limits: entity.Limits{Timeout: 60000, Memory: 256, Concurrency: 1, Logs: 10},
		Routes: []entity.AppRoute{
			{Methods: []string{"GET", "HEAD", "OPTIONS"}, Rule: "/", Endpoint: "index", Path: "/"},
			{Methods: []string{"GET", "HEAD", "OPTIONS"}, Rule: "/users/<int:id>", Endpoint: "user", Path: "/users/{id}"},
		},
	}
}

// appCLIAPI starts the fake and points the client configuration at it.
func appCLIAPI(t *testing.T) *fakeApps {
	t.Helper()
	f := &fakeApps{}
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	notFound := func(w http.ResponseWriter) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "The requested resource does not exist.", "code": "x"})
	}
	mux := http.NewServeMux()
	p := "/api/v1/namespaces/{ns}/apps"
	mux.HandleFunc("GET "+p, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, []client.App{shopApp("shop")}) })
	mux.HandleFunc("GET "+p+"/{app}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("app") != "shop" {
			notFound(w)
			return
		}
		writeJSON(w, 200, shopApp("shop"))
	})
	mux.HandleFunc("DELETE "+p+"/{app}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("app") != "shop" {
			notFound(w)
			return
		}
		writeJSON(w, 200, shopApp("shop"))
	})
	mux.HandleFunc("PUT "+p+"/{app}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		msg := f.deployError
		f.mu.Unlock()
		if msg != "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg, "code": "x"})
			return
		}
		writeJSON(w, 200, shopApp(r.PathValue("app")))
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, r.Method+" "+r.URL.RequestURI())
		f.bodies = append(f.bodies, string(b))
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	cliTestEnv(t)
	t.Setenv("FLURRY_API_HOST", srv.URL)
	t.Setenv("FLURRY_AUTH", clienttest.Auth)
	return f
}

// writeTree writes files (slash-separated path → content) under a new
// temporary directory and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), content)
	}
	return dir
}

// zipEntries returns the names and contents of a zip's entries, in order.
func zipEntries(t *testing.T, b []byte) ([]string, map[string]string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	var names []string
	contents := map[string]string{}
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, zf.Name)
		contents[zf.Name] = string(data)
	}
	return names, contents
}

func TestCLIAppDeployDirectory(t *testing.T) {
	f := appCLIAPI(t)
	dir := writeTree(t, map[string]string{
		"app.py":                            "from flask import Flask\napp = Flask(__name__)\n",
		"pkg/__init__.py":                   "",
		"pkg/views.pyc":                     "bytecode",
		"pkg/__pycache__/views.cpython.pyc": "bytecode",
		"__pycache__/app.cpython-311.pyc":   "bytecode",
		"templates/index.html":              "<h1>shop</h1>",
		".git/HEAD":                         "ref: refs/heads/main",
	})
	// A symlink to a file is zipped as the file; a dangling one is skipped.
	if err := os.Symlink("app.py", filepath.Join(dir, "wsgi.py")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("gone.py", filepath.Join(dir, "dangling.py")); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, cliApp, "deploy", "shop", dir, "--main", "app:app", "-m", "256", "--timeout", "60000")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"ok: deployed app shop (version 0.0.3), 2 routes at " + f.url + "/apps/shop/\n",
		"Methods", "Rule", "Endpoint",
		"GET,HEAD,OPTIONS /users/<int:id> user",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	req, body := f.last()
	if req != "PUT /api/v1/namespaces/_/apps/shop" {
		t.Errorf("request %q", req)
	}
	var spec client.AppSpec
	if err := json.Unmarshal([]byte(body), &spec); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if spec.Kind != entity.KindPython || spec.Main != "app:app" || !spec.Binary ||
		spec.Limits == nil || *spec.Limits != (client.LimitsSpec{Memory: 256, Timeout: 60000}) {
		t.Errorf("spec = %+v (limits %+v)", spec, spec.Limits)
	}
	zb, err := base64.StdEncoding.DecodeString(spec.Code)
	if err != nil {
		t.Fatalf("code is not base64: %v", err)
	}
	names, contents := zipEntries(t, zb)
	if want := []string{"app.py", "pkg/__init__.py", "templates/index.html", "wsgi.py"}; !slices.Equal(names, want) {
		t.Errorf("zip entries %q, want %q", names, want)
	}
	if contents["app.py"] != "from flask import Flask\napp = Flask(__name__)\n" || contents["templates/index.html"] != "<h1>shop</h1>" ||
		contents["wsgi.py"] != contents["app.py"] {
		t.Errorf("zip contents %q", contents)
	}

	// The same tree zips to the same bytes, so a redeploy of unchanged
	// code stores no new object.
	again, err := cliZipDir(dir, entity.MaxCodeBytes)
	if err != nil || !bytes.Equal(again, zb) {
		t.Errorf("zipping again: err %v, same bytes %v", err, bytes.Equal(again, zb))
	}
}

func TestCLIAppDeployFiles(t *testing.T) {
	f := appCLIAPI(t)
	dir := t.TempDir()
	py := filepath.Join(dir, "app.py")
	writeFile(t, py, "from flask import Flask\napp = Flask(__name__)\n")
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("main.py")
	io.WriteString(w, "app = None\n")
	zw.Close()
	zipPath := filepath.Join(dir, "shop.ZIP")
	writeFile(t, zipPath, zbuf.String())

	out, _, err := runCLI(t, cliApp, "deploy", "blog", py)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "ok: deployed app blog (version 0.0.3), 2 routes at "+f.url+"/apps/blog/") {
		t.Errorf("output:\n%s", out)
	}
	req, body := f.last()
	const want = `{"kind":"python:3","code":"from flask import Flask\napp = Flask(__name__)\n","binary":false}`
	if req != "PUT /api/v1/namespaces/_/apps/blog" || body != want {
		t.Errorf("request %q body %s, want %s", req, body, want)
	}

	if _, _, err := runCLI(t, cliApp, "deploy", "shop", zipPath, "--kind", "python", "--main", "main:app", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	_, body = f.last()
	var spec client.AppSpec
	if err := json.Unmarshal([]byte(body), &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Kind != "python" || spec.Main != "main:app" || !spec.Binary || spec.Code != base64.StdEncoding.EncodeToString(zbuf.Bytes()) || spec.Limits != nil {
		t.Errorf("zip deploy sent %+v", spec)
	}
}

func TestCLIAppDeployJSON(t *testing.T) {
	appCLIAPI(t)
	out, _, err := runCLI(t, cliApp, "deploy", "shop", writeTree(t, map[string]string{"app.py": "x"}), "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var a client.App
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if a.Name != "shop" || a.Registration != "reg1" || len(a.Routes) != 2 || strings.Contains(out, "ok:") {
		t.Errorf("output:\n%s", out)
	}
}

func TestCLIAppDeployErrors(t *testing.T) {
	f := appCLIAPI(t)
	dir := t.TempDir()
	txt := filepath.Join(dir, "README.txt")
	writeFile(t, txt, "hello")
	badZip := filepath.Join(dir, "bad.zip")
	writeFile(t, badZip, "not a zip")
	huge := filepath.Join(dir, "huge.py")
	writeFile(t, huge, "")
	if err := os.Truncate(huge, entity.MaxCodeBytes+1); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{"missing path", filepath.Join(dir, "nope"), "no such file or directory"},
		{"other file", txt, "is not a directory, a .zip or a .py file"},
		{"bad zip", badZip, "is not a valid zip"},
		{"too large", huge, "larger than the 48 MiB code limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.count()
			_, _, err := runCLI(t, cliApp, "deploy", "shop", tt.path)
			if exitCode(err) != 1 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v (exit %d), want exit 1 with %q", err, exitCode(err), tt.want)
			}
			if f.count() != before {
				t.Errorf("code that was refused locally was sent")
			}
		})
	}

	const msg = "app shop: /register failed: ModuleNotFoundError: No module named 'flask_login' (activation 9c1d)"
	f.failDeploys(msg)
	_, _, err := runCLI(t, cliApp, "deploy", "shop", writeTree(t, map[string]string{"app.py": "import flask_login\n"}))
	if exitCode(err) != 1 || !strings.Contains(err.Error(), msg) || client.StatusCode(err) != http.StatusBadRequest {
		t.Errorf("failed register: err = %v, want exit 1 with the server's message", err)
	}
}

func TestCLIAppZipLimit(t *testing.T) {
	dir := writeTree(t, map[string]string{"app.py": strings.Repeat("incompressible? no, but long enough\n", 100)})
	if _, err := cliZipDir(dir, 100); !errors.Is(err, errCodeTooLarge) {
		t.Errorf("err = %v, want errCodeTooLarge", err)
	}
	if _, err := cliZipDir(dir, 1<<20); err != nil {
		t.Errorf("under the limit: %v", err)
	}
	empty := writeTree(t, map[string]string{"__pycache__/app.pyc": "bytecode"})
	if _, err := cliZipDir(empty, 1<<20); err == nil || !strings.Contains(err.Error(), "no files") {
		t.Errorf("a tree without files: err = %v", err)
	}
}

// appExit is the exit status of a command that returned err.
func appExit(err error) int {
	if err == nil {
		return 0
	}
	return exitCode(err)
}

func TestCLIAppListGetDelete(t *testing.T) {
	f := appCLIAPI(t)
	tests := []struct {
		args    []string
		want    []string
		request string
		exit    int
	}{
		{[]string{"list"}, []string{"Name", "Version", "Routes", "URL", "shop 0.0.3   2      " + f.url + "/apps/shop/"}, "GET /api/v1/namespaces/_/apps", 0},
		{[]string{"list", "-o", "json"}, []string{`"name": "shop"`, `"rule": "/users/<int:id>"`}, "GET /api/v1/namespaces/_/apps", 0},
		{[]string{"get", "shop"}, []string{"ok: got app shop", "kind:", "python:3", "main:", "app:app", "version:", "0.0.3",
			"url:", f.url + "/apps/shop/", "registration:", "reg1", "timeout 60000ms, memory 256MiB",
			"2 routes:", "GET,HEAD,OPTIONS /users/<int:id> user"}, "GET /api/v1/namespaces/_/apps/shop", 0},
		{[]string{"get", "shop", "-o", "json", "--namespace", "guest"}, []string{`"registration": "reg1"`}, "GET /api/v1/namespaces/guest/apps/shop", 0},
		{[]string{"get", "nope"}, nil, "GET /api/v1/namespaces/_/apps/nope", 1},
		{[]string{"delete", "shop"}, []string{"ok: deleted app shop"}, "DELETE /api/v1/namespaces/_/apps/shop", 0},
		{[]string{"delete", "nope"}, nil, "DELETE /api/v1/namespaces/_/apps/nope", 1},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := runCLI(t, cliApp, tt.args...)
			if got := appExit(err); got != tt.exit {
				t.Fatalf("err = %v (exit %d), want exit %d", err, got, tt.exit)
			}
			if tt.exit != 0 && !strings.Contains(err.Error(), "does not exist") {
				t.Errorf("err = %v, want the server's message", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if req, _ := f.last(); req != tt.request {
				t.Errorf("request %q, want %q", req, tt.request)
			}
		})
	}
}

func TestCLIAppUsage(t *testing.T) {
	f := appCLIAPI(t)
	dir := writeTree(t, map[string]string{"app.py": "x"})
	for _, args := range [][]string{
		{}, {"bogus"}, {"deploy"}, {"deploy", "shop"}, {"deploy", "shop", dir, "extra"},
		{"deploy", "shop", dir, "--memory", "lots"}, {"deploy", "shop", dir, "-t", "-1"},
		{"deploy", "shop", dir, "--public"}, {"get"}, {"delete"}, {"list", "x"}, {"list", "-o", "yaml"},
	} {
		if _, _, err := runCLI(t, cliApp, args...); exitCode(err) != 2 {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
	if n := f.count(); n != 0 {
		t.Errorf("usage errors sent %d requests", n)
	}
	out, _, err := runCLI(t, cliApp, "help")
	if err != nil || !strings.Contains(out, "deploy NAME PATH") {
		t.Errorf("help: err %v, output:\n%s", err, out)
	}
	out, _, err = runCLI(t, cliApp, "deploy", "-h")
	if err != nil || !strings.Contains(out, "--main MODULE:ATTR") || !strings.Contains(out, "-m, --memory MB") {
		t.Errorf("deploy -h: err %v, output:\n%s", err, out)
	}
	if _, ok := commands["app"]; !ok {
		t.Error(`"flurry app" is not registered`)
	}
}
