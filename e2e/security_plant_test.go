package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

// TestNATSAnswersCannotPlant attacks the buckets through JetStream's
// answers: JetStream answers a request on any reply subject, and a bucket
// stores what lands on its subjects. An invoker's or a gateway's
// credentials ask for a message of their choosing (a record, a code chunk)
// with a bucket's subject as the reply. A direct get, which would copy the
// message verbatim, is refused; a leader get's wrapped answer lands but no
// reader takes it for a value (internal/stored).
func TestNATSAnswersCannotPlant(t *testing.T) {
	s := startSystem(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adminJS, err := jetstream.New(s.connectNATS(t))
	if err != nil {
		t.Fatal(err)
	}
	authKV, err := adminJS.KeyValue(ctx, names.AuthBucket)
	if err != nil {
		t.Fatal(err)
	}

	// A key of the attacker's making for namespace guest, as the auth
	// bucket stores keys.
	key := entity.NewAuth()
	uuid, secret, _ := entity.ParseAuth(key)
	forged, _ := json.Marshal(entity.Key{UUID: uuid, Namespace: "guest", Hash: entity.HashSecret(secret)})
	authSubject := names.KVSubject(names.AuthBucket, uuid)
	notPlanted := func(t *testing.T) {
		t.Helper()
		// A copy, had it been made, lands within milliseconds of the
		// request; the refusal may come back first.
		time.Sleep(300 * time.Millisecond)
		if e, err := authKV.Get(ctx, uuid); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatalf("the auth bucket holds a planted entry: %v %v", e, err)
		}
		if r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/actions", key, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("the planted key opens namespace guest: %d %s", r.status, r.body)
		}
	}

	t.Run("invoker copies its own record into the auth bucket", func(t *testing.T) {
		nc, refused := s.attacker(t, broker.RoleInvoker)
		// The invoker writes records, so one of its choosing is the source.
		source := names.RecordSubject("guest", "plant")
		if err := nc.Publish(source, forged); err != nil {
			t.Fatal(err)
		}
		get := "$JS.API.DIRECT.GET." + names.RecordsStream + "." + source
		if err := nc.PublishRequest(get, authSubject, nil); err != nil {
			t.Fatal(err)
		}
		notPlanted(t)
		refused.waitFor(t, get)
	})

	t.Run("gateway copies a code chunk into the auth bucket", func(t *testing.T) {
		nc, refused := s.attacker(t, broker.RoleGateway)
		// The gateway uploads code, so a chunk of its choosing is the source.
		source := "$O." + names.CodeStore + ".C.plant"
		if err := nc.Publish(source, forged); err != nil {
			t.Fatal(err)
		}
		gets := []string{
			"$JS.API.DIRECT.GET." + names.ObjectStream(names.CodeStore) + "." + source,
			"$JS.API.DIRECT.GET." + names.ObjectStream(names.CodeStore),
		}
		for _, get := range gets {
			if err := nc.PublishRequest(get, authSubject, []byte(`{"last_by_subj":"`+source+`"}`)); err != nil {
				t.Fatal(err)
			}
		}
		notPlanted(t)
		for _, get := range gets {
			refused.waitFor(t, get)
		}
	})

	t.Run("invoker plants JetStream answers over a namespace's limits", func(t *testing.T) {
		teamP := lastLine(t, s.adminCLI(t, "namespace", "create", "team-p"))
		s.putAction(t, teamP, "sleep", "sleep")
		s.adminCLI(t, "limits", "set", "team-p", "--concurrent", "1")
		limitsKV, err := adminJS.KeyValue(ctx, names.LimitsBucket)
		if err != nil {
			t.Fatal(err)
		}
		nc, _ := s.attacker(t, broker.RoleInvoker)
		source := names.RecordSubject("team-p", "plant")
		if err := nc.Publish(source, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		limits := names.KVSubject(names.LimitsBucket, names.NamespaceKey("team-p"))
		for _, plant := range []struct {
			what, marker string
			send         func() error
		}{
			{"a leader get's answer", "io.nats.jetstream.api", func() error {
				req := fmt.Sprintf(`{"last_by_subj":%q}`, source)
				return nc.PublishRequest("$JS.API.STREAM.MSG.GET."+names.RecordsStream, limits, []byte(req))
			}},
			{"a publish acknowledgement", `"seq":`, func() error {
				return nc.PublishRequest(source, limits, []byte(`{}`))
			}},
		} {
			if err := plant.send(); err != nil {
				t.Fatal(err)
			}
			// The answer is the entry now; the limit must hold anyway.
			testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
				e, err := limitsKV.Get(ctx, names.NamespaceKey("team-p"))
				if err != nil {
					return err
				}
				if !strings.Contains(string(e.Value()), plant.marker) {
					return fmt.Errorf("the limits entry is not %s yet: %s", plant.what, e.Value())
				}
				return nil
			})
			r := s.do(t, http.MethodPost, "/api/v1/namespaces/_/actions/sleep?blocking=false", teamP, strings.NewReader(`{"ms":3000}`))
			if r.status != http.StatusAccepted {
				t.Fatalf("after %s, invoke under the limit: %d %s", plant.what, r.status, r.body)
			}
			r = s.do(t, http.MethodPost, "/api/v1/namespaces/_/actions/sleep?blocking=false", teamP, strings.NewReader(`{"ms":1}`))
			if r.status != http.StatusTooManyRequests {
				t.Fatalf("after %s, invoke over the limit: %d %s, want 429", plant.what, r.status, r.body)
			}
			// Wait for the running one to finish before the next plant.
			testutil.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
				r := s.do(t, http.MethodPost, "/api/v1/namespaces/_/actions/sleep?blocking=true", teamP, strings.NewReader(`{"ms":1}`))
				if r.status != http.StatusOK {
					return fmt.Errorf("team-p still at its limit: %d", r.status)
				}
				return nil
			})
		}
	})

	t.Run("the system works", s.worksWithinRoles)
}
