package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const cliTestAdminAuth = "ad000000-0000-4000-8000-000000000001:adminsecret"

// adminAPI fakes /v1/admin and records "AUTH METHOD URI BODY" of each
// request, AUTH being the Basic credential sent.
func adminAPI(t *testing.T) *[]string {
	t.Helper()
	var mu sync.Mutex
	var reqs []string
	ns := `{"name":"team-a","created":"1700000000000","network":"none","eventSubjects":["orders.>"],"eventStreams":[]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u, p, _ := r.BasicAuth()
		mu.Lock()
		reqs = append(reqs, strings.TrimSpace(u+":"+p+" "+r.Method+" "+r.URL.RequestURI()+" "+string(body)))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		path := r.URL.Path
		switch {
		case r.Method == http.MethodPost && path == "/v1/admin/namespaces":
			io.WriteString(w, `{"namespace":`+ns+`,"key":{"uuid":"k1","namespace":"team-a"},"auth":"k1:s1"}`)
		case r.Method == http.MethodPost && strings.HasSuffix(path, "/keys"):
			io.WriteString(w, `{"key":{"uuid":"k2","namespace":"team-a"},"auth":"k2:s2"}`)
		case r.Method == http.MethodDelete && strings.Contains(path, "/keys/"):
			io.WriteString(w, `{"key":{"uuid":"k2","namespace":"team-a"}}`)
		case strings.HasSuffix(path, "/keys"):
			io.WriteString(w, `{"keys":[{"uuid":"k1","namespace":"team-a"}]}`)
		case strings.HasSuffix(path, "/limits"):
			io.WriteString(w, `{"limits":{"concurrentInvocations":"2","invocationsPerMinute":"0"}}`)
		case r.Method == http.MethodDelete:
			io.WriteString(w, `{"namespace":`+ns+`,"revokedKeys":[{"uuid":"k1","namespace":"team-a"}]}`)
		case path == "/v1/admin/namespaces":
			io.WriteString(w, `{"namespaces":[`+ns+`]}`)
		default:
			io.WriteString(w, `{"namespace":`+ns+`,"keys":[],"limits":{}}`)
		}
	}))
	t.Cleanup(srv.Close)
	cliTestEnv(t)
	t.Setenv("FLURRY_API_HOST", srv.URL)
	t.Setenv("FLURRY_AUTH", "tenant:must-not-be-used")
	t.Setenv(adminAuthEnv, cliTestAdminAuth)
	return &reqs
}

func TestCLIAdmin(t *testing.T) {
	reqs := adminAPI(t)
	for _, tt := range []struct {
		args    []string
		want    string
		request string
	}{
		{[]string{"namespace", "create", "team-a", "--network", "none", "--event-subject", "orders.>"}, "ok: created namespace team-a",
			`POST /v1/admin/namespaces {"eventSubjects":["orders.\u003e"],"name":"team-a","network":"none"}`},
		{[]string{"namespace", "list"}, "team-a", "GET /v1/admin/namespaces"},
		{[]string{"namespace", "get", "team-a"}, `"network": "none"`, "GET /v1/admin/namespaces/team-a"},
		{[]string{"namespace", "set", "team-a", "--event-stream", "ORDERS", "--clear-event-subjects"}, "ok: updated namespace team-a",
			`PATCH /v1/admin/namespaces/team-a {"eventStreams":{"values":["ORDERS"]},"eventSubjects":{"values":[]}}`},
		{[]string{"namespace", "delete", "team-a"}, "1 keys revoked", "DELETE /v1/admin/namespaces/team-a"},
		{[]string{"key", "create", "team-a"}, "k2:s2", "POST /v1/admin/namespaces/team-a/keys {}"},
		{[]string{"key", "list", "team-a"}, "k1", "GET /v1/admin/namespaces/team-a/keys"},
		{[]string{"key", "revoke", "team-a", "k2"}, "ok: revoked key k2", "DELETE /v1/admin/namespaces/team-a/keys/k2"},
		{[]string{"limits", "set", "team-a", "--concurrent", "2", "--per-minute", "0"}, "per minute  unlimited",
			`PUT /v1/admin/namespaces/team-a/limits {"limits":{"concurrentInvocations":"2","invocationsPerMinute":"0"}}`},
		{[]string{"limits", "get", "team-a", "-o", "json"}, `"concurrentInvocations": "2"`, "GET /v1/admin/namespaces/team-a/limits"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			*reqs = nil
			out, _, err := runCLI(t, cliAdmin, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output %q lacks %q", out, tt.want)
			}
			want := cliTestAdminAuth + " " + tt.request
			if len(*reqs) != 1 || (*reqs)[0] != want {
				t.Errorf("requests = %q, want [%q]", *reqs, want)
			}
		})
	}
}

// The new key is the last line, for scripts.
func TestCLIAdminKeyIsLastLine(t *testing.T) {
	adminAPI(t)
	for _, args := range [][]string{{"namespace", "create", "team-a"}, {"key", "create", "team-a"}} {
		out, _, err := runCLI(t, cliAdmin, args...)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if last := lines[len(lines)-1]; last != "k1:s1" && last != "k2:s2" {
			t.Errorf("%v: last line %q is not the key", args, last)
		}
	}
}

// Without --auth or FLURRY_ADMIN_AUTH the credential comes from the data
// dir, never from FLURRY_AUTH.
func TestCLIAdminCredentialFromDataDir(t *testing.T) {
	reqs := adminAPI(t)
	t.Setenv(adminAuthEnv, "")
	dir := t.TempDir()
	if _, _, err := runCLI(t, cliAdmin, "namespace", "list", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "no admin credential") {
		t.Fatalf("without a credential: %v", err)
	}
	writeFile(t, filepath.Join(dir, adminAuthFile), "dd000000-0000-4000-8000-000000000002:fromfile\n")
	*reqs = nil
	if _, _, err := runCLI(t, cliAdmin, "namespace", "list", "--data-dir", dir); err != nil {
		t.Fatal(err)
	}
	if len(*reqs) != 1 || !strings.HasPrefix((*reqs)[0], "dd000000-0000-4000-8000-000000000002:fromfile ") {
		t.Errorf("requests = %q", *reqs)
	}
	*reqs = nil
	if _, _, err := runCLI(t, cliAdmin, "namespace", "list", "--data-dir", dir, "--auth", "ee:flag"); err != nil {
		t.Fatal(err)
	}
	if len(*reqs) != 1 || !strings.HasPrefix((*reqs)[0], "ee:flag ") {
		t.Errorf("requests with --auth = %q", *reqs)
	}
}

func TestCLIAdminUsage(t *testing.T) {
	adminAPI(t)
	for _, args := range [][]string{
		{},
		{"nope"},
		{"namespace"},
		{"namespace", "nope"},
		{"namespace", "create"},
		{"namespace", "create", "a", "--network", "host"},
		{"namespace", "set", "a"},
		{"key", "revoke", "a"},
		{"limits", "set", "a", "--concurrent", "-1"},
	} {
		if _, _, err := runCLI(t, cliAdmin, args...); exitCode(err) != 2 {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
	if out, _, err := runCLI(t, cliAdmin, "--help"); err != nil || !strings.Contains(out, "namespace create NAME") {
		t.Errorf("help: %v %q", err, out)
	}
	if out, _, err := runCLI(t, cliAdmin, "key", "revoke", "-h"); err != nil || !strings.Contains(out, "the admin credential (env FLURRY_ADMIN_AUTH") || strings.Contains(out, "FLURRY_AUTH)") {
		t.Errorf("command help: %v %q", err, out)
	}
}

func TestKeptAdminAuth(t *testing.T) {
	cliTestEnv(t)
	t.Setenv(adminAuthEnv, "")
	dir := t.TempDir()
	a, generated, err := keptAdminAuth(dir, "")
	if err != nil || !generated {
		t.Fatalf("first start: %q %v %v", a, generated, err)
	}
	b, generated, err := keptAdminAuth(dir, "")
	if err != nil || generated || b != a {
		t.Fatalf("second start: %q %v %v, want %q kept", b, generated, err, a)
	}
	c, _, err := keptAdminAuth(dir, "cc:flag")
	if err != nil || c != "cc:flag" {
		t.Fatalf("flag: %q %v", c, err)
	}
	if _, _, err := keptAdminAuth(dir, "nocolon"); err == nil {
		t.Error("malformed flag accepted")
	}
	path := filepath.Join(dir, adminAuthFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keptAdminAuth(dir, ""); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.auth mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}
