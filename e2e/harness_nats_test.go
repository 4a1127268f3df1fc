package e2e

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
)

// connectNATS connects to the system's NATS as its operator would, with
// full rights; tests use it to publish events, read streams and attack.
func (s *system) connectNATS(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect("nats://" + s.nats)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
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
