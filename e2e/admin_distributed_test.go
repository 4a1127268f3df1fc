package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/testutil"
)

// TestAdminThroughSeparateGateway administers through a separate `flurry
// gateway` and `flurry controller` (the controller API over NATS): the
// standalone's admin credential works there too, since it is stored, and
// a key revoked there is refused by the standalone's own gateway, another
// process with its own key cache, within seconds.
func TestAdminThroughSeparateGateway(t *testing.T) {
	s := startSystem(t, "")
	b, err := os.ReadFile(filepath.Join(s.dataDir, "admin.auth"))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(b))
	a := freeAddrs(t, 2)
	ctlOut := startComponent(t, append([]string{"controller"}, s.natsArgs(broker.RoleController)...)...)
	gwOut := startComponent(t, append([]string{"gateway", "--api-listen", a[0], "--grpc-listen", a[1]}, s.natsArgs(broker.RoleGateway)...)...)
	gw := &system{t: t, api: "http://" + a[0]}

	// Up means the gateway answers and a controller serves it over NATS.
	testutil.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		req, _ := http.NewRequest(http.MethodGet, gw.api+"/v1/admin/namespaces", nil)
		u, k, _ := strings.Cut(admin, ":")
		req.SetBasicAuth(u, k)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("separate gateway and controller not serving yet: %d", resp.StatusCode)
		}
		return nil
	})
	created := gw.do(t, http.MethodPost, "/v1/admin/namespaces", admin, strings.NewReader(`{"name":"team-d"}`))
	if created.status != http.StatusOK {
		t.Fatalf("create through the separate gateway: %d %s", created.status, created.body)
	}
	auth, _ := created.json(t)["auth"].(string)
	uuid, _, _ := strings.Cut(auth, ":")
	for _, sys := range []*system{s, gw} {
		if r := sys.do(t, http.MethodGet, "/api/v1/namespaces/_/actions", auth, nil); r.status != http.StatusOK {
			t.Fatalf("new key on %s: %d %s", sys.api, r.status, r.body)
		}
	}
	if r := gw.do(t, http.MethodGet, "/v1/admin/namespaces", auth, nil); r.status != http.StatusForbidden {
		t.Errorf("tenant key on the separate gateway's admin API: %d %s, want 403", r.status, r.body)
	}
	if r := gw.do(t, http.MethodDelete, "/v1/admin/namespaces/team-d/keys/"+uuid, admin, nil); r.status != http.StatusOK {
		t.Fatalf("revoke through the separate gateway: %d %s\ncontroller:\n%s\ngateway:\n%s", r.status, r.body, ctlOut.String(), gwOut.String())
	}
	start := time.Now()
	testutil.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		for _, sys := range []*system{s, gw} {
			if r := sys.do(t, http.MethodGet, "/api/v1/namespaces/_/actions", auth, nil); r.status != http.StatusUnauthorized {
				return fmt.Errorf("revoked key on %s: %d", sys.api, r.status)
			}
		}
		return nil
	})
	t.Logf("revoked key refused by both gateways after %v", time.Since(start))
}
