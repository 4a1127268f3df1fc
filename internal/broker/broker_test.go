package broker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/natsclient"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/stored"
	"github.com/flurryfn/flurry/internal/testutil"
)

// startProvisioned starts a broker in a temporary dir with Flurry's
// streams and buckets, made by the controller role as in production.
func startProvisioned(t *testing.T, cfg broker.Config) *broker.Broker {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Listen = "127.0.0.1:-1"
	b, err := broker.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	ctl, _ := connectAs(t, b, broker.RoleController)
	js, err := jetstream.New(ctl)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := provision.Ensure(ctx, js, provision.Options{}); err != nil {
		t.Fatalf("controller role cannot provision: %v", err)
	}
	return b
}

// violations collects the permission violations NATS reports to a client.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) add(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		v.mu.Lock()
		v.errs = append(v.errs, err.Error())
		v.mu.Unlock()
	}
}

// all returns every violation so far.
func (v *violations) all() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.errs...)
}

// about returns the violations that name subject.
func (v *violations) about(subject string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, e := range v.errs {
		if strings.Contains(e, fmt.Sprintf("%q", subject)) {
			out = append(out, e)
		}
	}
	return out
}

// connectAs connects with role's credentials and inbox prefix.
func connectAs(t *testing.T, b *broker.Broker, r broker.Role) (*nats.Conn, *violations) {
	t.Helper()
	opts, err := natsclient.Options(natsclient.Config{Role: string(r), Creds: b.CredsFile(r)})
	if err != nil {
		t.Fatal(err)
	}
	v := &violations{}
	nc, err := nats.Connect(b.ClientURL(), append(opts, nats.ErrorHandler(v.add), nats.Timeout(5*time.Second))...)
	if err != nil {
		t.Fatalf("connect as %s: %v", r, err)
	}
	t.Cleanup(nc.Close)
	return nc, v
}

func TestConnectRefusedWithoutValidCredentials(t *testing.T) {
	b := startProvisioned(t, broker.Config{})
	stranger := t.TempDir() + "/stranger.nk"
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	if err := os.WriteFile(stranger, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	strangerOpt, err := nats.NkeyOptionFromSeed(stranger)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []nats.Option
	}{
		{"no credentials", nil},
		{"user and password", []nats.Option{nats.UserInfo("admin", "admin")}},
		{"unknown nkey", []nats.Option{strangerOpt}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := nats.Connect(b.ClientURL(), tc.opts...)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
				t.Fatalf("refused with %v, want an authorization error", err)
			}
		})
	}
}

func TestCredentialsAreKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	b, err := broker.Start(broker.Config{DataDir: dir, Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(b.CredsFile(broker.RoleInvoker))
	if err != nil {
		t.Fatal(err)
	}
	b.Shutdown()
	b, err = broker.Start(broker.Config{DataDir: dir, Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	after, _ := os.ReadFile(b.CredsFile(broker.RoleInvoker))
	if string(before) != string(after) {
		t.Fatal("the invoker's seed changed across a restart")
	}
	for _, r := range broker.Roles {
		fi, err := os.Stat(b.CredsFile(r))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", b.CredsFile(r), fi.Mode().Perm())
		}
	}
	connectAs(t, b, broker.RoleInvoker)
}

// op is one thing a role tries; it returns nil when NATS let it happen.
type op func(ctx context.Context, t *testing.T, nc *nats.Conn, js jetstream.JetStream) error

// publish publishes on subject and reports whether JetStream stored it
// (subject inside a stream) or the server took it (core subject).
func publish(subject string) op {
	return func(ctx context.Context, t *testing.T, nc *nats.Conn, js jetstream.JetStream) error {
		if strings.HasPrefix(subject, "flurry.record.") || strings.HasPrefix(subject, "$KV.") {
			_, err := js.Publish(ctx, subject, []byte(`{"forged":true}`))
			return err
		}
		if err := nc.Publish(subject, []byte("x")); err != nil {
			return err
		}
		return nc.Flush()
	}
}

// subscribe subscribes to subject and waits for the server's verdict.
func subscribe(subject string) op {
	return func(ctx context.Context, t *testing.T, nc *nats.Conn, js jetstream.JetStream) error {
		sub, err := nc.SubscribeSync(subject)
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
		return nc.Flush()
	}
}

// deleteConsumer deletes consumer name of stream.
func deleteConsumer(stream, name string) op {
	return func(ctx context.Context, t *testing.T, nc *nats.Conn, js jetstream.JetStream) error {
		return js.DeleteConsumer(ctx, stream, name)
	}
}

func TestRolePermissions(t *testing.T) {
	b := startProvisioned(t, broker.Config{})
	authSubject := "$KV." + names.AuthBucket + ".forged"
	recordSubject := names.RecordSubject("guest", "forged")
	purgeRecords := func(ctx context.Context, t *testing.T, nc *nats.Conn, js jetstream.JetStream) error {
		s, err := js.Stream(ctx, names.RecordsStream)
		if err != nil {
			return err
		}
		return s.Purge(ctx)
	}
	// The invoker reads an action revision from the stream leader; a
	// direct get could copy it to any subject (internal/stored).
	readAction := func(ctx context.Context, t *testing.T, nc *nats.Conn, js jetstream.JetStream) error {
		_, err := stored.LastMsg(ctx, nc, names.KVStream(names.ActionsBucket), names.KVSubject(names.ActionsBucket, names.ActionKey("guest", "none")))
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return err
		}
		return nil
	}
	directGet := func(stream string) op {
		return func(ctx context.Context, t *testing.T, nc *nats.Conn, js jetstream.JetStream) error {
			return nc.PublishRequest("$JS.API.DIRECT.GET."+stream, authSubject, []byte(`{"seq":1}`))
		}
	}
	codeRoundTrip := func(ctx context.Context, t *testing.T, nc *nats.Conn, js jetstream.JetStream) error {
		store, err := js.ObjectStore(ctx, names.CodeStore)
		if err != nil {
			return err
		}
		if _, err := store.PutBytes(ctx, names.CodeName("ab"), []byte("code")); err != nil {
			return err
		}
		_, err = store.GetBytes(ctx, names.CodeName("ab"))
		return err
	}
	readCode := func(ctx context.Context, t *testing.T, nc *nats.Conn, js jetstream.JetStream) error {
		store, err := js.ObjectStore(ctx, names.CodeStore)
		if err != nil {
			return err
		}
		b, err := store.GetBytes(ctx, names.CodeName("cd"))
		if err == nil && string(b) != "stored code" {
			return fmt.Errorf("read %q", b)
		}
		return err
	}
	{
		admin, _ := connectAs(t, b, broker.RoleAdmin)
		ajs, _ := jetstream.New(admin)
		store, err := ajs.ObjectStore(context.Background(), names.CodeStore)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.PutBytes(context.Background(), names.CodeName("cd"), []byte("stored code")); err != nil {
			t.Fatal(err)
		}
	}
	callAPI := func(ctx context.Context, t *testing.T, nc *nats.Conn, js jetstream.JetStream) error {
		// No controller serves here: "no responders" proves the request went out.
		_, err := nc.Request(names.ControllerAPISubject("Authenticate"), []byte("{}"), 2*time.Second)
		if errors.Is(err, nats.ErrNoResponders) {
			return nil
		}
		return err
	}
	for _, tc := range []struct {
		role    broker.Role
		what    string
		do      op
		denied  string // the subject NATS must refuse; "" = allowed
		stored  string // a subject that must hold nothing afterwards
		storeIn string
	}{
		{broker.RoleAdmin, "writes the auth bucket", publish(authSubject), "", "", ""},
		{broker.RoleController, "writes the auth bucket", publish(authSubject), "", "", ""},
		{broker.RoleController, "subscribes to a tenant event subject", subscribe("events.guest.orders"), "", "", ""},
		{broker.RoleController, "reads the gateway's replies", subscribe(names.InboxPrefix("gateway") + ".>"), names.InboxPrefix("gateway") + ".>", "", ""},
		{broker.RoleInvoker, "writes a record", publish(recordSubject), "", "", ""},
		{broker.RoleInvoker, "reads an action", readAction, "", "", ""},
		{broker.RoleInvoker, "publishes a destination", publish("orders.done"), "", "", ""},
		{broker.RoleInvoker, "reads code", readCode, "", "", ""},
		{broker.RoleInvoker, "writes the auth bucket", publish("$KV." + names.AuthBucket + ".byinvoker"), "$KV." + names.AuthBucket + ".byinvoker", "$KV." + names.AuthBucket + ".byinvoker", "KV_" + names.AuthBucket},
		{broker.RoleInvoker, "copies a record with a direct get", directGet(names.RecordsStream), "$JS.API.DIRECT.GET." + names.RecordsStream, "", ""},
		{broker.RoleInvoker, "purges the records", purgeRecords, "$JS.API.STREAM.PURGE." + names.RecordsStream, "", ""},
		{broker.RoleInvoker, "deletes a partition's consumer", deleteConsumer(names.ActivationsStream, names.PartitionConsumer(0)),
			"$JS.API.CONSUMER.DELETE." + names.ActivationsStream + "." + names.PartitionConsumer(0), "", ""},
		{broker.RoleInvoker, "enqueues an activation", publish(names.PartitionSubject(0)), names.PartitionSubject(0), "", ""},
		{broker.RoleInvoker, "serves the controller API", subscribe(names.ControllerAPISubjects), names.ControllerAPISubjects, "", ""},
		{broker.RoleInvoker, "reads results", subscribe("flurry.result.>"), "flurry.result.>", "", ""},
		{broker.RoleGateway, "calls the controller API", callAPI, "", "", ""},
		{broker.RoleGateway, "writes and reads code", codeRoundTrip, "", "", ""},
		{broker.RoleGateway, "writes a record", publish(names.RecordSubject("guest", "bygateway")), names.RecordSubject("guest", "bygateway"), names.RecordSubject("guest", "bygateway"), names.RecordsStream},
		{broker.RoleGateway, "writes the auth bucket", publish("$KV." + names.AuthBucket + ".bygateway"), "$KV." + names.AuthBucket + ".bygateway", "$KV." + names.AuthBucket + ".bygateway", "KV_" + names.AuthBucket},
		{broker.RoleGateway, "copies code with a direct get", directGet(names.ObjectStream(names.CodeStore)), "$JS.API.DIRECT.GET." + names.ObjectStream(names.CodeStore), "", ""},
		{broker.RoleGateway, "reads records", subscribe(names.RecordSubjects), names.RecordSubjects, "", ""},
		{broker.RoleGateway, "publishes on a tenant subject", publish("orders.new"), "orders.new", "", ""},
	} {
		t.Run(string(tc.role)+" "+tc.what, func(t *testing.T) {
			t.Parallel() // a refused JetStream request waits for its deadline
			nc, v := connectAs(t, b, tc.role)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err = tc.do(ctx, t, nc, js)
			if tc.denied == "" {
				if err != nil {
					t.Fatalf("refused: %v (violations %v)", err, v.all())
				}
				return
			}
			testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
				if len(v.about(tc.denied)) == 0 {
					return fmt.Errorf("no permission violation about %q (op error %v)", tc.denied, err)
				}
				return nil
			})
			if tc.stored != "" {
				admin, _ := connectAs(t, b, broker.RoleAdmin)
				ajs, _ := jetstream.New(admin)
				s, err := ajs.Stream(context.Background(), tc.storeIn)
				if err != nil {
					t.Fatal(err)
				}
				if m, err := s.GetLastMsgForSubject(context.Background(), tc.stored); !errors.Is(err, jetstream.ErrMsgNotFound) {
					t.Fatalf("%s holds %v (err %v) after a refused publish", tc.stored, m, err)
				}
			}
		})
	}
}

