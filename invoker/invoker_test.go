package invoker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/testutil"
	"github.com/flurryfn/flurry/invoker/container"
)

type env struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	rt  container.Runtime
	inv *Invoker
	// stop cancels Run and waits for it to return.
	stop func()
}

// start provisions JetStream, starts an invoker over rt and stops it (with
// its drain) when the test ends.
func start(t *testing.T, rt container.Runtime, cfg Config) *env {
	t.Helper()
	e := setup(t, rt, cfg)
	e.run(t)
	return e
}

// setup provisions JetStream and makes an invoker without running it.
func setup(t *testing.T, rt container.Runtime, cfg Config) *env {
	t.Helper()
	nc, _ := testutil.JetStream(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := provision.Ensure(context.Background(), js, provision.Options{}); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if cfg.ID == "" {
		cfg.ID = "test-invoker"
	}
	if cfg.FetchMaxWait == 0 {
		cfg.FetchMaxWait = 200 * time.Millisecond
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	inv, err := New(nc, rt, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return &env{nc: nc, js: js, rt: rt, inv: inv}
}

// run runs the invoker until stop is called or the test ends.
func (e *env) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.inv.Run(ctx) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(e.stop)
}

// action stores code in the code store and returns an action running it.
func (e *env) action(t *testing.T, name, kind, code string, lim entity.Limits) entity.Action {
	t.Helper()
	sum := sha256.Sum256([]byte(code))
	digest := hex.EncodeToString(sum[:])
	ctx := context.Background()
	store, err := e.js.ObjectStore(ctx, names.CodeStore)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutBytes(ctx, names.CodeName(digest), []byte(code)); err != nil {
		t.Fatal(err)
	}
	return entity.Action{
		Namespace: "guest", Name: name, Version: "0.0.1", Revision: 1,
		Exec:   entity.Exec{Kind: kind, CodeDigest: digest, CodeSize: int64(len(code))},
		Limits: lim.WithDefaults(),
	}
}

// invoke publishes an activation of a and waits for its record on the
// reply subject.
func (e *env) invoke(t *testing.T, a entity.Action, params string) *activation.Record {
	t.Helper()
	return e.invokeApp(t, a, nil, params)
}

// invokeApp is invoke for an app's activation when app is set.
func (e *env) invokeApp(t *testing.T, a entity.Action, app *activation.AppCall, params string) *activation.Record {
	t.Helper()
	id := activation.NewID()
	inbox := nats.NewInbox()
	sub, err := e.nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	e.publishApp(t, a, app, id, params, inbox)
	msg, err := sub.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("activation %s: no record: %v", id, err)
	}
	var rec activation.Record
	if err := json.Unmarshal(msg.Data, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.ActivationID != id {
		t.Fatalf("record for %s, want %s", rec.ActivationID, id)
	}
	return &rec
}

func (e *env) publish(t *testing.T, a entity.Action, id, params, reply string) {
	t.Helper()
	e.publishApp(t, a, nil, id, params, reply)
}

// publishApp publishes an activation of a, an app's when app is set.
func (e *env) publishApp(t *testing.T, a entity.Action, app *activation.AppCall, id, params, reply string) {
	t.Helper()
	m := activation.Message{ActivationID: id, Namespace: a.Namespace, Action: a, Params: json.RawMessage(params),
		Subject: "key-uuid", Blocking: reply != "", Admitted: time.Now().UnixMilli(), App: app}
	data, _ := json.Marshal(m)
	msg := &nats.Msg{Subject: names.ActivationSubject(a.Namespace, a.Name), Data: data,
		Header: nats.Header{names.HeaderMsgID: []string{id}}}
	if reply != "" {
		msg.Header.Set(names.HeaderReply, reply)
	}
	if _, err := e.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// storedRecord reads id's record from the records stream.
func (e *env) storedRecord(ns, id string) (*activation.Record, error) {
	s, err := e.js.Stream(context.Background(), names.RecordsStream)
	if err != nil {
		return nil, err
	}
	raw, err := s.GetLastMsgForSubject(context.Background(), names.RecordSubject(ns, id))
	if err != nil {
		return nil, err
	}
	var rec activation.Record
	return &rec, json.Unmarshal(raw.Data, &rec)
}

// settled waits until the consumer has nothing pending or unacked.
func (e *env) settled(t *testing.T) {
	t.Helper()
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		n, err := e.pendingActivations()
		if err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("%d activations pending or unacked", n)
		}
		return nil
	})
}

