package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/actions/gowrap"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

// echoActionSource returns its input: what a tenant would bind to a
// message trigger to read whatever the trigger consumes.
const echoActionSource = `package main

func Main(args map[string]interface{}) map[string]interface{} { return args }
`

// TestSecurityEventSubjects is issue 19's finding 2 against a real
// standalone with two tenants: guest (the attacker) binds an echo action
// to message triggers on every subject and stream that reached another
// tenant's records, actions and keys, or its events. Each is refused
// with 400 and a reason, none fires the action while the other tenant
// works, a destination or response subject in the other tenant's space
// is refused, and a trigger on guest's own event space fires.
func TestSecurityEventSubjects(t *testing.T) {
	s := startSystem(t, "")
	otherAuth := s.addNamespaceKey(t, "other")
	nc := s.connectNATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The operator made a stream of the other tenant's events.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER_EVENTS", Subjects: []string{"events.other.>"}}); err != nil {
		t.Fatal(err)
	}

	src := filepath.Join(t.TempDir(), "echo.go")
	if err := os.WriteFile(src, []byte(echoActionSource), 0o644); err != nil {
		t.Fatal(err)
	}
	exe, err := gowrap.Build(ctx, src, "Main")
	if err != nil {
		t.Fatal(err)
	}
	echo := map[string]any{"exec": map[string]any{"kind": "go", "binary": true, "code": base64.StdEncoding.EncodeToString(exe)}}
	if r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/actions/echo", echo); r.status != http.StatusOK {
		t.Fatalf("create echo: %d %s", r.status, r.body)
	}
	// The legitimate trigger and the rule every attack would feed.
	putTrigger := func(name string, nats map[string]any, overwrite bool) response {
		t.Helper()
		q := ""
		if overwrite {
			q = "?overwrite=true"
		}
		return s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/triggers/"+name+q, map[string]any{"source": map[string]any{"nats": nats}})
	}
	if r := putTrigger("steal", map[string]any{"subject": "events.guest.legit"}, false); r.status != http.StatusOK {
		t.Fatalf("create a trigger on guest's own events: %d %s", r.status, r.body)
	}
	if r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/rules/steal", map[string]any{"trigger": "/_/steal", "action": "/_/echo"}); r.status != http.StatusOK {
		t.Fatalf("create rule: %d %s", r.status, r.body)
	}

	t.Run("attacks refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			nats map[string]any
		}{
			{"everything", map[string]any{"subject": ">"}},
			{"any first token", map[string]any{"subject": "*.>"}},
			{"every namespace's records", map[string]any{"subject": "*.record.>"}},
			{"records", map[string]any{"subject": "flurry.record.>"}},
			{"keys", map[string]any{"subject": "$KV.flurry_auth.>"}},
			{"inboxes", map[string]any{"subject": "_INBOX.>"}},
			{"all events", map[string]any{"subject": "events.>"}},
			{"the other tenant's events", map[string]any{"subject": "events.other.x"}},
			{"actions stream, everything", map[string]any{"subject": ">", "stream": "KV_flurry_actions"}},
			{"actions stream", map[string]any{"subject": "events.guest.x", "stream": "KV_flurry_actions"}},
			{"records stream", map[string]any{"subject": "events.guest.x", "stream": "FLURRY_RECORDS"}},
			{"records stream, any first token", map[string]any{"subject": "*.record.>", "stream": "FLURRY_RECORDS"}},
			{"keys stream", map[string]any{"subject": "events.guest.x", "stream": "KV_flurry_auth"}},
			{"the other tenant's stream", map[string]any{"subject": "events.guest.x", "stream": "OTHER_EVENTS"}},
			{"the other tenant's stream and subjects", map[string]any{"subject": "events.other.>", "stream": "OTHER_EVENTS"}},
			{"responses into the other tenant's events", map[string]any{"subject": "events.guest.y", "responseSubject": "events.other.x"}},
			{"errors into the other tenant's events", map[string]any{"subject": "events.guest.y", "errorSubject": "events.other.x"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, overwrite := range []bool{false, true} {
					name := "attack"
					if overwrite {
						name = "steal"
					}
					r := putTrigger(name, tc.nats, overwrite)
					if r.status != http.StatusBadRequest || !bytes.Contains(r.body, []byte("nats source")) {
						t.Errorf("trigger %s with %v: %d %s, want 400 with the reason", name, tc.nats, r.status, r.body)
					}
				}
			})
		}
		for _, d := range []map[string]any{{"onSuccess": "events.other.x"}, {"onFailure": "events.other.failed"}} {
			dest := map[string]any{"exec": echo["exec"], "destinations": d}
			if r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/actions/todest", dest); r.status != http.StatusBadRequest ||
				!bytes.Contains(r.body, []byte("events.other.")) {
				t.Errorf("destination %v in the other tenant's events: %d %s, want 400 with the reason", d, r.status, r.body)
			}
		}
	})

	// The other tenant works: an action with a secret default, an
	// activation with a secret parameter (its record), its own events.
	secret := map[string]any{"exec": echo["exec"], "parameters": []map[string]any{{"key": "secret", "value": "default-s3cret"}}}
	b, _ := json.Marshal(secret)
	if r := s.do(t, http.MethodPut, "/api/v1/namespaces/_/actions/private", otherAuth, bytes.NewReader(b)); r.status != http.StatusOK {
		t.Fatalf("other: create action: %d %s", r.status, r.body)
	}
	if r := s.do(t, http.MethodPost, "/api/v1/namespaces/_/actions/private?blocking=true", otherAuth,
		strings.NewReader(`{"param":"param-s3cret"}`)); r.status != http.StatusOK {
		t.Fatalf("other: invoke: %d %s", r.status, r.body)
	}
	for _, subj := range []string{"events.other.x", "events.other.y"} {
		if err := nc.Publish(subj, []byte(`{"event":"other-s3cret"}`)); err != nil {
			t.Fatal(err)
		}
	}

	// The trigger on guest's own space fires (its core subscription may
	// not be there yet: core NATS drops, so publish until it fires);
	// nothing else did.
	var recs []map[string]any
	testutil.CheckFor(t, 90*time.Second, 500*time.Millisecond, func() error {
		if err := nc.PublishMsg(&nats.Msg{Subject: "events.guest.legit", Data: []byte(`{"mine":true}`)}); err != nil {
			t.Fatal(err)
		}
		r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations?name=echo&limit=100", guestAuth, nil)
		if r.status != http.StatusOK {
			return fmt.Errorf("list: %d %s", r.status, r.body)
		}
		recs = nil
		if err := json.Unmarshal(r.body, &recs); err != nil {
			return err
		}
		if len(recs) == 0 {
			return errNotYet("the legitimate trigger has not fired yet")
		}
		return nil
	})
	for _, listed := range recs {
		// Lists leave results out: read each record.
		id, _ := listed["activationId"].(string)
		r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/"+id, guestAuth, nil)
		if r.status != http.StatusOK {
			t.Fatalf("get %s: %d %s", id, r.status, r.body)
		}
		rec, body := r.json(t), r.body
		if strings.Contains(string(body), "s3cret") {
			t.Errorf("guest's action saw the other tenant's data: %s", body)
		}
		resp, _ := rec["response"].(map[string]any)
		result, _ := resp["result"].(map[string]any)
		if result["subject"] != "events.guest.legit" {
			t.Errorf("activation of a message on %v, want events.guest.legit: %s", result["subject"], body)
		}
	}

	t.Run("stored trigger says why it does not run", func(t *testing.T) {
		// As one made before the check was: written into the bucket.
		kv, err := js.KeyValue(ctx, names.TriggersBucket)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(entity.Trigger{Namespace: guestNamespace, Name: "stored", Version: "0.0.1",
			Source: &entity.TriggerSource{NATS: &entity.NATSSource{Subject: "events.other.>"}}})
		if _, err := kv.Put(ctx, names.TriggerKey(guestNamespace, "stored"), b); err != nil {
			t.Fatal(err)
		}
		r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/triggers/stored", guestAuth, nil)
		if why, _ := r.json(t)["sourceError"].(string); r.status != http.StatusOK || !strings.Contains(why, "outside") {
			t.Errorf("get stored trigger: %d %s, want its sourceError", r.status, r.body)
		}
	})
}