func TestTLSClientPort(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := testutil.TLSFiles(t, dir)
	b, err := broker.Start(broker.Config{DataDir: dir, Listen: "127.0.0.1:-1", TLSCert: cert, TLSKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	creds, err := natsclient.Options(natsclient.Config{Role: string(broker.RoleAdmin), Creds: b.CredsFile(broker.RoleAdmin)})
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(b.ClientURL(), creds...); err == nil {
		nc.Close()
		t.Fatal("connected without trusting the server's CA")
	}
	withCA, err := natsclient.Options(natsclient.Config{Role: string(broker.RoleAdmin), Creds: b.CredsFile(broker.RoleAdmin), CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(b.ClientURL(), withCA...)
	if err != nil {
		t.Fatalf("connect with the CA: %v", err)
	}
	defer nc.Close()
	if !nc.TLSRequired() {
		t.Fatal("connection is not TLS")
	}
	if _, err := nc.Request("$JS.API.INFO", nil, 5*time.Second); err != nil {
		t.Fatalf("JetStream over TLS: %v", err)
	}
}

// The authorization block for an operator's own NATS loads in nats-server
// and grants the same as the embedded broker.
func TestAuthorizationConfigLoads(t *testing.T) {
	dir := t.TempDir()
	block, err := broker.AuthorizationConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	conf := dir + "/nats.conf"
	if err := os.WriteFile(conf, append([]byte("listen: 127.0.0.1:-1\n"), block...), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats-server rejects the configuration: %v\n%s", err, block)
	}
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	connect := func(r broker.Role) (*nats.Conn, *violations) {
		o, err := natsclient.Options(natsclient.Config{Role: string(r), Creds: broker.CredsFile(dir, r)})
		if err != nil {
			t.Fatal(err)
		}
		v := &violations{}
		nc, err := nats.Connect(srv.ClientURL(), append(o, nats.ErrorHandler(v.add))...)
		if err != nil {
			t.Fatalf("connect as %s: %v", r, err)
		}
		t.Cleanup(nc.Close)
		return nc, v
	}
	if nc, err := nats.Connect(srv.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("connected without credentials")
	}
	gw, v := connect(broker.RoleGateway)
	subject := names.RecordSubject("guest", "x")
	if err := gw.Publish(subject, nil); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if len(v.about(subject)) == 0 {
			return fmt.Errorf("gateway's publish on %s not refused", subject)
		}
		return nil
	})
	admin, v := connect(broker.RoleAdmin)
	if err := admin.Publish(subject, nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.Flush(); err != nil || len(v.about(subject)) > 0 {
		t.Fatalf("admin refused: %v %v", err, v.all())
	}
}

// Every JetStream API call that changes or removes state, named by
// nats-server's own constants, is refused to the invoker; a new verb in a
// nats-server upgrade belongs in this list and in the invoker's deny list.
func TestInvokerCannotChangeJetStream(t *testing.T) {
	b := startProvisioned(t, broker.Config{})
	s, c := names.RecordsStream, "x"
	for _, subject := range []string{
		fmt.Sprintf(server.JSApiStreamCreateT, s),
		fmt.Sprintf(server.JSApiStreamUpdateT, s),
		fmt.Sprintf(server.JSApiStreamDeleteT, s),
		fmt.Sprintf(server.JSApiStreamPurgeT, s),
		fmt.Sprintf(server.JSApiStreamSnapshotT, s),
		fmt.Sprintf(server.JSApiStreamRestoreT, s),
		fmt.Sprintf(server.JSApiMsgDeleteT, s),
		fmt.Sprintf(server.JSApiDurableCreateT, s, c),
		fmt.Sprintf(server.JSApiConsumerDeleteT, names.ActivationsStream, c),
		fmt.Sprintf(server.JSApiConsumerDeleteT, names.TicksStream, c),
		fmt.Sprintf(server.JSApiConsumerPauseT, s, c),
		fmt.Sprintf(server.JSApiConsumerResetT, s, c),
		fmt.Sprintf(server.JSApiConsumerUnpinT, s, c),
		fmt.Sprintf(server.JSApiStreamRemovePeerT, s),
		fmt.Sprintf(server.JSApiStreamEvacuatePeerT, s),
		fmt.Sprintf(server.JSApiStreamCancelMoveT, s),
		fmt.Sprintf(server.JSApiStreamLeaderStepDownT, s),
		fmt.Sprintf(server.JSApiConsumerLeaderStepDownT, s, c),
		fmt.Sprintf(server.JSApiConsumerRemovePeerT, s, c),
		fmt.Sprintf(server.JSApiConsumerEvacuatePeerT, s, c),
		server.JSApiLeaderStepDown,
		server.JSApiRemoveServer,
		server.JSApiEvacuateServer,
		server.JSApiMetaRescue,
		fmt.Sprintf(server.JSApiAccountPurgeT, "x"),
		fmt.Sprintf(server.JSApiServerStreamMoveT, "x", s),
		fmt.Sprintf(server.JSApiServerStreamCancelMoveT, "x", s),
	} {
		t.Run(subject, func(t *testing.T) {
			t.Parallel()
			nc, v := connectAs(t, b, broker.RoleInvoker)
			if err := nc.Publish(subject, []byte("{}")); err != nil {
				t.Fatal(err)
			}
			testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
				if len(v.about(subject)) == 0 {
					return fmt.Errorf("%s not refused to the invoker", subject)
				}
				return nil
			})
		})
	}
}

func TestMaxConnsRefusesTheNext(t *testing.T) {
	b, err := broker.Start(broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:-1", MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	for range 2 {
		connectAs(t, b, broker.RoleAdmin)
	}
	opts, err := natsclient.Options(natsclient.Config{Role: string(broker.RoleAdmin), Creds: b.CredsFile(broker.RoleAdmin)})
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(b.ClientURL(), opts...); err == nil {
		nc.Close()
		t.Fatal("a connection over MaxConns was accepted")
	}
}
