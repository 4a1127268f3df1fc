package controller_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

// grant stores namespace ns's entry with event grants, as the admin API
// would.
func (e *env) grant(t *testing.T, ns string, subjects, streams []string) {
	t.Helper()
	kv, err := e.js.KeyValue(e.ctx, names.NamespacesBucket)
	must(t, err)
	b, _ := json.Marshal(entity.Namespace{Name: ns, EventSubjects: subjects, EventStreams: streams})
	_, err = kv.Put(e.ctx, names.NamespaceKey(ns), b)
	must(t, err)
}

// TestEventSpaceTriggers: a message trigger consumes and publishes only
// inside its namespace's event space and grants; every subject and stream
// of issue 19's finding is refused with its reason, through both
// backends.
func TestEventSpaceTriggers(t *testing.T) {
	forEachBackend(t, msgConfig(), func(t *testing.T, e *env, b gateway.Backend) {
		e.stream(t, "OTHERS", "events.other.a.>")
		e.stream(t, "MIXED", "events.guest.m.>", "events.other.m.>")
		e.stream(t, "OWN", "events.guest.own.>")
		e.stream(t, "ORDERS", "orders.>")
		e.stream(t, "SHARED", "shared.>")
		_, err := e.js.CreateStream(e.ctx, jetstream.StreamConfig{Name: "COPY", Storage: jetstream.MemoryStorage,
			Mirror: &jetstream.StreamSource{Name: "OTHERS"}})
		must(t, err)
		// A grant of a reserved subject or stream in the bucket must be
		// ignored, whoever wrote it.
		e.grant(t, "guest", []string{"orders.>", ">", "flurry.>", "events.other.>", "$KV.>"},
			[]string{"SHARED", "KV_flurry_auth", "FLURRY_RECORDS"})
		put := func(n entity.NATSSource) error {
			_, err := b.PutTrigger(e.ctx, e.id, controller.PutTriggerRequest{Namespace: "_", Name: "t", Overwrite: true,
				Source: &entity.TriggerSource{NATS: &n}})
			return err
		}
		for _, tc := range []struct {
			name, want string
			src        entity.NATSSource
		}{
			{"everything", "reserved", entity.NATSSource{Subject: ">"}},
			{"any first token", "reserved", entity.NATSSource{Subject: "*.>"}},
			{"every namespace's records", "reserved", entity.NATSSource{Subject: "*.record.>"}},
			{"records", "reserved", entity.NATSSource{Subject: "flurry.record.>"}},
			{"keys", "reserved", entity.NATSSource{Subject: "$KV.flurry_auth.>"}},
			{"inboxes", "reserved", entity.NATSSource{Subject: "_INBOX.>"}},
			{"all events", "outside", entity.NATSSource{Subject: "events.>"}},
			{"any namespace's events", "outside", entity.NATSSource{Subject: "events.*.x"}},
			{"another namespace's events", "outside", entity.NATSSource{Subject: "events.other.x"}},
			{"ungranted subject", "outside", entity.NATSSource{Subject: "payments.x"}},
			{"granted stream's subject, core", "outside", entity.NATSSource{Subject: "shared.x"}},
			{"wider than the grant", "outside", entity.NATSSource{Subject: "orders"}},
			{"wildcard inside a token", "not a valid subject", entity.NATSSource{Subject: "events.guest.a*"}},
			{"actions stream", "one of Flurry's", entity.NATSSource{Subject: "events.guest.x", Stream: "KV_flurry_actions"}},
			{"records stream", "one of Flurry's", entity.NATSSource{Subject: "events.guest.x", Stream: "FLURRY_RECORDS"}},
			{"keys stream", "one of Flurry's", entity.NATSSource{Subject: "events.guest.x", Stream: "KV_flurry_auth"}},
			{"another namespace's stream", "captures", entity.NATSSource{Subject: "events.guest.x", Stream: "OTHERS"}},
			{"a stream with another namespace's subjects", "captures", entity.NATSSource{Subject: "events.guest.x", Stream: "MIXED"}},
			{"a mirror", "copies other streams", entity.NATSSource{Subject: "events.guest.x", Stream: "COPY"}},
			{"a missing stream", "does not exist", entity.NATSSource{Subject: "events.guest.x", Stream: "NOPE"}},
			{"response to another namespace", "responseSubject", entity.NATSSource{Subject: "events.guest.x", ResponseSubject: "events.other.in"}},
			{"errors to another namespace", "errorSubject", entity.NATSSource{Subject: "events.guest.x", ErrorSubject: "events.other.in"}},
			{"response to Flurry", "reserved", entity.NATSSource{Subject: "events.guest.x", ResponseSubject: "flurry.activation.p1"}},
			{"response outside", "responseSubject", entity.NATSSource{Subject: "events.guest.x", ResponseSubject: "payments.x"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := put(tc.src)
				wantErr(t, err, controller.ErrInvalid)
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %q does not say %q", err, tc.want)
				}
			})
		}
		for _, tc := range []struct {
			name string
			src  entity.NATSSource
		}{
			{"own space", entity.NATSSource{Subject: "events.guest.>", ResponseSubject: "events.guest.out"}},
			{"own subject", entity.NATSSource{Subject: "events.guest.*.new"}},
			{"granted subject", entity.NATSSource{Subject: "orders.*", ErrorSubject: "orders.failed"}},
			{"own stream", entity.NATSSource{Subject: "events.guest.own.x", Stream: "OWN"}},
			{"stream of granted subjects", entity.NATSSource{Subject: "orders.new", Stream: "ORDERS"}},
			{"granted stream", entity.NATSSource{Subject: "shared.x", Stream: "SHARED"}},
			{"granted stream, any subject of it", entity.NATSSource{Subject: "shared.>", Stream: "SHARED"}},
		} {
			t.Run(tc.name, func(t *testing.T) { must(t, put(tc.src)) })
		}
	})
}

