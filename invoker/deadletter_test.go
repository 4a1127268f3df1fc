package invoker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/backoff"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

func TestPlanRetry(t *testing.T) {
	top := func(d time.Duration) time.Duration { return d } // jitter at its maximum
	p := &entity.RetryPolicy{MaxAttempts: 5, InitialBackoff: 100, MaxBackoff: 300}
	tests := []struct {
		name    string
		p       *entity.RetryPolicy
		attempt int
		age     time.Duration
		want    retryPlan
	}{
		{"no policy", nil, 1, 0, retryPlan{reason: activation.ReasonRetriesExhausted}},
		{"one attempt", &entity.RetryPolicy{MaxAttempts: 1}, 1, 0, retryPlan{reason: activation.ReasonRetriesExhausted}},
		{"first retry", p, 1, 0, retryPlan{retry: true, delay: 100 * time.Millisecond}},
		{"doubles", p, 2, 0, retryPlan{retry: true, delay: 200 * time.Millisecond}},
		{"capped", p, 4, 0, retryPlan{retry: true, delay: 300 * time.Millisecond}},
		{"exhausted", p, 5, 0, retryPlan{reason: activation.ReasonRetriesExhausted}},
		{"redelivered past max", p, 7, 0, retryPlan{reason: activation.ReasonRetriesExhausted}},
		{"defaults", &entity.RetryPolicy{MaxAttempts: 10}, 9, 0, retryPlan{retry: true, delay: 256 * DefaultRetryBackoff}},
		{"default cap", &entity.RetryPolicy{MaxAttempts: 10, InitialBackoff: 2000}, 9, 0, retryPlan{retry: true, delay: DefaultRetryMaxBackoff}},
		{"too old", &entity.RetryPolicy{MaxAttempts: 3, MaxEventAge: 1000}, 1, time.Second, retryPlan{reason: activation.ReasonMaxEventAge}},
		{"delay clipped to age", &entity.RetryPolicy{MaxAttempts: 3, InitialBackoff: 500, MaxEventAge: 1000}, 1, 900 * time.Millisecond,
			retryPlan{retry: true, delay: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := planRetry(tt.p, tt.attempt, tt.age, top); got != tt.want {
				t.Fatalf("planRetry = %+v, want %+v", got, tt.want)
			}
		})
	}
	for range 100 {
		if d := planRetry(p, 3, 0, backoff.FullJitter).delay; d < 0 || d > 300*time.Millisecond {
			t.Fatalf("jittered delay %v outside [0, 300ms]", d)
		}
	}
}

// settleEnv drives settle by hand: it pulls the activation message from
// the invokers' consumer like Run does and settles it with a made-up record.
type settleEnv struct {
	*env
	cons jetstream.Consumer
	log  *slog.Logger
}

