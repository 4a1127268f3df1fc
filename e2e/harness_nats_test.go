package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
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
// the key as "uuid:key".
func (s *system) addNamespaceKey(t *testing.T, ns string) string {
	t.Helper()
	js, err := jetstream.New(s.connectNATS(t))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), names.AuthBucket)
	if err != nil {
		t.Fatal(err)
	}
	auth := entity.NewAuth()
	uuid, secret, _ := entity.ParseAuth(auth)
	b, _ := json.Marshal(entity.Key{UUID: uuid, Namespace: ns, Hash: entity.HashSecret(secret)})
	if _, err := kv.Create(context.Background(), uuid, b); err != nil {
		t.Fatal(err)
	}
	return auth
}
