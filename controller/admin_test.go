package controller_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/testutil"
)

const adminAuth = "9f1c2d3e-0000-4aaa-8bbb-0123456789ab:adminsecretadminsecretadminsecretadminsecretadminsecretadminsec"

// adminOf authenticates the admin credential on b.
func adminOf(t *testing.T, e *env, b gateway.Backend) (gateway.Admin, controller.Identity) {
	t.Helper()
	id, err := b.Authenticate(e.ctx, adminAuth)
	if err != nil {
		t.Fatalf("authenticate admin: %v", err)
	}
	if !id.Admin || id.Namespace != "" {
		t.Fatalf("admin identity = %+v", id)
	}
	return b.(gateway.Admin), id
}

// wantErrIs is wantErr that goes on, naming the step.
func wantErrIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

func TestAdminNamespaceLifecycle(t *testing.T) {
	forEachBackend(t, controller.Config{AdminAuth: adminAuth}, func(t *testing.T, e *env, b gateway.Backend) {
		adm, root := adminOf(t, e, b)
		// Before any namespace is stored, guest is listed from its key.
		list, err := adm.ListNamespaces(e.ctx, root)
		must(t, err)
		if len(list) != 1 || list[0].Name != "guest" || list[0].Created != 0 {
			t.Fatalf("namespaces before any was made = %+v", list)
		}

		created, err := adm.CreateNamespace(e.ctx, root, controller.CreateNamespaceRequest{Name: "team-a", Network: entity.NetworkNone})
		must(t, err)
		if created.Namespace.Name != "team-a" || created.Namespace.Created == 0 || created.Key.Namespace != "team-a" {
			t.Fatalf("created = %+v", created)
		}
		tenant, err := b.Authenticate(e.ctx, created.Key.Auth)
		must(t, err)
		if tenant.Namespace != "team-a" || tenant.Admin {
			t.Fatalf("new key's identity = %+v", tenant)
		}
		_, err = adm.CreateNamespace(e.ctx, root, controller.CreateNamespaceRequest{Name: "team-a"})
		wantErrIs(t, "create twice", err, controller.ErrExists)
		_, err = adm.CreateNamespace(e.ctx, root, controller.CreateNamespaceRequest{Name: "guest"})
		wantErrIs(t, "create guest (has a key)", err, controller.ErrExists)

		list, err = adm.ListNamespaces(e.ctx, root)
		must(t, err)
		var got []string
		for _, n := range list {
			got = append(got, n.Name)
		}
		if strings.Join(got, ",") != "guest,team-a" {
			t.Errorf("namespaces = %v, want guest,team-a", got)
		}

		second, err := adm.CreateKey(e.ctx, root, "team-a")
		must(t, err)
		keys, err := adm.ListKeys(e.ctx, root, "team-a")
		must(t, err)
		if len(keys) != 2 {
			t.Fatalf("keys = %+v, want 2", keys)
		}
		info, err := adm.GetNamespace(e.ctx, root, "team-a")
		must(t, err)
		if info.Namespace.NetworkPolicy() != entity.NetworkNone || len(info.Keys) != 2 ||
			*info.Limits.ConcurrentInvocations != entity.DefaultConcurrentInvocations {
			t.Errorf("info = %+v", info)
		}

		revoked, err := adm.RevokeKey(e.ctx, root, "team-a", second.UUID)
		must(t, err)
		if revoked.UUID != second.UUID {
			t.Errorf("revoked = %+v", revoked)
		}
		_, err = b.Authenticate(e.ctx, second.Auth)
		wantErrIs(t, "revoked key", err, controller.ErrUnauthenticated)
		_, err = adm.RevokeKey(e.ctx, root, "team-a", second.UUID)
		wantErrIs(t, "revoke twice", err, controller.ErrNotFound)
		guestUUID, _, _ := strings.Cut(guestAuth, ":")
		_, err = adm.RevokeKey(e.ctx, root, "team-a", guestUUID)
		wantErrIs(t, "revoke another namespace's key", err, controller.ErrNotFound)

		conc, rate := int64(3), int64(0)
		l, err := adm.SetLimits(e.ctx, root, "team-a", entity.NamespaceLimits{ConcurrentInvocations: &conc, InvocationsPerMinute: &rate})
		must(t, err)
		if *l.ConcurrentInvocations != 3 || *l.InvocationsPerMinute != 0 {
			t.Errorf("limits = %d, %d", *l.ConcurrentInvocations, *l.InvocationsPerMinute)
		}
		l, err = adm.GetLimits(e.ctx, root, "team-a")
		must(t, err)
		if *l.ConcurrentInvocations != 3 {
			t.Errorf("limits after get = %d", *l.ConcurrentInvocations)
		}

		// What runs without a caller goes with the namespace; actions stay.
		_, err = b.PutAction(e.ctx, tenant, goAction("tick", code1))
		must(t, err)
		_, err = b.PutTrigger(e.ctx, tenant, controller.PutTriggerRequest{Namespace: "_", Name: "every",
			Source: &entity.TriggerSource{Interval: &entity.IntervalSource{Every: 60000}}})
		must(t, err)
		_, err = b.PutRule(e.ctx, tenant, controller.PutRuleRequest{Namespace: "_", Name: "every", Trigger: "every", Action: "tick"})
		must(t, err)
		_, err = b.PutRoute(e.ctx, tenant, routeReq("tick", "/tick", "tick", "GET"))
		must(t, err)

		gone, err := adm.DeleteNamespace(e.ctx, root, "team-a")
		must(t, err)
		if len(gone.Keys) != 1 || gone.Stopped != (controller.Stopped{Triggers: 1, Rules: 1, Routes: 1}) {
			t.Errorf("deleted = %+v", gone)
		}
		again, err := adm.CreateNamespace(e.ctx, root, controller.CreateNamespaceRequest{Name: "team-a"})
		must(t, err)
		back, err := b.Authenticate(e.ctx, again.Key.Auth)
		must(t, err)
		if l, err := b.ListTriggers(e.ctx, back, "_", 0, 0); err != nil || len(l) != 0 {
			t.Errorf("triggers after the namespace was deleted: %v %v", l, err)
		}
		if l, err := b.ListRoutes(e.ctx, back, "_"); err != nil || len(l) != 0 {
			t.Errorf("routes after the namespace was deleted: %v %v", l, err)
		}
		if _, _, err := b.GetAction(e.ctx, back, "_", "tick", false); err != nil {
			t.Errorf("the action after the namespace was deleted: %v", err)
		}
		_, err = adm.DeleteNamespace(e.ctx, root, "team-a")
		must(t, err)
		_, err = b.Authenticate(e.ctx, created.Key.Auth)
		wantErrIs(t, "key of a deleted namespace", err, controller.ErrUnauthenticated)
		_, err = adm.DeleteNamespace(e.ctx, root, "team-a")
		wantErrIs(t, "delete twice", err, controller.ErrNotFound)
		_, err = adm.GetNamespace(e.ctx, root, "team-a")
		wantErrIs(t, "get deleted", err, controller.ErrNotFound)
		_, err = adm.CreateKey(e.ctx, root, "nope")
		wantErrIs(t, "key of a missing namespace", err, controller.ErrNotFound)
		_, err = adm.SetLimits(e.ctx, root, "nope", entity.NamespaceLimits{})
		wantErrIs(t, "limits of a missing namespace", err, controller.ErrNotFound)

		// Made again, it starts without the old limits.
		_, err = adm.CreateNamespace(e.ctx, root, controller.CreateNamespaceRequest{Name: "team-a"})
		must(t, err)
		l, err = adm.GetLimits(e.ctx, root, "team-a")
		must(t, err)
		if *l.ConcurrentInvocations != entity.DefaultConcurrentInvocations {
			t.Errorf("limits of a namespace made again = %d", *l.ConcurrentInvocations)
		}
	})
}