func newSettleEnv(t *testing.T) *settleEnv {
	t.Helper()
	e := setup(t, newProtoRuntime(), Config{Prewarm: map[string]int{}})
	cons, err := e.activationConsumer()
	if err != nil {
		t.Fatal(err)
	}
	return &settleEnv{env: e, cons: cons, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// next pulls the next activation message.
func (s *settleEnv) next(t *testing.T) (jetstream.Msg, *activation.Message) {
	t.Helper()
	msg, err := s.cons.Next()
	if err != nil {
		t.Fatalf("next activation: %v", err)
	}
	var m activation.Message
	if err := json.Unmarshal(msg.Data(), &m); err != nil {
		t.Fatal(err)
	}
	return msg, &m
}

func (s *settleEnv) settleWith(t *testing.T, msg jetstream.Msg, m *activation.Message, status int) {
	t.Helper()
	rec := &activation.Record{ActivationID: m.ActivationID, Namespace: m.Namespace, Name: m.Action.Name,
		Response: activation.NewResponse(status, json.RawMessage(`{"n":1}`)), Logs: []string{}}
	s.inv.settle(context.Background(), s.log.With("activation", m.ActivationID), msg, m, rec)
}

// publishAsync enqueues a non-blocking activation of a admitted at admitted.
func (s *settleEnv) publishAsync(t *testing.T, a entity.Action, admitted time.Time) string {
	t.Helper()
	id := activation.NewID()
	m := activation.Message{ActivationID: id, Namespace: a.Namespace, Action: a, Params: json.RawMessage(`{"p":1}`),
		Subject: "key-uuid", Admitted: admitted.UnixMilli()}
	data, _ := json.Marshal(m)
	if _, err := s.js.PublishMsg(context.Background(), &nats.Msg{Subject: names.ActivationSubject(a.Namespace, a.Name),
		Data: data, Header: nats.Header{names.HeaderMsgID: []string{id}}}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (s *settleEnv) deadLetter(ns, id string) (*activation.DeadLetter, error) {
	st, err := s.js.Stream(context.Background(), names.DeadLettersStream)
	if err != nil {
		return nil, err
	}
	raw, err := st.GetLastMsgForSubject(context.Background(), names.DeadLetterSubject(ns, id))
	if err != nil {
		return nil, err
	}
	var dl activation.DeadLetter
	return &dl, json.Unmarshal(raw.Data, &dl)
}

// recordCount counts the records stored for id.
func (s *settleEnv) recordCount(t *testing.T, ns, id string) uint64 {
	t.Helper()
	st, err := s.js.Stream(context.Background(), names.RecordsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(names.RecordSubject(ns, id)))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func subscribe(t *testing.T, nc *nats.Conn, subject string) *nats.Subscription {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	return sub
}

func TestSettleRetryThenSuccess(t *testing.T) {
	s := newSettleEnv(t)
	a := entity.Action{Namespace: "guest", Name: "flaky", Version: "0.0.1",
		Retry:        &entity.RetryPolicy{MaxAttempts: 5, InitialBackoff: 1, MaxBackoff: 2},
		Destinations: &entity.Destinations{OnSuccess: "app.ok", OnFailure: "app.failed"}}
	ok, failed := subscribe(t, s.nc, "app.ok"), subscribe(t, s.nc, "app.failed")
	id := s.publishAsync(t, a, time.Now())

	for attempt := 1; attempt <= 3; attempt++ {
		msg, m := s.next(t)
		if m.ActivationID != id {
			t.Fatalf("got activation %s, want %s", m.ActivationID, id)
		}
		if got := deliveries(msg); got != attempt {
			t.Fatalf("delivery %d, want %d", got, attempt)
		}
		status := activation.StatusApplicationError
		if attempt == 3 {
			status = activation.StatusSuccess
		}
		s.settleWith(t, msg, m, status)
		if attempt < 3 {
			if n := s.recordCount(t, "guest", id); n != 0 {
				t.Fatalf("attempt %d failed and will be retried, but %d records were written", attempt, n)
			}
		}
	}
	s.settled(t)
	if n := s.recordCount(t, "guest", id); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
	rec, err := s.storedRecord("guest", id)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Response.Success || annotation(t, rec, activation.AnnotationAttempts) != float64(3) ||
		rec.Annotation(activation.AnnotationDeadLetter) != nil {
		t.Fatalf("record %+v", rec)
	}
	got, err := ok.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no message on the success destination: %v", err)
	}
	if got.Header.Get(names.HeaderActivationID) != id || got.Header.Get(names.HeaderStatus) != "success" {
		t.Fatalf("destination headers %v", got.Header)
	}
	var dest activation.Record
	if err := json.Unmarshal(got.Data, &dest); err != nil || dest.ActivationID != id {
		t.Fatalf("destination body %s (%v)", got.Data, err)
	}
	if m, err := failed.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("failure destination got %s", m.Data)
	}
	if _, err := s.deadLetter("guest", id); err == nil {
		t.Fatal("a successful activation was dead-lettered")
	}
}

func TestSettleDeadLetters(t *testing.T) {
	tests := []struct {
		name     string
		retry    *entity.RetryPolicy
		age      time.Duration
		attempts int
		reason   string
	}{
		{"retries exhausted", &entity.RetryPolicy{MaxAttempts: 3, InitialBackoff: 1}, 0, 3, activation.ReasonRetriesExhausted},
		{"no retries", &entity.RetryPolicy{MaxAttempts: 1}, 0, 1, activation.ReasonRetriesExhausted},
		{"max event age", &entity.RetryPolicy{MaxAttempts: 5, MaxEventAge: 1000}, 2 * time.Second, 1, activation.ReasonMaxEventAge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSettleEnv(t)
			a := entity.Action{Namespace: "guest", Name: "bad", Version: "0.0.1", Retry: tt.retry,
				Destinations: &entity.Destinations{OnFailure: "app.failed"}}
			failed := subscribe(t, s.nc, "app.failed")
			id := s.publishAsync(t, a, time.Now().Add(-tt.age))
			for range tt.attempts {
				msg, m := s.next(t)
				s.settleWith(t, msg, m, activation.StatusDeveloperError)
			}
			s.settled(t)
			if n := s.recordCount(t, "guest", id); n != 1 {
				t.Fatalf("%d records, want 1", n)
			}
			rec, err := s.storedRecord("guest", id)
			if err != nil {
				t.Fatal(err)
			}
			if annotation(t, rec, activation.AnnotationAttempts) != float64(tt.attempts) ||
				annotation(t, rec, activation.AnnotationDeadLetter) != tt.reason {
				t.Fatalf("record annotations %s", mustJSON(rec.Annotations))
			}
			dl, err := s.deadLetter("guest", id)
			if err != nil {
				t.Fatalf("no dead letter: %v", err)
			}
			if dl.ActivationID != id || dl.Name != "bad" || dl.Reason != tt.reason || dl.Attempts != tt.attempts ||
				string(dl.Message.Params) != `{"p":1}` || dl.Record.Response.StatusCode != activation.StatusDeveloperError || dl.Time == 0 {
				t.Fatalf("dead letter %s", mustJSON(dl))
			}
			got, err := failed.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("no message on the failure destination: %v", err)
			}
			if got.Header.Get(names.HeaderStatus) != "action developer error" {
				t.Fatalf("destination headers %v", got.Header)
			}
		})
	}
}

func TestSettleBlockingIsNotRetried(t *testing.T) {
	s := newSettleEnv(t)
	a := entity.Action{Namespace: "guest", Name: "b", Version: "0.0.1",
		Retry: &entity.RetryPolicy{MaxAttempts: 5}, Destinations: &entity.Destinations{OnFailure: "app.failed"}}
	failed := subscribe(t, s.nc, "app.failed")
	inbox := nats.NewInbox()
	reply := subscribe(t, s.nc, inbox)
	s.publish(t, a, activation.NewID(), `{}`, inbox)
	msg, m := s.next(t)
	s.settleWith(t, msg, m, activation.StatusApplicationError)
	s.settled(t)
	if _, err := reply.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("blocking caller got no record: %v", err)
	}
	if _, err := s.deadLetter("guest", m.ActivationID); err == nil {
		t.Fatal("blocking activation dead-lettered")
	}
	if got, err := failed.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("blocking activation sent to a destination: %s", got.Data)
	}
}

