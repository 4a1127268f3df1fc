package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/natsclient"
)

// connectNATS connects to the system's NATS as its operator would, with
// full rights; tests use it to publish events, read streams and attack.
func (s *system) connectNATS(t *testing.T) *nats.Conn {
	t.Helper()
	return s.connectNATSAs(t, broker.RoleAdmin)
}

// connectNATSAs connects with the credentials standalone made for role.
func (s *system) connectNATSAs(t *testing.T, role broker.Role) *nats.Conn {
	t.Helper()
	opts, err := natsclient.Options(natsclient.Config{Role: string(role), Creds: s.natsCreds(role)})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+s.nats, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// natsCreds is the credentials file standalone keeps for role.
func (s *system) natsCreds(role broker.Role) string {
	return broker.CredsFile(filepath.Join(s.dataDir, "nats"), role)
}

// natsArgs are the flags with which `flurry controller|invoker|gateway`
// joins the system's NATS as role.
func (s *system) natsArgs(role broker.Role) []string {
	return []string{"--nats", "nats://" + s.nats, "--nats-creds", s.natsCreds(role)}
}

// addNamespaceKey makes namespace ns (if new) with a new key and returns
// the key as "uuid:key". It uses the admin API with the admin credential
// standalone keeps in its data dir.
func (s *system) addNamespaceKey(t *testing.T, ns string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dataDir, "admin.auth"))
	if err != nil {
		t.Fatalf("admin credential: %v", err)
	}
	admin := strings.TrimSpace(string(b))
	r := s.do(t, http.MethodPost, "/v1/admin/namespaces", admin, strings.NewReader(fmt.Sprintf(`{"name":%q}`, ns)))
	if r.status == http.StatusConflict {
		r = s.do(t, http.MethodPost, "/v1/admin/namespaces/"+ns+"/keys", admin, strings.NewReader(`{}`))
	}
	if r.status != http.StatusOK {
		t.Fatalf("add a key of namespace %s: %d %s", ns, r.status, r.body)
	}
	auth, _ := r.json(t)["auth"].(string)
	if auth == "" {
		t.Fatalf("add a key of namespace %s: no auth in %s", ns, r.body)
	}
	return auth
}