func TestAdminSetNamespacePolicies(t *testing.T) {
	forEachBackend(t, controller.Config{AdminAuth: adminAuth}, func(t *testing.T, e *env, b gateway.Backend) {
		adm, root := adminOf(t, e, b)
		none, subjects, streams := entity.NetworkNone, []string{"orders.>"}, []string{"ORDERS"}
		// guest has a key but no entry: setting its policies stores one.
		n, err := adm.SetNamespace(e.ctx, root, controller.SetNamespaceRequest{Name: "guest", Network: &none, EventSubjects: &subjects, EventStreams: &streams})
		must(t, err)
		if n.Network != entity.NetworkNone || len(n.EventSubjects) != 1 || len(n.EventStreams) != 1 {
			t.Fatalf("set = %+v", n)
		}
		// nil keeps, an empty list removes.
		empty := []string{}
		n, err = adm.SetNamespace(e.ctx, root, controller.SetNamespaceRequest{Name: "guest", EventStreams: &empty})
		must(t, err)
		if n.Network != entity.NetworkNone || len(n.EventSubjects) != 1 || len(n.EventStreams) != 0 {
			t.Fatalf("second set = %+v", n)
		}
		_, err = adm.SetNamespace(e.ctx, root, controller.SetNamespaceRequest{Name: "nope", Network: &none})
		wantErrIs(t, "set missing", err, controller.ErrNotFound)

		for _, bad := range []controller.CreateNamespaceRequest{
			{Name: "x", EventSubjects: []string{">"}},
			{Name: "x", EventSubjects: []string{"$JS.API.>"}},
			{Name: "x", EventSubjects: []string{"_INBOX.>"}},
			{Name: "x", EventSubjects: []string{"flurry.activation.>"}},
			{Name: "x", EventStreams: []string{"FLURRY_RECORDS"}},
			{Name: "x", EventStreams: []string{"KV_flurry_auth"}},
			{Name: "x", EventStreams: []string{"OBJ_flurry_code"}},
			{Name: "x", Network: "host"},
			{Name: "_"},
			{Name: "bad name"},
		} {
			_, err := adm.CreateNamespace(e.ctx, root, bad)
			wantErrIs(t, fmt.Sprintf("create %+v", bad), err, controller.ErrInvalid)
		}
		reserved := []string{"$KV.flurry_auth.>"}
		_, err = adm.SetNamespace(e.ctx, root, controller.SetNamespaceRequest{Name: "guest", EventSubjects: &reserved})
		wantErrIs(t, "set reserved subject", err, controller.ErrInvalid)
	})
}