// TestStoredRecordRedoesDeadLetter: a crash between the record and the
// dead letter leaves the message unacked; its redelivery finds the record
// and writes the dead letter.
func TestStoredRecordRedoesDeadLetter(t *testing.T) {
	rt := newProtoRuntime()
	e := setup(t, rt, Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}})
	a := e.action(t, "late", entity.KindGo, "echo", entity.Limits{Memory: 128})
	a.Retry = &entity.RetryPolicy{MaxAttempts: 1}
	id := activation.NewID()
	stored := mustJSON(&activation.Record{ActivationID: id, Namespace: "guest", Name: "late",
		Response:    activation.NewResponse(activation.StatusApplicationError, activation.ErrorResult("x")),
		Annotations: []entity.KeyValue{{Key: activation.AnnotationAttempts, Value: json.RawMessage(`1`)}, {Key: activation.AnnotationDeadLetter, Value: json.RawMessage(`"retries exhausted"`)}}})
	ctx := context.Background()
	if _, err := e.js.Publish(ctx, names.RecordSubject("guest", id), stored); err != nil {
		t.Fatal(err)
	}
	s := &settleEnv{env: e}
	s.cons, _ = e.activationConsumer()
	e.publish(t, a, id, `{}`, "")
	msg, _ := s.next(t)
	if err := msg.Nak(); err != nil {
		t.Fatal(err)
	}
	e.run(t)
	e.settled(t)
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		dl, err := s.deadLetter("guest", id)
		if err != nil {
			return err
		}
		if dl.Attempts != 1 || dl.Reason != activation.ReasonRetriesExhausted {
			return fmt.Errorf("dead letter %s", mustJSON(dl))
		}
		return nil
	})
	if _, starts, _ := rt.counts(); starts != 0 {
		t.Fatalf("%d containers started for an activation that has a record", starts)
	}
}

