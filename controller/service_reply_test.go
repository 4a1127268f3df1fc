package controller_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/names"
)

// A caller that names a bucket's subject as its reply must not get the
// controller to write there; an inbox reply is answered as always.
func TestServeAnswersOnlyInboxes(t *testing.T) {
	e := newEnv(t, controller.Config{})
	client := e.remote(t) // serves the API and proves it answers
	if _, err := client.Authenticate(e.ctx, guestAuth); err != nil {
		t.Fatalf("authenticate through the API: %v", err)
	}
	const uuid = "aimed"
	if err := e.nc.PublishRequest(names.ControllerAPISubject(controller.MethodAuthenticate), "$KV."+names.AuthBucket+"."+uuid, []byte(`{"auth":"x:y"}`)); err != nil {
		t.Fatal(err)
	}
	// A request on the same subject after it, answered, shows the first was handled.
	if _, err := e.nc.Request(names.ControllerAPISubject(controller.MethodAuthenticate), []byte(`{"auth":"x:y"}`), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	kv, err := e.js.KeyValue(e.ctx, names.AuthBucket)
	if err != nil {
		t.Fatal(err)
	}
	if entry, err := kv.Get(e.ctx, uuid); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the controller answered into the auth bucket: %v %v", entry, err)
	}
}