func annotation(t *testing.T, rec *activation.Record, key string) any {
	t.Helper()
	raw := rec.Annotation(key)
	if raw == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func resultError(t *testing.T, rec *activation.Record) string {
	t.Helper()
	var r struct{ Error string }
	json.Unmarshal(rec.Response.Result, &r)
	return r.Error
}

func TestActivations(t *testing.T) {
	rt := newProtoRuntime()
	e := start(t, rt, Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}, MemoryMB: 1024, MinInitTimeout: time.Second})
	lim := entity.Limits{Memory: 128}

	tests := []struct {
		name    string
		code    string
		lim     entity.Limits
		params  string
		status  int
		result  string // exact JSON, or "" to check errText
		errText string
		removed bool // container replaced
		noRun   bool // failed before /run, so the action logged nothing
	}{
		{name: "success", code: "echo", params: `{"name":"flurry"}`, status: activation.StatusSuccess, result: `{"name":"flurry"}`},
		{name: "application error", code: "apperror", status: activation.StatusApplicationError, errText: "no such thing"},
		{name: "timeout", code: "sleep", lim: entity.Limits{Timeout: 200, Memory: 128}, params: `{"ms":5000}`,
			status: activation.StatusDeveloperError, errText: "The action exceeded its time limits of 200 milliseconds.", removed: true},
		{name: "crash", code: "crash", status: activation.StatusDeveloperError,
			errText: "The action did not produce a valid response and exited unexpectedly.", removed: true},
		{name: "not a dictionary", code: "notdict", status: activation.StatusDeveloperError, errText: "The action did not return a dictionary."},
		{name: "result too long", code: "big", status: activation.StatusApplicationError,
			errText: fmt.Sprintf("The action produced a response that exceeded the allowed length: %d > 1048576 bytes.", 2<<20+8)},
		{name: "init failure", code: "badinit", status: activation.StatusDeveloperError, errText: "cannot compile", removed: true, noRun: true},
		// /init gets MinInitTimeout however short the action's timeout.
		{name: "init slower than the timeout", code: "slowinit:300", lim: entity.Limits{Timeout: 100, Memory: 128}, status: activation.StatusSuccess, result: `{}`},
		{name: "init timeout", code: "slowinit:5000", lim: entity.Limits{Timeout: 200, Memory: 128}, status: activation.StatusDeveloperError,
			errText: "The action did not initialize within 1000 milliseconds.", removed: true, noRun: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := lim
			if tt.lim != (entity.Limits{}) {
				l = tt.lim
			}
			a := e.action(t, strings.ReplaceAll(tt.name, " ", "-"), entity.KindGo, tt.code, l)
			params := tt.params
			if params == "" {
				params = "{}"
			}
			_, startsBefore, removesBefore := rt.counts()
			rec := e.invoke(t, a, params)
			if rec.Response.StatusCode != tt.status || rec.Response.Success != (tt.status == 0) ||
				rec.Response.Status != activation.StatusText(tt.status) {
				t.Fatalf("response %+v, want status %d", rec.Response, tt.status)
			}
			if tt.result != "" && string(rec.Response.Result) != tt.result {
				t.Errorf("result %s, want %s", rec.Response.Result, tt.result)
			}
			if tt.errText != "" {
				if got := resultError(t, rec); got != tt.errText {
					t.Errorf("error %q, want %q", got, tt.errText)
				}
			}
			// Record fields.
			if rec.Namespace != "guest" || rec.Name != a.Name || rec.Version != "0.0.1" || rec.Subject != "key-uuid" {
				t.Errorf("record identity %+v", rec)
			}
			if rec.Start == 0 || rec.End < rec.Start || rec.Duration != rec.End-rec.Start {
				t.Errorf("times start %d end %d duration %d", rec.Start, rec.End, rec.Duration)
			}
			for key, want := range map[string]any{
				activation.AnnotationKind:    "go",
				activation.AnnotationPath:    "guest/" + a.Name,
				activation.AnnotationStart:   "cold",
				activation.AnnotationInvoker: "test-invoker",
			} {
				if got := annotation(t, rec, key); got != want {
					t.Errorf("annotation %s = %v, want %v", key, got, want)
				}
			}
			if annotation(t, rec, activation.AnnotationInitTime) == nil || annotation(t, rec, activation.AnnotationWaitTime) == nil {
				t.Errorf("cold record without initTime or waitTime: %+v", rec.Annotations)
			}
			if lm, _ := annotation(t, rec, activation.AnnotationLimits).(map[string]any); lm["timeout"] != float64(l.WithDefaults().Timeout) {
				t.Errorf("limits annotation %v", lm)
			}
			if !tt.noRun && !strings.Contains(strings.Join(rec.Logs, "\n"), "stdout: running "+rec.ActivationID) {
				t.Errorf("logs %q lack the action's line", rec.Logs)
			}
			// The record is stored before the caller hears (ADR 016).
			stored, err := e.storedRecord("guest", rec.ActivationID)
			if err != nil {
				t.Fatalf("record not stored when the caller got it: %v", err)
			}
			if stored.Response.StatusCode != tt.status {
				t.Errorf("stored status %d", stored.Response.StatusCode)
			}
			e.settled(t)

			_, starts, _ := rt.counts()
			if starts != startsBefore+1 {
				t.Errorf("%d containers started, want 1", starts-startsBefore)
			}
			if tt.removed {
				testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
					if _, _, removes := rt.counts(); removes != removesBefore+1 {
						return fmt.Errorf("container not removed")
					}
					return nil
				})
			}

			// The invoker keeps serving the action: warm after success,
			// a fresh container after a failure that removed one.
			if tt.code == "echo" || tt.code == "sleep" {
				again := e.invoke(t, a, `{"ms":1}`)
				want := "warm"
				if tt.removed {
					want = "cold"
				}
				if got := annotation(t, again, activation.AnnotationStart); got != want {
					t.Errorf("second activation start %v, want %s", got, want)
				}
				if again.Response.StatusCode != activation.StatusSuccess {
					t.Errorf("second activation %+v", again.Response)
				}
				if want == "warm" && annotation(t, again, activation.AnnotationInitTime) != nil {
					t.Error("warm activation has initTime")
				}
			}
		})
	}
}

