package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/testutil"
)

// recordOutage is an invoker whose records stream is taken away and given
// back, as when the node leading it dies and a new leader is elected:
// publishes find no stream to answer them, lookups fail.
type recordOutage struct {
	*env
	logs *testutil.Buffer
}

func newRecordOutage(t *testing.T, cfg Config) *recordOutage {
	t.Helper()
	cfg.Images = map[string]string{"go": "img-go"}
	cfg.Prewarm = map[string]int{}
	e := setup(t, newProtoRuntime(), cfg)
	logs := &testutil.Buffer{}
	// Info: the test follows the invoker through its log lines.
	e.inv.log = slog.New(slog.NewTextHandler(io.MultiWriter(logs, os.Stderr), &slog.HandlerOptions{Level: slog.LevelInfo})).
		With("invoker", e.inv.cfg.ID)
	return &recordOutage{env: e, logs: logs}
}

func (o *recordOutage) takeRecordsAway(t *testing.T) {
	t.Helper()
	if err := o.js.DeleteStream(context.Background(), names.RecordsStream); err != nil {
		t.Fatal(err)
	}
}

func (o *recordOutage) giveRecordsBack(t *testing.T) {
	t.Helper()
	if _, err := o.js.CreateStream(context.Background(), provision.RecordsStreamConfig(provision.Options{})); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until the invoker has logged a line containing s n times.
func (o *recordOutage) waitLog(t *testing.T, timeout time.Duration, s string, n int) {
	t.Helper()
	testutil.CheckFor(t, timeout, 10*time.Millisecond, func() error {
		if got := strings.Count(o.logs.String(), s); got < n {
			return fmt.Errorf("%q logged %d times, want %d", s, got, n)
		}
		return nil
	})
}

// redelivered sums the activation consumers' redelivered messages.
func (o *recordOutage) redelivered(t *testing.T) int {
	t.Helper()
	n := 0
	for p := range names.Partitions {
		c, err := o.js.Consumer(context.Background(), names.ActivationsStream, names.PartitionConsumer(p))
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n += info.NumRedelivered
	}
	return n
}

// replies collects what the invoker sends a blocking caller.
func replies(t *testing.T, nc *nats.Conn) (string, *nats.Subscription) {
	t.Helper()
	inbox := nats.NewInbox()
	return inbox, subscribe(t, nc, inbox)
}

// oneReply returns the only record the caller got, failing if none came
// within timeout or a second one follows.
func oneReply(t *testing.T, sub *nats.Subscription, timeout time.Duration) *activation.Record {
	t.Helper()
	msg, err := sub.NextMsg(timeout)
	if err != nil {
		t.Fatalf("caller got no result: %v", err)
	}
	var rec activation.Record
	if err := json.Unmarshal(msg.Data, &rec); err != nil {
		t.Fatal(err)
	}
	if extra, err := sub.NextMsg(500 * time.Millisecond); err == nil {
		t.Fatalf("caller got a second result: %s", extra.Data)
	}
	return &rec
}

// A run that finished while its record could not be stored keeps its
// result: the record is retried until the records stream is back, the
// caller gets the success, and the activation has exactly one record.
// Both ways the message may fare in the meantime are covered: kept in
// progress (no redelivery), and redelivered to the invoker that holds it
// (its progress acks did not arrive), which must leave it to the holder
// and not take it for lost although it finds its own started marker.
func TestRecordRetriedUntilStored(t *testing.T) {
	tests := []struct {
		name        string
		ackProgress time.Duration
		redelivered bool
	}{
		{"kept in progress", 300 * time.Millisecond, false},
		{"redelivered to its holder", time.Hour, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := newRecordOutage(t, Config{AckProgress: tc.ackProgress, RecordRetry: time.Minute})
			a := o.action(t, "kept", entity.KindGo, "echo", entity.Limits{Memory: 128})
			o.run(t)
			o.takeRecordsAway(t)

			id := activation.NewID()
			inbox, sub := replies(t, o.nc)
			o.publish(t, a, id, `{"kept":true}`, inbox)
			o.waitLog(t, 10*time.Second, "not stored; retrying with the result kept in memory", 1)
			if tc.redelivered {
				// Past AckWait without a progress ack: the consumer hands
				// the message out again, and this invoker pulls it.
				testutil.CheckFor(t, 3*provision.InvokerAckWait, 10*time.Millisecond, func() error {
					if o.redelivered(t) == 0 {
						return errors.New("not redelivered yet")
					}
					if l := o.logs.String(); !strings.Contains(l, "activation redelivered") {
						return errors.New("redelivery not handled yet")
					}
					return nil
				})
			} else {
				// Outlast AckWait: only progress acks keep the message.
				time.Sleep(provision.InvokerAckWait + time.Second)
				if n := o.redelivered(t); n != 0 {
					t.Fatalf("%d activations redelivered while their record was retried", n)
				}
			}
			if _, err := o.storedRecord("guest", id); err == nil {
				t.Fatal("a record was stored while the records stream was away")
			}
			o.giveRecordsBack(t)

			got := oneReply(t, sub, 15*time.Second)
			if got.ActivationID != id || !got.Response.Success || string(got.Response.Result) != `{"kept":true}` {
				t.Fatalf("caller got %s %+v, want the run's success", got.ActivationID, got.Response)
			}
			o.settled(t)
			rec, err := o.storedRecord("guest", id)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.Response.Success || string(rec.Response.Result) != `{"kept":true}` {
				t.Fatalf("stored record %+v, want the run's success", rec.Response)
			}
			if n := o.records(t, id); n != 1 {
				t.Fatalf("%d records, want 1", n)
			}
			if _, starts, _ := o.rt.(*protoRuntime).counts(); starts != 1 {
				t.Fatalf("%d containers started, want 1 (the activation ran once)", starts)
			}
			if l := o.logs.String(); strings.Contains(l, "began on a lost invoker") || strings.Contains(l, "result dropped") {
				t.Fatalf("the run was given up although its record was retried:\n%s", l)
			}
			if l := o.logs.String(); tc.redelivered != strings.Contains(l, "left to the holder") {
				t.Fatalf("redelivered %v, but the log says otherwise:\n%s", tc.redelivered, l)
			}
		})
	}
}