// TestEventSpaceNamespaceToken: a namespace with '.' in its name owns
// events.<token>.>, not events.<first part>.>.
func TestEventSpaceNamespaceToken(t *testing.T) {
	e := newEnv(t, msgConfig())
	id := controller.Identity{Namespace: "a.b"}
	put := func(subject string) error {
		_, err := e.ctl.PutTrigger(e.ctx, id, controller.PutTriggerRequest{Namespace: "_", Name: "t", Overwrite: true,
			Source: &entity.TriggerSource{NATS: &entity.NATSSource{Subject: subject}}})
		return err
	}
	must(t, put(names.EventNamespaceSubject("a.b")))
	wantErr(t, put("events.a.>"), controller.ErrInvalid)
}

// TestEventSpaceStoredTrigger: a trigger stored before the check (or whose
// grant went) gets no source, and reading it says why.
func TestEventSpaceStoredTrigger(t *testing.T) {
	e := newEnv(t, msgConfig())
	kv, err := e.js.KeyValue(e.ctx, names.TriggersBucket)
	must(t, err)
	old := entity.Trigger{Namespace: "guest", Name: "old", Version: "0.0.1",
		Source: &entity.TriggerSource{NATS: &entity.NATSSource{Subject: "events.other.x"}}}
	b, _ := json.Marshal(old)
	rev, err := kv.Put(e.ctx, names.TriggerKey("guest", "old"), b)
	must(t, err)
	// The watch applies entries in order: once a later trigger consumes,
	// the stored one was decided.
	mi := startMsgInvoker(t, e.nc, nil)
	later := e.msgTrigger(t, "later", entity.NATSSource{Subject: "events.guest.later"})
	if later.Revision <= rev {
		t.Fatalf("revisions %d <= %d", later.Revision, rev)
	}
	if controller.MessageSourceReady(e.ctl, "guest", "old", rev) {
		t.Fatal("a trigger outside its event space consumes")
	}
	got, err := e.ctl.GetTrigger(e.ctx, e.id, "_", "old")
	must(t, err)
	if !strings.Contains(got.SourceError, "outside") || !strings.Contains(got.SourceError, "events.other.x") {
		t.Fatalf("sourceError = %q", got.SourceError)
	}
	got, err = e.ctl.GetTrigger(e.ctx, e.id, "_", "later")
	must(t, err)
	if got.SourceError != "" {
		t.Fatalf("allowed trigger has sourceError %q", got.SourceError)
	}
	e.publish(t, "events.other.x", []byte(`{"secret":1}`), nil)
	e.publish(t, "events.guest.later", []byte(`{"mine":1}`), nil)
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := len(mi.all()); n != 1 {
			return fmt.Errorf("%d activations, want the allowed trigger's one", n)
		}
		return nil
	})
	for _, p := range mi.params(t) {
		if p.Subject != "events.guest.later" {
			t.Fatalf("activation of %q", p.Subject)
		}
	}
}