func TestPrewarmAndHealth(t *testing.T) {
	rt := newProtoRuntime()
	cfg := Config{ID: "hv", Images: map[string]string{"go": "img-go"}, MemoryMB: 512, HealthInterval: 20 * time.Millisecond}
	e := start(t, rt, cfg)
	sub, err := e.nc.SubscribeSync(fmt.Sprintf(names.InvokerHealthSubjectT, "hv"))
	if err != nil {
		t.Fatal(err)
	}
	var h health
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		msg, err := sub.NextMsg(time.Second)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(msg.Data, &h); err != nil {
			return err
		}
		if h.Prewarm != 1 {
			return fmt.Errorf("health %+v, want one stem cell", h)
		}
		return nil
	})
	if h.ID != "hv" || h.Slots != 4 || h.MemoryMB != 512 || h.UsedMB != 256 {
		t.Fatalf("health %+v", h)
	}
	a := e.action(t, "pre", entity.KindGo, "echo", entity.Limits{Memory: 256})
	rec := e.invoke(t, a, `{}`)
	if got := annotation(t, rec, activation.AnnotationStart); got != "prewarm" {
		t.Fatalf("start %v, want prewarm", got)
	}
	if annotation(t, rec, activation.AnnotationInitTime) == nil {
		t.Fatal("prewarm record without initTime")
	}
	// The stem cell is refilled.
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		msg, err := sub.NextMsg(time.Second)
		if err != nil {
			return err
		}
		json.Unmarshal(msg.Data, &h)
		if h.Prewarm != 1 || h.Warm != 1 {
			return fmt.Errorf("health %+v", h)
		}
		return nil
	})
}

