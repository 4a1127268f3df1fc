package stored_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/stored"
	"github.com/flurryfn/flurry/internal/testutil"
)

func TestDecodeRefusesJetStreamAnswers(t *testing.T) {
	type key struct {
		UUID string `json:"uuid"`
	}
	for _, tc := range []struct {
		name, data string
		refused    bool
	}{
		{"a value", `{"uuid":"u1"}`, false},
		{"a value mentioning the marker", `{"uuid":"u1","params":{"type":"io.nats.jetstream.api.v1.x"}}`, false},
		{"a message get", `{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"data":"e30="}}`, true},
		{"an error", `{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":404}}`, true},
		{"a stream info", `{"type":"io.nats.jetstream.api.v1.stream_info_response","config":{"name":"S"}}`, true},
		{"a publish acknowledgement", `{"stream":"FLURRY_RECORDS","seq":7}`, true},
		{"a duplicate acknowledgement", `{"stream":"FLURRY_RECORDS","domain":"x","seq":7,"duplicate":true}`, true},
		{"a refused publish", `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 0"}}`, true},
		{"a nested stream", `{"uuid":"u1","source":{"stream":"ORDERS","seq":3}}`, false},
		{"a nested error", `{"uuid":"u1","response":{"error":"x"}}`, false},
	} {
		var k key
		err := stored.Decode([]byte(tc.data), &k)
		if refused := errors.Is(err, stored.ErrJetStreamAnswer); refused != tc.refused {
			t.Errorf("%s: Decode error %v, want refused=%v", tc.name, err, tc.refused)
		}
	}
	var k key
	if err := stored.Decode([]byte(`not json io.nats.jetstream.api.`), &k); err == nil || errors.Is(err, stored.ErrJetStreamAnswer) {
		t.Errorf("Decode of a non-JSON value: %v, want a JSON error", err)
	}
}

func TestMsgGet(t *testing.T) {
	nc, _ := testutil.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, AllowDirect: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.a", []byte("one")); err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("s.a")
	msg.Data = []byte("two")
	msg.Header.Set("K", "v")
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}

	last, err := stored.LastMsg(ctx, nc, "S", "s.a")
	if err != nil {
		t.Fatal(err)
	}
	if string(last.Data) != "two" || last.Sequence != 2 || last.Subject != "s.a" || last.Header.Get("K") != "v" {
		t.Fatalf("LastMsg = %+v", last)
	}
	first, err := stored.Msg(ctx, nc, "S", 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(first.Data) != "one" || first.Header != nil {
		t.Fatalf("Msg(1) = %+v", first)
	}
	if _, err := stored.LastMsg(ctx, nc, "S", "s.none"); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("LastMsg of a missing subject: %v, want ErrMsgNotFound", err)
	}
	if _, err := stored.Msg(ctx, nc, "S", 99); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("Msg of a missing sequence: %v, want ErrMsgNotFound", err)
	}
	if _, err := stored.Msg(ctx, nc, "NOPE", 1); err == nil || errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("Msg of a missing stream: %v, want an error naming it", err)
	}
}
