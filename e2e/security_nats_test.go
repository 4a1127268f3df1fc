package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/natsclient"
	"github.com/flurryfn/flurry/internal/testutil"
)

// roleViolation is what a Flurry component logs when NATS refuses it
// something (internal/natsclient): the system's own roles must never.
const roleViolation = "NATS PERMISSION VIOLATION"

// refusals records the permission violations NATS reports to a client.
type refusals struct {
	mu   sync.Mutex
	errs []error
}

func (r *refusals) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}
}

// waitFor waits until NATS has refused subject.
func (r *refusals) waitFor(t *testing.T, subject string) {
	t.Helper()
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, err := range r.errs {
			if strings.Contains(err.Error(), fmt.Sprintf("%q", subject)) {
				return nil
			}
		}
		return fmt.Errorf("NATS has not refused %q (refusals so far: %v)", subject, r.errs)
	})
}

// attacker connects with role's credentials, recording refusals.
func (s *system) attacker(t *testing.T, role broker.Role) (*nats.Conn, *refusals) {
	t.Helper()
	opts, err := natsclient.Options(natsclient.Config{Role: string(role), Creds: s.natsCreds(role)})
	if err != nil {
		t.Fatal(err)
	}
	r := &refusals{}
	nc, err := nats.Connect("nats://"+s.nats, append(opts, nats.ErrorHandler(r.handler))...)
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	t.Cleanup(nc.Close)
	return nc, r
}

// TestNATSTrustsNoOne attacks a standalone's NATS client port: without
// credentials, and with the invoker's and the gateway's credentials
// beyond their roles. The system keeps working, and its own components
// are never refused anything.
func TestNATSTrustsNoOne(t *testing.T) {
	s := startSystem(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adminJS, err := jetstream.New(s.connectNATS(t))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("no credentials", func(t *testing.T) {
		nc, err := nats.Connect("nats://" + s.nats)
		if err == nil {
			nc.Close()
			t.Fatal("connected without credentials")
		}
		if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Fatalf("refused with %v, want an authorization violation", err)
		}
	})

	t.Run("invoker writes the auth bucket", func(t *testing.T) {
		nc, refused := s.attacker(t, broker.RoleInvoker)
		key := entity.NewAuth()
		uuid, _, _ := entity.ParseAuth(key)
		subject := "$KV." + names.AuthBucket + "." + uuid
		forged := fmt.Sprintf(`{"uuid":%q,"namespace":"guest","hash":"forged"}`, uuid)
		if err := nc.Publish(subject, []byte(forged)); err != nil {
			t.Fatal(err)
		}
		refused.waitFor(t, subject)
		kv, err := adminJS.KeyValue(ctx, names.AuthBucket)
		if err != nil {
			t.Fatal(err)
		}
		if e, err := kv.Get(ctx, uuid); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatalf("the auth bucket holds the forged key: %v %v", e, err)
		}
	})

	t.Run("gateway forges a record", func(t *testing.T) {
		nc, refused := s.attacker(t, broker.RoleGateway)
		subject := names.RecordSubject("guest", "x")
		if err := nc.Publish(subject, []byte(`{"activationId":"x","namespace":"guest","name":"forged"}`)); err != nil {
			t.Fatal(err)
		}
		refused.waitFor(t, subject)
		records, err := adminJS.Stream(ctx, names.RecordsStream)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := records.GetLastMsgForSubject(ctx, subject); !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatalf("the records stream holds the forged record: %v %v", m, err)
		}
		if r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/x", guestAuth, nil); r.status != http.StatusNotFound {
			t.Fatalf("forged record served: %d %s", r.status, r.body)
		}
	})

	t.Run("gateway reads another role's replies", func(t *testing.T) {
		nc, refused := s.attacker(t, broker.RoleGateway)
		subject := names.InboxPrefix(string(broker.RoleController)) + ".>"
		if _, err := nc.SubscribeSync(subject); err != nil {
			t.Fatal(err)
		}
		refused.waitFor(t, subject)
	})

	t.Run("the system works", s.worksWithinRoles)
}

// worksWithinRoles checks that s still invokes an action and that NATS
// never refused one of its own components anything.
func (s *system) worksWithinRoles(t *testing.T) {
	s.createAction(t, "hello", "hello", nil)
	r := s.invoke(t, "hello", map[string]any{"name": "Ada"}, "blocking=true&result=true")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "Hello, Ada!") {
		t.Fatalf("invoke: %d %s", r.status, r.body)
	}
	if out := s.output.String(); strings.Contains(out, roleViolation) {
		t.Fatalf("a component of standalone was refused by NATS:\n%s", out)
	}
}

// TestNATSTLS serves the embedded NATS over TLS with a throwaway CA: a
// client that does not trust the CA cannot connect, and a separate
// `flurry gateway` given the CA and its credentials serves invocations.
func TestNATSTLS(t *testing.T) {
	ca, cert, key := testutil.TLSFiles(t, t.TempDir())
	s := startSystem(t, "", "--nats-tls-cert", cert, "--nats-tls-key", key)

	creds, err := natsclient.Options(natsclient.Config{Role: string(broker.RoleAdmin), Creds: s.natsCreds(broker.RoleAdmin)})
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect("nats://"+s.nats, creds...); err == nil {
		nc.Close()
		t.Fatal("connected without trusting the CA")
	}

	a := freeAddrs(t, 2)
	ctlOut := startComponent(t, append([]string{"controller", "--nats-ca", ca}, s.natsArgs(broker.RoleController)...)...)
	gwOut := startComponent(t, append([]string{"gateway", "--api-listen", a[0], "--grpc-listen", a[1], "--nats-ca", ca},
		s.natsArgs(broker.RoleGateway)...)...)
	// A separate controller serves the separate gateway's API requests;
	// action code rides the gateway's TLS connection to the code store.
	gw := &system{t: t, api: "http://" + a[0]}
	testutil.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		req, _ := http.NewRequest(http.MethodGet, gw.api+"/api/v1/namespaces/_/actions", nil)
		user, k, _ := strings.Cut(guestAuth, ":")
		req.SetBasicAuth(user, k)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("gateway over TLS not serving yet: %d", resp.StatusCode)
		}
		return nil
	})
	gw.createAction(t, "hello", "hello", nil)
	r := gw.invoke(t, "hello", map[string]any{"name": "TLS"}, "blocking=true&result=true")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "Hello, TLS!") {
		t.Fatalf("invoke through a gateway on TLS: %d %s\ncontroller:\n%s\ngateway:\n%s", r.status, r.body, ctlOut.String(), gwOut.String())
	}
	for name, o := range map[string]string{"controller": ctlOut.String(), "gateway": gwOut.String(), "standalone": s.output.String()} {
		if strings.Contains(o, roleViolation) {
			t.Fatalf("%s was refused by NATS:\n%s", name, o)
		}
	}
}

// TestNATSViolationIsLoud runs `flurry invoker` with the gateway's
// credentials: NATS refuses it the invoker's subscriptions, and the
// invoker says so in its log rather than waiting silently for work.
func TestNATSViolationIsLoud(t *testing.T) {
	s := startSystem(t, "")
	rt := "process"
	if dockerReachable() {
		rt = "docker"
	}
	out := startComponent(t, "invoker", "--nats", "nats://"+s.nats, "--nats-creds", s.natsCreds(broker.RoleGateway),
		"--id", "wrongrole", "--runtime", rt, "--prewarm", "0", "--work-dir", t.TempDir())
	testutil.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		if !strings.Contains(out.String(), roleViolation) {
			return errors.New("the invoker has not logged a permission violation")
		}
		return nil
	})
}
