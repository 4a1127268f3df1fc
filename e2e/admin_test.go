package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
)

// adminCLI runs `flurry admin ARGS --data-dir DIR` against s: the admin
// credential comes from the standalone's data dir, as an operator's would.
func (s *system) adminCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, _ := s.cli(t, false, append(append([]string{"admin"}, args...), "--data-dir", s.dataDir)...)
	return out
}

// lastLine is the last non-empty line of out.
func lastLine(t *testing.T, out string) string {
	t.Helper()
	l := lines(out)
	if len(l) == 0 {
		t.Fatalf("no output")
	}
	return l[len(l)-1]
}

// putAction deploys example as action name of the key's own namespace.
func (s *system) putAction(t *testing.T, auth, name, exampleName string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"exec": map[string]any{"kind": "go", "binary": true, "code": base64.StdEncoding.EncodeToString(example(t, exampleName))},
	})
	if r := s.do(t, http.MethodPut, "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", auth, bytes.NewReader(body)); r.status != http.StatusOK {
		t.Fatalf("create %s: %d %s", name, r.status, r.body)
	}
}

// TestAdmin drives namespace administration against a real standalone:
// a namespace made with the CLI runs actions in its own namespace and
// cannot reach guest's; keys revoked or of a deleted namespace stop
// working within seconds; tenants cannot use the admin API; limits set by
// the administrator throttle.
func TestAdmin(t *testing.T) {
	s := startSystem(t, "")
	s.createAction(t, "hello", "hello", nil)

	teamA := lastLine(t, s.adminCLI(t, "namespace", "create", "team-a", "--network", "default"))
	if u, k, ok := strings.Cut(teamA, ":"); !ok || u == "" || k == "" {
		t.Fatalf("namespace create's last line %q is not uuid:key", teamA)
	}

	// Its key works in its own namespace.
	s.putAction(t, teamA, "hello", "hello")
	r := s.do(t, http.MethodPost, "/api/v1/namespaces/_/actions/hello?blocking=true&result=true", teamA, strings.NewReader(`{"name":"a"}`))
	if r.status != http.StatusOK {
		t.Fatalf("team-a invokes its action: %d %s", r.status, r.body)
	}
	r = s.do(t, http.MethodGet, "/api/v1/namespaces/team-a/actions/hello", teamA, nil)
	if r.status != http.StatusOK || r.json(t)["namespace"] != "team-a" {
		t.Fatalf("team-a gets its action: %d %s", r.status, r.body)
	}
	// And not in guest's.
	for _, path := range []string{"/api/v1/namespaces/guest/actions/hello", "/api/v1/namespaces/guest/actions"} {
		if r := s.do(t, http.MethodGet, path, teamA, nil); r.status != http.StatusForbidden {
			t.Errorf("team-a GET %s: %d %s, want 403", path, r.status, r.body)
		}
	}
	if r := s.do(t, http.MethodPost, "/api/v1/namespaces/guest/actions/hello?blocking=true", teamA, strings.NewReader(`{}`)); r.status != http.StatusForbidden {
		t.Errorf("team-a invokes guest's action: %d %s, want 403", r.status, r.body)
	}

	// Tenants cannot administer; nobody without a key can.
	for _, auth := range []string{guestAuth, teamA} {
		if r := s.do(t, http.MethodPost, "/v1/admin/namespaces", auth, strings.NewReader(`{"name":"evil"}`)); r.status != http.StatusForbidden {
			t.Errorf("tenant key on the admin API: %d %s, want 403", r.status, r.body)
		}
	}
	if r := s.do(t, http.MethodGet, "/v1/admin/namespaces", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("no key on the admin API: %d %s, want 401", r.status, r.body)
	}
	if out, err := s.cli(t, true, "admin", "namespace", "list", "--auth", guestAuth); err == nil || !strings.Contains(out, "403") {
		t.Errorf("flurry admin with the guest key: %v %s", err, out)
	}

	// A second key, revoked: 401 within seconds.
	second := lastLine(t, s.adminCLI(t, "key", "create", "team-a"))
	if r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/actions", second, nil); r.status != http.StatusOK {
		t.Fatalf("second key: %d %s", r.status, r.body)
	}
	uuid, _, _ := strings.Cut(second, ":")
	if out := s.adminCLI(t, "key", "list", "team-a"); !strings.Contains(out, uuid) {
		t.Errorf("key list lacks %s:\n%s", uuid, out)
	}
	s.adminCLI(t, "key", "revoke", "team-a", uuid)
	start := time.Now()
	testutil.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/actions", second, nil); r.status != http.StatusUnauthorized {
			return fmt.Errorf("revoked key: %d", r.status)
		}
		return nil
	})
	t.Logf("revoked key refused after %v", time.Since(start))
	if r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/actions", teamA, nil); r.status != http.StatusOK {
		t.Errorf("the first key after revoking the second: %d %s", r.status, r.body)
	}

	// Limits: one activation at a time; the second is throttled.
	s.putAction(t, teamA, "sleep", "sleep")
	s.adminCLI(t, "limits", "set", "team-a", "--concurrent", "1")
	if out := s.adminCLI(t, "limits", "get", "team-a"); !strings.Contains(out, "concurrent  1") {
		t.Errorf("limits get:\n%s", out)
	}
	r = s.do(t, http.MethodPost, "/api/v1/namespaces/_/actions/sleep?blocking=false", teamA, strings.NewReader(`{"ms":5000}`))
	if r.status != http.StatusAccepted {
		t.Fatalf("invoke under the limit: %d %s", r.status, r.body)
	}
	r = s.do(t, http.MethodPost, "/api/v1/namespaces/_/actions/sleep?blocking=false", teamA, strings.NewReader(`{"ms":1}`))
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), "namespace team-a: limit 1") {
		t.Errorf("invoke over the limit: %d %s, want 429", r.status, r.body)
	}
	// guest is not affected.
	if r := s.invoke(t, "hello", map[string]any{"name": "g"}, "blocking=true&result=true"); r.status != http.StatusOK {
		t.Errorf("guest under team-a's limit: %d %s", r.status, r.body)
	}

	// Policies: a reserved grant is refused, a good one stored.
	if out, err := s.cli(t, true, "admin", "namespace", "set", "team-a", "--event-subject", "$JS.API.>", "--data-dir", s.dataDir); err == nil || !strings.Contains(out, "400") {
		t.Errorf("granting $JS.API.>: %v %s", err, out)
	}
	if out := s.adminCLI(t, "namespace", "set", "team-a", "--network", "none", "--event-subject", "orders.>"); !strings.Contains(out, `"network": "none"`) {
		t.Errorf("namespace set:\n%s", out)
	}
	if out := s.adminCLI(t, "namespace", "list"); !strings.Contains(out, "team-a") || !strings.Contains(out, "guest") {
		t.Errorf("namespace list:\n%s", out)
	}

	// Delete: its keys stop working; deleting again is 404.
	s.adminCLI(t, "namespace", "delete", "team-a")
	testutil.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/actions", teamA, nil); r.status != http.StatusUnauthorized {
			return fmt.Errorf("key of a deleted namespace: %d", r.status)
		}
		return nil
	})
	if out, err := s.cli(t, true, "admin", "namespace", "delete", "team-a", "--data-dir", s.dataDir); err == nil || !strings.Contains(out, "404") {
		t.Errorf("deleting a deleted namespace: %v %s", err, out)
	}
	if r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/actions", guestAuth, nil); r.status != http.StatusOK {
		t.Errorf("guest after team-a's deletion: %d %s", r.status, r.body)
	}
}

// TestAdminCredentialKept: standalone prints the admin credential and keeps
// it across restarts; addNamespaceKey works through the admin API.
func TestAdminCredentialKept(t *testing.T) {
	dir := t.TempDir()
	s := startSystem(t, dir)
	if !strings.Contains(s.output.String(), "FLURRY_ADMIN_AUTH=") {
		t.Errorf("standalone did not print the admin credential:\n%s", s.output.String())
	}
	k1 := s.addNamespaceKey(t, "team-k")
	k2 := s.addNamespaceKey(t, "team-k") // exists: a second key
	if k1 == k2 {
		t.Fatal("two calls gave one key")
	}
	s.stop()
	s = startSystem(t, dir)
	for _, k := range []string{k1, k2} {
		if r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/actions", k, nil); r.status != http.StatusOK {
			t.Errorf("key after restart: %d %s", r.status, r.body)
		}
	}
	if out := s.adminCLI(t, "key", "list", "team-k"); len(lines(out)) != 3 {
		t.Errorf("key list after restart:\n%s", out)
	}
}