func TestUndecodableAndConcurrent(t *testing.T) {
	rt := newProtoRuntime()
	e := start(t, rt, Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}, MemoryMB: 1024})
	if _, err := e.js.Publish(context.Background(), names.ActivationSubject("x", "y"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	e.settled(t)

	// Eight concurrent activations of one action with concurrency 4 share
	// containers; all get records.
	a := e.action(t, "conc", entity.KindGo, "sleep", entity.Limits{Memory: 128, Concurrency: 4})
	ids := map[string]bool{}
	inbox := nats.NewInbox()
	sub, _ := e.nc.SubscribeSync(inbox)
	for range 8 {
		id := activation.NewID()
		ids[id] = true
		e.publish(t, a, id, `{"ms":100}`, inbox)
	}
	for range 8 {
		msg, err := sub.NextMsg(20 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var rec activation.Record
		json.Unmarshal(msg.Data, &rec)
		if !ids[rec.ActivationID] || rec.Response.StatusCode != 0 {
			t.Fatalf("record %s %+v", rec.ActivationID, rec.Response)
		}
		delete(ids, rec.ActivationID)
	}
	if _, starts, _ := rt.counts(); starts > 4 {
		t.Errorf("%d containers for 8 activations at concurrency 4", starts)
	}
	e.settled(t)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"go prewarm", Config{Images: map[string]string{"go": "x"}}, true},
		{"prewarm without image", Config{Prewarm: map[string]int{"python": 1}}, false},
		{"negative slots", Config{MaxConcurrent: -1}, false},
		{"tiny progress", Config{AckProgress: time.Millisecond}, false},
		{"negative record retry", Config{RecordRetry: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	c := Config{MemoryMB: 4096}.WithDefaults()
	if c.MaxConcurrent != 16 || c.ID == "" || strings.ContainsAny(c.ID, ".*> ") || c.RecordRetry != DefaultRecordRetry {
		t.Fatalf("defaults %+v", c)
	}
}

func TestRedeliveredWithRecordIsNotRerun(t *testing.T) {
	rt := newProtoRuntime()
	e := setup(t, rt, Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}})
	a := e.action(t, "once", entity.KindGo, "echo", entity.Limits{Memory: 128})
	id := activation.NewID()
	ctx := context.Background()

	// The first delivery "ran" elsewhere: its record is stored, but the
	// message was never acked.
	stored := []byte(`{"activationId":"` + id + `","namespace":"guest","response":{"status":"success","statusCode":0,"success":true,"result":{"first":true}}}`)
	if _, err := e.js.Publish(ctx, names.RecordSubject("guest", id), stored); err != nil {
		t.Fatal(err)
	}
	inbox := nats.NewInbox()
	sub, _ := e.nc.SubscribeSync(inbox)
	e.publish(t, a, id, `{}`, inbox)
	cons, err := e.activationConsumer()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := msg.Nak(); err != nil {
		t.Fatal(err)
	}

	e.run(t)
	got, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != string(stored) {
		t.Fatalf("caller got %s, want the stored record", got.Data)
	}
	e.settled(t)
	if _, starts, _ := rt.counts(); starts != 0 {
		t.Fatalf("%d containers started for an activation that already has a record", starts)
	}
}

// An activation recorded by another run while this one was running (its
// first invoker taken for lost, say) keeps that record: this run's is
// refused, and the caller gets the stored one.
func TestRecordedDuringRunKeepsFirstRecord(t *testing.T) {
	rt := newProtoRuntime()
	e := setup(t, rt, Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}})
	a := e.action(t, "slow", entity.KindGo, "sleep", entity.Limits{Memory: 128})
	id := activation.NewID()
	ctx := context.Background()
	inbox := nats.NewInbox()
	sub, _ := e.nc.SubscribeSync(inbox)
	e.run(t)
	e.publish(t, a, id, `{"ms":1500}`, inbox)

	time.Sleep(500 * time.Millisecond) // the activation is running
	first := []byte(`{"activationId":"` + id + `","namespace":"guest","response":{"status":"success","statusCode":0,"success":true,"result":{"first":true}}}`)
	if _, err := e.js.PublishMsg(ctx, activation.RecordMsg("guest", id, first)); err != nil {
		t.Fatal(err)
	}
	got, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != string(first) {
		t.Fatalf("caller got %s, want the first record", got.Data)
	}
	e.settled(t)
	s, err := e.js.Stream(ctx, names.RecordsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(names.RecordSubject("guest", id)))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[names.RecordSubject("guest", id)]; n != 1 {
		t.Fatalf("%d records for the activation, want 1", n)
	}
}

func TestDrain(t *testing.T) {
	rt := newProtoRuntime()
	e := setup(t, rt, Config{Images: map[string]string{"go": "img-go"}})
	e.run(t)
	a := e.action(t, "slow", entity.KindGo, "sleep", entity.Limits{Memory: 128})
	id := activation.NewID()
	e.publish(t, a, id, `{"ms":300}`, "")
	testutil.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
		if n := e.inv.running.Load(); n != 1 {
			return fmt.Errorf("%d running", n)
		}
		return nil
	})
	e.stop()
	// Run returned only after the activation finished and was recorded.
	rec, err := e.storedRecord("guest", id)
	if err != nil {
		t.Fatalf("no record after drain: %v", err)
	}
	if rec.Response.StatusCode != activation.StatusSuccess {
		t.Fatalf("drained activation %+v", rec.Response)
	}
	if live, _, _ := rt.counts(); live != 0 {
		t.Fatalf("%d containers left after Run returned", live)
	}
	e.settled(t)
}
