package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/testutil"
	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
)

const (
	adminTestAuth = "a0000000-0000-4000-8000-00000000000a:adminsecret"
	guestTestAuth = "a0000000-0000-4000-8000-00000000000b:guestsecret"
)

// adminGateway is a gateway over a real controller on embedded JetStream,
// with the admin credential and a guest key, serving gRPC on loopback.
func adminGateway(t *testing.T) (*Gateway, flurryv1.AdminServiceClient) {
	t.Helper()
	nc, _ := testutil.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	ctl, err := controller.New(ctx, nc, controller.Config{GuestAuth: guestTestAuth, AdminAuth: adminTestAuth}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctl.Close)
	g, err := New(ctl, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.grpc.Serve(ln)
	t.Cleanup(g.grpc.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return g, flurryv1.NewAdminServiceClient(conn)
}

// adminREST sends a request to g's REST API and returns status and body.
func adminREST(t *testing.T, g *Gateway, method, path, auth, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	if auth != "" {
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(auth)))
	}
	w := httptest.NewRecorder()
	g.Handler().ServeHTTP(w, r)
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %s", method, path, w.Body.String())
	}
	return w.Code, m
}

func TestAdminREST(t *testing.T) {
	g, _ := adminGateway(t)
	code, m := adminREST(t, g, http.MethodPost, "/v1/admin/namespaces", adminTestAuth, `{"name":"team-a","network":"none"}`)
	if code != http.StatusOK {
		t.Fatalf("create: %d %v", code, m)
	}
	newAuth, _ := m["auth"].(string)
	if ns, _ := m["namespace"].(map[string]any); ns["name"] != "team-a" || ns["network"] != "none" || newAuth == "" {
		t.Fatalf("create answered %v", m)
	}
	for _, c := range []struct {
		name, method, path, auth, body string
		want                           int
	}{
		{"no key", http.MethodGet, "/v1/admin/namespaces", "", "", http.StatusUnauthorized},
		{"wrong secret", http.MethodGet, "/v1/admin/namespaces", "a0000000-0000-4000-8000-00000000000a:nope", "", http.StatusUnauthorized},
		{"tenant key", http.MethodGet, "/v1/admin/namespaces", guestTestAuth, "", http.StatusForbidden},
		{"new tenant key", http.MethodPost, "/v1/admin/namespaces", newAuth, `{"name":"evil"}`, http.StatusForbidden},
		{"tenant key revokes", http.MethodDelete, "/v1/admin/namespaces/guest/keys/a0000000-0000-4000-8000-00000000000b", guestTestAuth, "", http.StatusForbidden},
		{"list", http.MethodGet, "/v1/admin/namespaces", adminTestAuth, "", http.StatusOK},
		{"get", http.MethodGet, "/v1/admin/namespaces/team-a", adminTestAuth, "", http.StatusOK},
		{"get missing", http.MethodGet, "/v1/admin/namespaces/nope", adminTestAuth, "", http.StatusNotFound},
		{"create twice", http.MethodPost, "/v1/admin/namespaces", adminTestAuth, `{"name":"team-a"}`, http.StatusConflict},
		{"reserved grant", http.MethodPost, "/v1/admin/namespaces", adminTestAuth, `{"name":"x","eventSubjects":["$JS.API.>"]}`, http.StatusBadRequest},
		{"reserved stream", http.MethodPatch, "/v1/admin/namespaces/team-a", adminTestAuth, `{"eventStreams":{"values":["KV_flurry_auth"]}}`, http.StatusBadRequest},
		{"set policy", http.MethodPatch, "/v1/admin/namespaces/team-a", adminTestAuth, `{"eventSubjects":{"values":["orders.>"]}}`, http.StatusOK},
		{"limits", http.MethodPut, "/v1/admin/namespaces/team-a/limits", adminTestAuth, `{"limits":{"concurrentInvocations":2}}`, http.StatusOK},
		{"get limits", http.MethodGet, "/v1/admin/namespaces/team-a/limits", adminTestAuth, "", http.StatusOK},
		{"negative limits", http.MethodPut, "/v1/admin/namespaces/team-a/limits", adminTestAuth, `{"limits":{"concurrentInvocations":-1}}`, http.StatusBadRequest},
		{"key", http.MethodPost, "/v1/admin/namespaces/team-a/keys", adminTestAuth, `{}`, http.StatusOK},
		{"keys", http.MethodGet, "/v1/admin/namespaces/team-a/keys", adminTestAuth, "", http.StatusOK},
		{"admin key on the tenant API", http.MethodGet, "/v1/namespaces/_/actions", adminTestAuth, "", http.StatusForbidden},
		{"delete", http.MethodDelete, "/v1/admin/namespaces/team-a", adminTestAuth, "", http.StatusOK},
		{"delete twice", http.MethodDelete, "/v1/admin/namespaces/team-a", adminTestAuth, "", http.StatusNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, m := adminREST(t, g, c.method, c.path, c.auth, c.body)
			if code != c.want {
				t.Errorf("%s %s = %d %v, want %d", c.method, c.path, code, m, c.want)
			}
		})
	}
	// The deleted namespace's key no longer authenticates.
	if code, m := adminREST(t, g, http.MethodGet, "/api/v1/namespaces/_/actions", newAuth, ""); code != http.StatusUnauthorized {
		t.Errorf("key of a deleted namespace: %d %v", code, m)
	}
}