// TestEventSpaceGrants: a stored trigger starts when a grant allows it
// and stops when the grant goes, and reading it says why.
func TestEventSpaceGrants(t *testing.T) {
	e := newEnv(t, msgConfig())
	startMsgInvoker(t, e.nc, nil)
	e.stream(t, "SHARED", "shared.>")
	src := entity.NATSSource{Subject: "shared.x", Stream: "SHARED"}
	_, err := e.ctl.PutTrigger(e.ctx, e.id, controller.PutTriggerRequest{Namespace: "_", Name: "s",
		Source: &entity.TriggerSource{NATS: &src}})
	wantErr(t, err, controller.ErrInvalid)
	// Stored without the check (as before it existed): not started.
	kv, err := e.js.KeyValue(e.ctx, names.TriggersBucket)
	must(t, err)
	b, _ := json.Marshal(entity.Trigger{Namespace: "guest", Name: "s", Version: "0.0.1",
		Source: &entity.TriggerSource{NATS: &src}})
	rev, err := kv.Put(e.ctx, names.TriggerKey("guest", "s"), b)
	must(t, err)
	e.msgTrigger(t, "later", entity.NATSSource{Subject: "events.guest.later"})
	if controller.MessageSourceReady(e.ctl, "guest", "s", rev) {
		t.Fatal("a trigger outside its event space consumes")
	}
	e.grant(t, "guest", nil, []string{"SHARED"})
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !controller.MessageSourceReady(e.ctl, "guest", "s", rev) {
			return fmt.Errorf("the granted trigger does not consume yet")
		}
		return nil
	})
	e.grant(t, "guest", nil, nil)
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if controller.MessageSourceReady(e.ctl, "guest", "s", rev) {
			return fmt.Errorf("the trigger still consumes after its grant went")
		}
		return nil
	})
	got, err := e.ctl.GetTrigger(e.ctx, e.id, "_", "s")
	must(t, err)
	if !strings.Contains(got.SourceError, "outside") {
		t.Fatalf("sourceError = %q", got.SourceError)
	}
	_, err = e.ctl.PutTrigger(e.ctx, e.id, controller.PutTriggerRequest{Namespace: "_", Name: "s", Overwrite: true})
	wantErr(t, err, controller.ErrInvalid)
}

// TestEventSpaceStreamChanged: a stream source checks the stream's
// subjects again before it makes its consumer anew; a stream that came to
// capture another namespace's subjects stops it.
func TestEventSpaceStreamChanged(t *testing.T) {
	e := newEnv(t, msgConfig())
	startMsgInvoker(t, e.nc, nil)
	e.stream(t, "OWN", "events.guest.own.>")
	e.msgTrigger(t, "s", entity.NATSSource{Subject: "events.guest.own.x", Stream: "OWN"})
	_, err := e.js.UpdateStream(e.ctx, jetstream.StreamConfig{Name: "OWN", Storage: jetstream.MemoryStorage,
		Subjects: []string{"events.guest.own.>", "events.other.>"}})
	must(t, err)
	must(t, e.js.DeleteConsumer(e.ctx, "OWN", names.TriggerSource("guest", "s")))
	testutil.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if controller.MessageSourceReady(e.ctl, "guest", "s", 0) {
			return fmt.Errorf("the source still consumes")
		}
		return nil
	})
	if _, err := e.js.Consumer(e.ctx, "OWN", names.TriggerSource("guest", "s")); err == nil {
		t.Fatal("the consumer was made again")
	}
	got, err := e.ctl.GetTrigger(e.ctx, e.id, "_", "s")
	must(t, err)
	if !strings.Contains(got.SourceError, `captures "events.other.>"`) {
		t.Fatalf("sourceError = %q", got.SourceError)
	}
}