// Past RecordRetry the result is dropped, loudly, and the redelivery
// falls back to the lost-invoker rule: the activation began (its started
// marker) and its action allows no retries, so its one record is the
// internal error, and the action does not run twice.
func TestRecordRetriesExhausted(t *testing.T) {
	o := newRecordOutage(t, Config{RecordRetry: time.Second})
	a := o.action(t, "dropped", entity.KindGo, "echo", entity.Limits{Memory: 128})
	o.run(t)
	o.takeRecordsAway(t)

	id := activation.NewID()
	inbox, sub := replies(t, o.nc)
	o.publish(t, a, id, `{"kept":false}`, inbox)
	o.waitLog(t, 10*time.Second, "activation result dropped", 1)
	o.waitLog(t, 3*provision.InvokerAckWait, "began on a lost invoker", 1)
	o.giveRecordsBack(t)

	// The lost record may need another redelivery if its own retries ran
	// out before the stream came back.
	got := oneReply(t, sub, 4*provision.InvokerAckWait)
	if got.ActivationID != id || got.Response.StatusCode != activation.StatusInternalError || resultError(t, got) != msgLost {
		t.Fatalf("caller got %s %+v, want the lost-invoker error", got.ActivationID, got.Response)
	}
	o.settled(t)
	rec, err := o.storedRecord("guest", id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Response.StatusCode != activation.StatusInternalError || resultError(t, rec) != msgLost {
		t.Fatalf("stored record %+v, want the lost-invoker error", rec.Response)
	}
	if n := o.records(t, id); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
	if _, starts, _ := o.rt.(*protoRuntime).counts(); starts != 1 {
		t.Fatalf("%d containers started, want 1 (the activation ran once)", starts)
	}
}

// A record publish that fails is retried with backoff within RecordRetry,
// and a context that ends stops the retries.
func TestPublishRetryingBounds(t *testing.T) {
	o := newRecordOutage(t, Config{RecordRetry: 700 * time.Millisecond})
	o.takeRecordsAway(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	msg := activation.RecordMsg("guest", activation.NewID(), []byte(`{}`))

	began := time.Now()
	err := o.inv.publishRetrying(context.Background(), log, msg)
	took := time.Since(began)
	if !errors.Is(err, jetstream.ErrNoStreamResponse) || !strings.Contains(err.Error(), "attempts") {
		t.Fatalf("publishRetrying = %v, want the stream's error after several attempts", err)
	}
	if took < 300*time.Millisecond || took > 700*time.Millisecond+recordTimeout {
		t.Fatalf("retried for %v with RecordRetry 700ms", took)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	o.inv.cfg.RecordRetry = time.Hour
	err = o.inv.publishRetrying(ctx, log, msg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publishRetrying after its context ended = %v", err)
	}
}

func TestHeld(t *testing.T) {
	var h held
	release, ok := h.take("a")
	if !ok {
		t.Fatal("first take refused")
	}
	if _, ok := h.take("a"); ok {
		t.Fatal("a held id was taken again")
	}
	if _, ok := h.take("b"); !ok {
		t.Fatal("another id refused")
	}
	// The holder hands its message back; a new delivery takes the id,
	// and the first holder's release must leave that one alone.
	h.drop("a")
	release2, ok := h.take("a")
	if !ok {
		t.Fatal("id not free after drop")
	}
	release()
	if _, ok := h.take("a"); ok {
		t.Fatal("an old holder's release freed a later holder's id")
	}
	release2()
	release2()
	if _, ok := h.take("a"); !ok {
		t.Fatal("id not free after release")
	}
}