func TestAdminGRPC(t *testing.T) {
	_, adm := adminGateway(t)
	as := func(auth string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "authorization", auth)
	}
	_, err := adm.ListNamespaces(context.Background(), &flurryv1.ListNamespacesRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("no key: %v", err)
	}
	_, err = adm.ListNamespaces(as(guestTestAuth), &flurryv1.ListNamespacesRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("tenant key: %v", err)
	}
	c, err := adm.CreateNamespace(as(adminTestAuth), &flurryv1.CreateNamespaceRequest{Name: "team-g"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := adm.CreateKey(as(adminTestAuth), &flurryv1.CreateKeyRequest{Namespace: "team-g"})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := adm.ListKeys(as(adminTestAuth), &flurryv1.ListKeysRequest{Namespace: "team-g"})
	if err != nil || len(ks.GetKeys()) != 2 {
		t.Fatalf("keys = %v, %v", ks, err)
	}
	if _, err := adm.RevokeKey(as(adminTestAuth), &flurryv1.RevokeKeyRequest{Namespace: "team-g", Uuid: k.GetKey().GetUuid()}); err != nil {
		t.Fatal(err)
	}
	_, err = adm.ListNamespaces(as(c.GetAuth()), &flurryv1.ListNamespacesRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("new tenant key: %v", err)
	}
	_, err = adm.ListNamespaces(as(k.GetAuth()), &flurryv1.ListNamespacesRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked key: %v", err)
	}
	conc := int64(5)
	l, err := adm.SetLimits(as(adminTestAuth), &flurryv1.SetLimitsRequest{Namespace: "team-g", Limits: &flurryv1.NamespaceLimits{ConcurrentInvocations: &conc}})
	if err != nil || l.GetLimits().GetConcurrentInvocations() != 5 {
		t.Errorf("set limits = %v, %v", l, err)
	}
	_, err = adm.DeleteNamespace(as(adminTestAuth), &flurryv1.DeleteNamespaceRequest{Name: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("delete missing: %v", err)
	}
}

// A backend without administration answers Unimplemented (501).
func TestAdminWithoutBackendSupport(t *testing.T) {
	g, _ := newTestGateway(t)
	code, m := adminREST(t, g, http.MethodGet, "/v1/admin/namespaces", testAuth, "")
	if code != http.StatusNotImplemented {
		t.Errorf("list namespaces on a backend without Admin: %d %v", code, m)
	}
}
