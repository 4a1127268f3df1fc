package provision_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/testutil"
)

func TestEnsureIdempotent(t *testing.T) {
	nc, _ := testutil.JetStream(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 2 {
		if err := provision.Ensure(ctx, js, provision.Options{}); err != nil {
			t.Fatalf("ensure #%d: %v", i+1, err)
		}
	}

	act, err := js.Stream(ctx, names.ActivationsStream)
	if err != nil {
		t.Fatal(err)
	}
	ac := act.CachedInfo().Config
	if ac.Retention != jetstream.WorkQueuePolicy || ac.Discard != jetstream.DiscardNew ||
		ac.MaxMsgs != provision.DefaultActivationsMaxMsgs || ac.Duplicates != 2*time.Minute {
		t.Errorf("activations stream config = %+v", ac)
	}
	rec, err := js.Stream(ctx, names.RecordsStream)
	if err != nil {
		t.Fatal(err)
	}
	rc := rec.CachedInfo().Config
	if rc.Retention != jetstream.LimitsPolicy || !rc.AllowDirect || rc.MaxAge != 7*24*time.Hour || rc.MaxBytes != 1<<30 {
		t.Errorf("records stream config = %+v", rc)
	}
	kv, err := js.KeyValue(ctx, names.ActionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil || st.History() != 5 {
		t.Errorf("actions history = %v, %v", st, err)
	}
	if _, err := js.KeyValue(ctx, names.AuthBucket); err != nil {
		t.Error(err)
	}
	if _, err := js.ObjectStore(ctx, names.CodeStore); err != nil {
		t.Error(err)
	}
	for p := range names.Partitions {
		cons, err := js.Consumer(ctx, names.ActivationsStream, names.PartitionConsumer(p))
		if err != nil {
			t.Fatal(err)
		}
		cc := cons.CachedInfo().Config
		if cc.AckPolicy != jetstream.AckExplicitPolicy || cc.AckWait != provision.InvokerAckWait || cc.MaxDeliver != -1 ||
			cc.FilterSubject != names.PartitionSubject(p) || cc.PriorityPolicy != jetstream.PriorityPolicyOverflow ||
			len(cc.PriorityGroups) != 1 || cc.PriorityGroups[0] != names.InvokerPriorityGroup {
			t.Errorf("consumer %d config = %+v", p, cc)
		}
	}
	if _, err := js.Stream(ctx, names.StartedStream); err != nil {
		t.Error(err)
	}
}

// TestEnsureMigratesSharedConsumer: a data dir of ADR 001 has the single
// consumer "invokers" with an activation delivered but never acked; Ensure
// replaces it by partition consumers, which deliver that activation, and a
// doorbell announces new activations.
func TestEnsureMigratesSharedConsumer(t *testing.T) {
	nc, _ := testutil.JetStream(t)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: names.ActivationsStream,
		Subjects: []string{names.ActivationSubjects}, Retention: jetstream.WorkQueuePolicy}); err != nil {
		t.Fatal(err)
	}
	old, err := js.CreateConsumer(ctx, names.ActivationsStream, jetstream.ConsumerConfig{
		Durable: names.InvokerConsumer, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, names.PartitionSubject(3), []byte("old")); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Next(); err != nil { // delivered, never acked
		t.Fatal(err)
	}
	if err := provision.Ensure(ctx, js, provision.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Consumer(ctx, names.ActivationsStream, names.InvokerConsumer); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("old consumer still there: %v", err)
	}
	bell, err := nc.SubscribeSync(names.DoorbellSubjects)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, names.PartitionSubject(3), []byte("new")); err != nil {
		t.Fatal(err)
	}
	ring, err := bell.NextMsg(5 * time.Second)
	if err != nil || ring.Subject != names.DoorbellSubject(3) || len(ring.Data) != 0 {
		t.Fatalf("doorbell %+v, %v", ring, err)
	}
	cons, err := js.Consumer(ctx, names.ActivationsStream, names.PartitionConsumer(3))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(2, jetstream.FetchPriorityGroup(names.InvokerPriorityGroup), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, string(m.Data()))
	}
	if strings.Join(got, ",") != "old,new" {
		t.Fatalf("partition 3 delivered %q, want the old activation then the new", got)
	}
}

func TestEnsureUpdatesLimits(t *testing.T) {
	nc, _ := testutil.JetStream(t)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if err := provision.Ensure(ctx, js, provision.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := provision.Ensure(ctx, js, provision.Options{ActivationsMaxMsgs: 10, RecordsMaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	s, _ := js.Stream(ctx, names.ActivationsStream)
	if got := s.CachedInfo().Config.MaxMsgs; got != 10 {
		t.Errorf("max msgs = %d, want 10", got)
	}
	r, _ := js.Stream(ctx, names.RecordsStream)
	if got := r.CachedInfo().Config.MaxAge; got != time.Hour {
		t.Errorf("max age = %v, want 1h", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    provision.Options
		ok   bool
	}{
		{"defaults", provision.Options{}, true},
		{"replicas", provision.Options{Replicas: 7}, false},
		{"age", provision.Options{RecordsMaxAge: time.Second}, false},
		{"bytes", provision.Options{RecordsMaxBytes: 10}, false},
		{"msgs", provision.Options{ActivationsMaxMsgs: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
