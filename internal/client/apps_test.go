package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/client/clienttest"
)

// appDoc is an app document as the gateway answers it.
const appDoc = `{"namespace":"guest","name":"shop","kind":"python:3","main":"app:app","version":"0.0.3",
"updated":1764000000000,"url":"/apps/shop/","registration":"reg1",
"limits":{"timeout":60000,"memory":256,"concurrency":1,"logs":10},
"routes":[{"methods":["GET","HEAD","OPTIONS"],"rule":"/users/<int:id>","endpoint":"user","path":"/users/{id}"}]}`

// appRequest is one request the fake app API saw.
type appRequest struct {
	method, uri, auth, contentType string
	body                           string
}

// appAPI answers every request with status and body (after delay) and
// records what it got.
func appAPI(t *testing.T, status int, body string, delay time.Duration) (*client.Client, func() appRequest) {
	t.Helper()
	var (
		mu   sync.Mutex
		last appRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, p, _ := r.BasicAuth()
		mu.Lock()
		last = appRequest{method: r.Method, uri: r.URL.RequestURI(), auth: u + ":" + p, contentType: r.Header.Get("Content-Type"), body: string(b)}
		mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, clienttest.Auth, client.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	return c, func() appRequest {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

func checkShop(t *testing.T, a *client.App) {
	t.Helper()
	if a.Namespace != "guest" || a.Name != "shop" || a.Kind != "python:3" || a.Main != "app:app" || a.Version != "0.0.3" ||
		a.Updated != 1764000000000 || a.URL != "/apps/shop/" || a.Registration != "reg1" || a.Limits.Memory != 256 || a.Limits.Timeout != 60000 {
		t.Errorf("app = %+v", a)
	}
	if len(a.Routes) != 1 || a.Routes[0].Rule != "/users/<int:id>" || a.Routes[0].Endpoint != "user" ||
		a.Routes[0].Path != "/users/{id}" || strings.Join(a.Routes[0].Methods, ",") != "GET,HEAD,OPTIONS" {
		t.Errorf("routes = %+v", a.Routes)
	}
}

func TestAppDeploy(t *testing.T) {
	// The HTTP client's 50ms timeout must not cut a deploy short: the
	// server answers after 200ms, as a register activation that cold
	// starts a container would.
	c, last := appAPI(t, http.StatusOK, appDoc, 200*time.Millisecond)
	spec := client.AppSpec{Kind: "python:3", Main: "app:app", Code: "UEsFBg==", Binary: true, Limits: &client.LimitsSpec{Memory: 256, Timeout: 60000}}
	a, err := c.DeployApp(context.Background(), "_", "shop", spec)
	if err != nil {
		t.Fatal(err)
	}
	checkShop(t, a)
	if got := c.AppURL(a); got != c.APIHost()+"/apps/shop/" {
		t.Errorf("AppURL = %q", got)
	}
	r := last()
	if r.method != http.MethodPut || r.uri != "/api/v1/namespaces/_/apps/shop" || r.auth != clienttest.Auth || r.contentType != "application/json" {
		t.Errorf("request %+v", r)
	}
	const want = `{"kind":"python:3","main":"app:app","code":"UEsFBg==","binary":true,"limits":{"timeout":60000,"memory":256}}`
	if r.body != want {
		t.Errorf("body %s, want %s", r.body, want)
	}

	// Text code: binary false is sent, main and limits are left out.
	if _, err := c.DeployApp(context.Background(), "guest", "shop", client.AppSpec{Kind: "python:3", Code: "import flask\n"}); err != nil {
		t.Fatal(err)
	}
	if r := last(); r.body != `{"kind":"python:3","code":"import flask\n","binary":false}` {
		t.Errorf("text body %s", r.body)
	}
}

func TestAppDeployHonoursContext(t *testing.T) {
	c, _ := appAPI(t, http.StatusOK, appDoc, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.DeployApp(ctx, "_", "shop", client.AppSpec{Kind: "python:3", Code: "x"}); err == nil {
		t.Fatal("deploy outlived its context")
	}
}

func TestAppErrors(t *testing.T) {
	tests := []struct {
		status int
		body   string
		msg    string
	}{
		{http.StatusBadRequest, `{"error":"app register failed: ModuleNotFoundError: No module named 'flask_x' (activation 4f2a)","code":"t1"}`, "No module named 'flask_x' (activation 4f2a)"},
		{http.StatusUnauthorized, `{"error":"The supplied authentication is invalid","code":"t2"}`, "authentication is invalid"},
		{http.StatusConflict, `{"error":"app shop belongs to another namespace","code":"t3"}`, "another namespace"},
		{http.StatusRequestEntityTooLarge, `{"error":"code is larger than 48 MiB","code":"t4"}`, "larger than 48 MiB"},
		{http.StatusServiceUnavailable, "upstream down", "upstream down"},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			c, _ := appAPI(t, tt.status, tt.body, 0)
			_, err := c.DeployApp(context.Background(), "_", "shop", client.AppSpec{Kind: "python:3", Code: "x"})
			if client.StatusCode(err) != tt.status || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "deploy app shop") {
				t.Errorf("err = %v, want %d with %q", err, tt.status, tt.msg)
			}
		})
	}
	c, _ := appAPI(t, http.StatusNotFound, `{"error":"The requested resource does not exist.","code":"t5"}`, 0)
	if _, err := c.GetApp(context.Background(), "_", "nope"); client.StatusCode(err) != http.StatusNotFound {
		t.Errorf("get: err = %v, want 404", err)
	}
	if _, err := c.DeleteApp(context.Background(), "_", "nope"); client.StatusCode(err) != http.StatusNotFound {
		t.Errorf("delete: err = %v, want 404", err)
	}
}

func TestAppGetListDelete(t *testing.T) {
	ctx := context.Background()
	c, last := appAPI(t, http.StatusOK, appDoc, 0)
	a, err := c.GetApp(ctx, "_", "shop")
	if err != nil {
		t.Fatal(err)
	}
	checkShop(t, a)
	if r := last(); r.method != http.MethodGet || r.uri != "/api/v1/namespaces/_/apps/shop" {
		t.Errorf("get request %+v", r)
	}
	if a, err = c.DeleteApp(ctx, "guest", "shop"); err != nil {
		t.Fatal(err)
	}
	checkShop(t, a)
	if r := last(); r.method != http.MethodDelete || r.uri != "/api/v1/namespaces/guest/apps/shop" || r.body != "" {
		t.Errorf("delete request %+v", r)
	}

	c, last = appAPI(t, http.StatusOK, "["+appDoc+"]", 0)
	list, err := c.ListApps(ctx, "_")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("list = %+v", list)
	}
	checkShop(t, &list[0])
	if r := last(); r.method != http.MethodGet || r.uri != "/api/v1/namespaces/_/apps" {
		t.Errorf("list request %+v", r)
	}
}