func TestAdminRefusesTenants(t *testing.T) {
	forEachBackend(t, controller.Config{AdminAuth: adminAuth}, func(t *testing.T, e *env, b gateway.Backend) {
		adm := b.(gateway.Admin)
		guestUUID, _, _ := strings.Cut(guestAuth, ":")
		for name, id := range map[string]controller.Identity{
			"tenant":         e.id,
			"claims admin":   {UUID: guestUUID, Namespace: "guest", Admin: true},
			"unknown admin":  {UUID: "no-such-key", Admin: true},
			"zero identity":  {},
			"admin no claim": {UUID: strings.SplitN(adminAuth, ":", 2)[0]},
		} {
			_, err := adm.CreateNamespace(e.ctx, id, controller.CreateNamespaceRequest{Name: "evil"})
			wantErrIs(t, name+": create namespace", err, controller.ErrForbidden)
			_, err = adm.CreateKey(e.ctx, id, "guest")
			wantErrIs(t, name+": create key", err, controller.ErrForbidden)
			_, err = adm.ListNamespaces(e.ctx, id)
			wantErrIs(t, name+": list namespaces", err, controller.ErrForbidden)
		}
		// The admin credential opens no namespace.
		_, root := adminOf(t, e, b)
		_, err := b.ListActions(e.ctx, root, "_", 0, 10)
		wantErrIs(t, "admin lists actions", err, controller.ErrForbidden)
		_, err = b.ListActions(e.ctx, root, "guest", 0, 10)
		wantErrIs(t, "admin lists guest's actions", err, controller.ErrForbidden)
	})
}

// TestAdminRevokeReachesEveryController revokes a key through one
// controller while another, which has the key in its cache, keeps serving.
func TestAdminRevokeReachesEveryController(t *testing.T) {
	e := newEnv(t, controller.Config{AdminAuth: adminAuth})
	other, err := controller.New(e.ctx, e.nc, controller.Config{}, nil)
	must(t, err)
	t.Cleanup(other.Close)

	adm, root := adminOf(t, e, e.ctl)
	created, err := adm.CreateNamespace(e.ctx, root, controller.CreateNamespaceRequest{Name: "team-b"})
	must(t, err)
	// The other controller has it cached once it authenticated it.
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		_, err := other.Authenticate(e.ctx, created.Key.Auth)
		return err
	})
	// The admin credential works on the other controller too: it is stored.
	_, otherRoot := adminOf(t, e, other)
	start := time.Now()
	_, err = other.RevokeKey(e.ctx, otherRoot, "team-b", created.Key.UUID)
	must(t, err)
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		_, err := e.ctl.Authenticate(context.Background(), created.Key.Auth)
		if !errors.Is(err, controller.ErrUnauthenticated) {
			return fmt.Errorf("revoked key still authenticates on the first controller: %v", err)
		}
		return nil
	})
	t.Logf("revocation reached the other controller in %v", time.Since(start))
}

func TestAdminAuthConfig(t *testing.T) {
	guestUUID, _, _ := strings.Cut(guestAuth, ":")
	for name, cfg := range map[string]controller.Config{
		"malformed":      {AdminAuth: "nocolon"},
		"guest's uuid":   {GuestAuth: guestAuth, AdminAuth: guestUUID + ":othersecret"},
		"spaces":         {AdminAuth: " a:b"},
		"uuid not plain": {AdminAuth: "a.b:c"},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %q", name, cfg.AdminAuth)
		}
	}
	if err := (controller.Config{GuestAuth: guestAuth, AdminAuth: adminAuth}).Validate(); err != nil {
		t.Errorf("valid admin auth: %v", err)
	}
}
