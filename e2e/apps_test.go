package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
)

// TestApps deploys actions/examples/apps/shop, an unchanged Flask app, with
// `flurry app deploy` on the real Docker engine and drives it over HTTP:
// every route the app registered (path parameters, JSON and form bodies,
// cookies, headers, redirects built by url_for), 404 and 405 from the
// platform and 404 from the app, records of its activations, a redeploy
// that removes a route, deploys that fail with the runtime's message, and
// delete.
func TestApps(t *testing.T) {
	if !dockerReachable() {
		t.Skip("apps run in the python:3 image; no Docker engine is reachable")
	}
	buildRuntimeImages(t)
	s := startSystem(t, "")
	shop := filepath.Join(repoRoot, "actions", "examples", "apps", "shop")

	out, _ := s.cli(t, false, "app", "deploy", "shop", shop)
	if !strings.Contains(out, "ok: deployed app shop (version 0.0.1), 8 routes at "+s.api+"/apps/shop/") {
		t.Fatalf("deploy output:\n%s", out)
	}
	for _, want := range []string{"/items/<int:item_id>", "add_to_cart", "show_cart", "whoami"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}

	t.Run("routes", func(t *testing.T) {
		r := s.web(t, "GET", "/apps/shop/", nil, "")
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `<a href="/apps/shop/items/1">teapot</a>`) {
			t.Fatalf("index: %d %s", r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("index content type %q", ct)
		}

		r = s.web(t, "GET", "/apps/shop/items/2", nil, "")
		if r.status != http.StatusOK || r.json(t)["name"] != "kettle" {
			t.Errorf("item 2: %d %s", r.status, r.body)
		}
		// The app's own 404 (the rule matched, the item does not exist).
		if r = s.web(t, "GET", "/apps/shop/items/99", nil, ""); r.status != http.StatusNotFound || !strings.Contains(string(r.body), "Not Found") {
			t.Errorf("missing item: %d %s", r.status, r.body)
		}

		// POST with a JSON body; two cookies come back apart.
		r = s.web(t, "POST", "/apps/shop/cart", map[string]string{"Content-Type": "application/json"}, `{"id":1,"qty":2}`)
		if r.status != http.StatusCreated {
			t.Fatalf("add to cart: %d %s", r.status, r.body)
		}
		cookies := r.header.Values("Set-Cookie")
		if len(cookies) != 2 || !strings.HasPrefix(cookies[0], "cart=") || !strings.HasPrefix(cookies[1], "last_added=1") {
			t.Fatalf("Set-Cookie %q, want cart and last_added", cookies)
		}
		jar := cookieHeader(t, cookies)
		r = s.web(t, "GET", "/apps/shop/cart", map[string]string{"Cookie": jar}, "")
		cart := r.json(t)
		if r.status != http.StatusOK || cart["total"] != 25.0 || cart["last_added"] != "1" {
			t.Errorf("cart: %d %s", r.status, r.body)
		}
		if r = s.web(t, "POST", "/apps/shop/cart", map[string]string{"Content-Type": "application/json"}, `{"id":"x"}`); r.status != http.StatusBadRequest {
			t.Errorf("bad cart body: %d %s", r.status, r.body)
		}

		// A form POST that sets a cookie and redirects with url_for.
		r = s.web(t, "POST", "/apps/shop/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "user=ann")
		if r.status != http.StatusFound || r.header.Get("Location") != "/apps/shop/whoami" {
			t.Fatalf("login: %d Location %q %s", r.status, r.header.Get("Location"), r.body)
		}
		r = s.web(t, "GET", "/apps/shop/whoami", map[string]string{
			"Cookie": cookieHeader(t, r.header.Values("Set-Cookie")), "User-Agent": "e2e/1", "X-Trace-Id": "t-42"}, "")
		who := r.json(t)
		if who["user"] != "ann" || who["agent"] != "e2e/1" || who["trace"] != "t-42" {
			t.Errorf("whoami: %d %s", r.status, r.body)
		}

		// The platform answers what no rule serves, without an activation.
		for _, c := range []struct {
			method, path string
			status       int
		}{
			{"GET", "/apps/shop/nothing/here", http.StatusNotFound},
			{"GET", "/apps/nosuchapp/", http.StatusNotFound},
			{"DELETE", "/apps/shop/items/1", http.StatusMethodNotAllowed},
		} {
			r := s.web(t, c.method, c.path, nil, "")
			if r.status != c.status || r.header.Get("X-Openwhisk-Activation-Id") != "" {
				t.Errorf("%s %s: %d %s (activation %q), want %d", c.method, c.path, r.status, r.body, r.header.Get("X-Openwhisk-Activation-Id"), c.status)
			}
		}
	})

	t.Run("records", func(t *testing.T) {
		var starts []string
		for range 2 {
			r := s.web(t, "GET", "/apps/shop/items/3", nil, "")
			id := r.header.Get("X-Openwhisk-Activation-Id")
			if r.status != http.StatusOK || id == "" {
				t.Fatalf("item 3: %d %s (activation %q)", r.status, r.body, id)
			}
			var rec map[string]any
			testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() (err error) {
				rec, err = s.record(t, id)
				return err
			})
			app, _ := annotation(rec, "app")
			endpoint, _ := annotation(rec, "endpoint")
			start, _ := annotation(rec, "start")
			if rec["name"] != "shop" || app != "shop" || endpoint != "item" {
				t.Errorf("record %v", rec)
			}
			starts = append(starts, fmt.Sprint(start))
		}
		if starts[1] != "warm" {
			t.Errorf("second request to a hot endpoint started %q, want warm (%v)", starts[1], starts)
		}
	})

	t.Run("list and get", func(t *testing.T) {
		out, _ := s.cli(t, false, "app", "list")
		if !strings.Contains(out, "shop") || !strings.Contains(out, "/apps/shop/") {
			t.Errorf("app list:\n%s", out)
		}
		out, _ = s.cli(t, false, "app", "get", "shop")
		if !strings.Contains(out, "python:3") || !strings.Contains(out, "app:app") || !strings.Contains(out, "/cart") {
			t.Errorf("app get:\n%s", out)
		}
	})

	t.Run("redeploy", func(t *testing.T) {
		// Version 2 drops /whoami and changes the index; the swap is one step.
		v2 := copyDir(t, shop)
		src, err := os.ReadFile(filepath.Join(v2, "app.py"))
		if err != nil {
			t.Fatal(err)
		}
		code := strings.Replace(string(src), "@app.get(\"/whoami\")\n", "", 1)
		code = strings.Replace(code, "<h1>Flurry shop</h1>", "<h1>Flurry shop v2</h1>", 1)
		code = strings.Replace(code, `redirect(url_for("whoami"))`, `redirect(url_for("index"))`, 1)
		if err := os.WriteFile(filepath.Join(v2, "app.py"), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := s.cli(t, false, "app", "deploy", "shop", v2)
		if !strings.Contains(out, "version 0.0.2), 7 routes") {
			t.Fatalf("redeploy output:\n%s", out)
		}
		if r := s.web(t, "GET", "/apps/shop/whoami", nil, ""); r.status != http.StatusNotFound {
			t.Errorf("removed route: %d %s", r.status, r.body)
		}
		r := s.web(t, "GET", "/apps/shop/", nil, "")
		if !strings.Contains(string(r.body), "v2") {
			t.Errorf("index after redeploy: %d %s", r.status, r.body)
		}
		// The register activation's container, loaded with the app, serves
		// the first request after /specialize: no cold start.
		var rec map[string]any
		testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() (err error) {
			rec, err = s.record(t, r.header.Get("X-Openwhisk-Activation-Id"))
			return err
		})
		if start, _ := annotation(rec, "start"); start != "loaded" {
			t.Errorf("first request after a deploy started %v, want loaded", start)
		}
	})

	t.Run("bad deploys", func(t *testing.T) {
		dir := t.TempDir()
		n := 0
		write := func(name, code string) string { // each in its own directory
			n++
			p := filepath.Join(dir, fmt.Sprint(n), name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(code), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
		for _, c := range []struct {
			name string
			args []string
			want string
		}{
			{"syntax error", []string{write("app.py", "from flask import Flask\napp = Flask(__name__\n")}, "SyntaxError"},
			{"missing object", []string{write("app.py", "from flask import Flask\nweb = Flask(__name__)\n")}, "app"},
			{"not a Flask app", []string{write("plain.py", "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'hi']\n"), "--main", "plain:app"}, "url_map"},
			{"wrong kind", []string{shop, "--kind", "nodejs"}, "cannot run apps"},
		} {
			out, err := s.cli(t, true, append([]string{"app", "deploy", "shop"}, c.args...)...)
			if err == nil || !strings.Contains(out, c.want) {
				t.Errorf("%s: err %v, output %q lacks %q", c.name, err, out, c.want)
			}
		}
		// The deployed revision keeps serving.
		if r := s.web(t, "GET", "/apps/shop/items/1", nil, ""); r.status != http.StatusOK {
			t.Errorf("after failed deploys: %d %s", r.status, r.body)
		}
	})

	t.Run("delete", func(t *testing.T) {
		s.cli(t, false, "app", "delete", "shop")
		if r := s.web(t, "GET", "/apps/shop/", nil, ""); r.status != http.StatusNotFound {
			t.Errorf("deleted app: %d %s", r.status, r.body)
		}
		if out, err := s.cli(t, true, "app", "get", "shop"); err == nil {
			t.Errorf("get of a deleted app succeeded:\n%s", out)
		}
	})
}

// web sends an unauthenticated request with headers, not following
// redirects.
func (s *system) web(t *testing.T, method, path string, hdr map[string]string, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.api+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	cl := &http.Client{Timeout: 2 * time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// cookieHeader turns Set-Cookie values into a Cookie header.
func cookieHeader(t *testing.T, setCookies []string) string {
	t.Helper()
	// As a browser sends them back: name=value as set, quotes and all
	// (net/http's parser drops values with quotes or backslashes).
	var parts []string
	for _, c := range setCookies {
		if nv, _, _ := strings.Cut(c, ";"); strings.Contains(nv, "=") {
			parts = append(parts, strings.TrimSpace(nv))
		}
	}
	if len(parts) == 0 {
		t.Fatalf("no cookies in %q", setCookies)
	}
	return strings.Join(parts, "; ")
}

// copyDir copies the files of dir (one level) into a temporary directory.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
