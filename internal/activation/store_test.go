package activation_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/testutil"
)

func TestRecordMsgStoresOnePerActivation(t *testing.T) {
	nc, _ := testutil.JetStream(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, provision.RecordsStreamConfig(provision.Options{})); err != nil {
		t.Fatal(err)
	}
	id, other := activation.NewID(), activation.NewID()
	if _, err := js.PublishMsg(ctx, activation.RecordMsg("guest", id, []byte(`{"n":1}`))); err != nil {
		t.Fatalf("first record: %v", err)
	}
	_, err = js.PublishMsg(ctx, activation.RecordMsg("guest", id, []byte(`{"n":2}`)))
	if !activation.Recorded(err) {
		t.Fatalf("second record of the same activation: err %v, want a refusal Recorded reports", err)
	}
	if _, err := js.PublishMsg(ctx, activation.RecordMsg("guest", other, []byte(`{"n":3}`))); err != nil {
		t.Fatalf("another activation's record: %v", err)
	}
	s, err := js.Stream(ctx, provision.RecordsStreamConfig(provision.Options{}).Name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, activation.RecordMsg("guest", id, nil).Subject)
	if err != nil || string(m.Data) != `{"n":1}` {
		t.Fatalf("stored record %q (%v), want the first", m.Data, err)
	}
	if activation.Recorded(nil) || activation.Recorded(errors.New("nats: timeout")) {
		t.Fatal("Recorded holds for an error that is not a refused record")
	}
}