// TestAsyncRetriesThroughRun runs a failing action under Run: it is tried
// MaxAttempts times, then recorded once and dead-lettered.
func TestAsyncRetriesThroughRun(t *testing.T) {
	rt := newProtoRuntime()
	e := start(t, rt, Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}})
	a := e.action(t, "fails", entity.KindGo, "apperror", entity.Limits{Memory: 128})
	a.Retry = &entity.RetryPolicy{MaxAttempts: 3, InitialBackoff: 1, MaxBackoff: 5}
	id := activation.NewID()
	e.publish(t, a, id, `{}`, "")
	s := &settleEnv{env: e}
	testutil.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		_, err := s.deadLetter("guest", id)
		return err
	})
	e.settled(t)
	rec, err := e.storedRecord("guest", id)
	if err != nil {
		t.Fatal(err)
	}
	if annotation(t, rec, activation.AnnotationAttempts) != float64(3) || rec.Response.StatusCode != activation.StatusApplicationError {
		t.Fatalf("record %s", mustJSON(rec))
	}
	if n := s.recordCount(t, "guest", id); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
}

// TestExpiredEventIsNotRun: an asynchronous activation that waited in the
// queue past its action's MaxEventAge is dead-lettered without a run.
func TestExpiredEventIsNotRun(t *testing.T) {
	rt := newProtoRuntime()
	e := setup(t, rt, Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}})
	a := e.action(t, "stale", entity.KindGo, "echo", entity.Limits{Memory: 128})
	a.Retry = &entity.RetryPolicy{MaxAttempts: 3, MaxEventAge: 50}
	old, fresh := activation.NewID(), activation.NewID()
	e.publish(t, a, old, `{}`, "")
	time.Sleep(100 * time.Millisecond) // the queue wait: no invoker runs yet
	a.Retry.MaxEventAge = 60_000
	e.publish(t, a, fresh, `{}`, "")
	e.run(t)
	s := &settleEnv{env: e}
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		dl, err := s.deadLetter("guest", old)
		if err != nil {
			return err
		}
		if dl.Reason != activation.ReasonMaxEventAge {
			return fmt.Errorf("dead letter %s", mustJSON(dl))
		}
		return nil
	})
	e.settled(t)
	rec, err := e.storedRecord("guest", old)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Response.StatusCode != activation.StatusInternalError || !strings.Contains(resultError(t, rec), "over the action's maxEventAge of 50 ms") {
		t.Errorf("expired record %s", mustJSON(rec))
	}
	if rec, err := e.storedRecord("guest", fresh); err != nil || !rec.Response.Success {
		t.Errorf("fresh activation: %v %+v", err, rec)
	}
	if _, starts, _ := rt.counts(); starts != 1 {
		t.Errorf("%d containers started, want 1 (the fresh activation's only)", starts)
	}
}
