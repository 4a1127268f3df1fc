package controller_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

// runCounter is a fake invoker's tally of runs per activation id.
type runCounter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (e *env) countRuns(t *testing.T) *runCounter {
	t.Helper()
	rc := &runCounter{runs: map[string]int{}}
	e.startInvokerWith(t, func(msg *activation.Message) activation.Response {
		rc.mu.Lock()
		rc.runs[msg.ActivationID]++
		rc.mu.Unlock()
		return activation.NewResponse(activation.StatusSuccess, msg.Params)
	})
	return rc
}

func (rc *runCounter) snapshot() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	m := make(map[string]int, len(rc.runs))
	for k, v := range rc.runs {
		m[k] = v
	}
	return m
}

// records is the number of records stored for activation aid.
func (e *env) records(t *testing.T, aid string) uint64 {
	t.Helper()
	s, err := e.js.Stream(e.ctx, names.RecordsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(e.ctx, jetstream.WithSubjectFilter(names.RecordSubject("guest", aid)))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// Two controllers on one JetStream, many concurrent invokes with one key:
// one activation, run once, one record; every caller gets its id.
func TestIdempotencyKeyAcrossControllers(t *testing.T) {
	e := newEnv(t, controller.Config{})
	nc2, err := testutil.Connect(e.url)
	must(t, err)
	t.Cleanup(nc2.Close)
	ctl2, err := controller.New(e.ctx, nc2, e.cfg, nil)
	must(t, err)
	t.Cleanup(ctl2.Close)
	rc := e.countRuns(t)
	_, err = e.ctl.PutAction(e.ctx, e.id, goAction("echo", code1))
	must(t, err)

	backends := []gateway.Backend{e.ctl, ctl2, e.remote(t)}
	ids := make([]string, 12)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := backends[i%len(backends)].Invoke(e.ctx, e.id, controller.InvokeRequest{
				Namespace: "_", Name: "echo", Params: raw(map[string]int{"n": 1}),
				Blocking: i%2 == 0, IdempotencyKey: "order-7 retry-safe",
			})
			if err != nil {
				t.Errorf("invoke %d: %v", i, err)
				return
			}
			ids[i] = res.ActivationID
			if i%2 == 0 && (res.Record == nil || res.Record.ActivationID != res.ActivationID) {
				t.Errorf("blocking invoke %d: record %+v for %s (runs %v)", i, res.Record, res.ActivationID, rc.snapshot())
			}
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("invoke %d got activation %s, invoke 0 %s (runs %v)", i, id, ids[0], rc.snapshot())
		}
	}
	// Another key is another activation.
	other, err := ctl2.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "echo", Params: raw(map[string]int{"n": 1}), Blocking: true, IdempotencyKey: "order-8"})
	must(t, err)
	if other.ActivationID == ids[0] || other.Record == nil {
		t.Fatalf("second key: %+v", other)
	}
	// Once nothing is queued, a second run of the first key's activation
	// would have shown.
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if q := e.queued(t); q != 0 {
			return fmt.Errorf("%d activations still queued", q)
		}
		return nil
	})
	if got := rc.snapshot(); len(got) != 2 || got[ids[0]] != 1 || got[other.ActivationID] != 1 {
		t.Errorf("runs = %v, want one of %s and one of %s", got, ids[0], other.ActivationID)
	}
	if n := e.records(t, ids[0]); n != 1 {
		t.Errorf("%d records of %s, want 1", n, ids[0])
	}
}

func TestIdempotencyKeyMismatchAndValidation(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		for _, n := range []string{"a", "b"} {
			_, err := b.PutAction(e.ctx, e.id, goAction(n, code1))
			must(t, err)
		}
		first, err := b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "a", Params: json.RawMessage(`{"x": 1, "y": [1, 2]}`), IdempotencyKey: "k1"})
		must(t, err)
		// The same JSON spelled with other spacing is the same request.
		again, err := b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "a", Params: json.RawMessage(`{"x":1,"y":[1,2]}`), IdempotencyKey: "k1"})
		must(t, err)
		if again.ActivationID != first.ActivationID {
			t.Errorf("retry got %s, first %s", again.ActivationID, first.ActivationID)
		}
		for _, tc := range []struct {
			name, action, params, key string
			want                      error
		}{
			{"other params", "a", `{"x":2,"y":[1,2]}`, "k1", controller.ErrKeyReused},
			{"other action", "b", `{"x":1,"y":[1,2]}`, "k1", controller.ErrKeyReused},
			{"too long", "a", `{}`, strings.Repeat("k", controller.MaxIdempotencyKeyBytes+1), controller.ErrInvalid},
			{"control byte", "a", `{}`, "k\n1", controller.ErrInvalid},
			{"not ASCII", "a", `{}`, "clé", controller.ErrInvalid},
			{"unknown action", "nope", `{}`, "k2", controller.ErrNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: tc.action, Params: json.RawMessage(tc.params), IdempotencyKey: tc.key})
				wantErr(t, err, tc.want)
			})
		}
		if q := e.queued(t); q != 1 {
			t.Errorf("%d activations queued, want 1", q)
		}
		longest := strings.Repeat("~", controller.MaxIdempotencyKeyBytes)
		_, err = b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "a", IdempotencyKey: longest})
		must(t, err)
	})
}

// putKeyEntry writes a key's entry as a controller that claimed it and
// then stopped would have left it.
func (e *env) putKeyEntry(t *testing.T, key, aid string, claimed time.Time) {
	t.Helper()
	kv, err := e.js.KeyValue(e.ctx, names.IdempotencyBucket)
	must(t, err)
	// The digest of {}: sha256 of the compacted params.
	b, _ := json.Marshal(map[string]any{
		"activationId": aid, "action": "echo", "claimed": claimed.UnixMilli(),
		"digest": "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
	})
	_, err = kv.Put(e.ctx, names.IdempotencyKey("guest", key), b)
	must(t, err)
}

// A key whose first request never got its activation queued: soon after,
// a retry queues it under the key's id; long after, it is refused rather
// than risk a second run, unless the record shows the activation ran.
func TestIdempotencyKeyUnqueuedClaim(t *testing.T) {
	e := newEnv(t, controller.Config{})
	rc := e.countRuns(t)
	_, err := e.ctl.PutAction(e.ctx, e.id, goAction("echo", code1))
	must(t, err)

	const young = "0123456789abcdef0123456789abcdef"
	e.putKeyEntry(t, "young", young, time.Now())
	res, err := e.ctl.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "echo", Blocking: true, IdempotencyKey: "young"})
	must(t, err)
	if res.ActivationID != young || res.Record == nil {
		t.Fatalf("retry of an unqueued claim: %+v", res)
	}
	// Now marked queued: a further retry runs nothing.
	res, err = e.ctl.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "echo", Blocking: true, IdempotencyKey: "young"})
	must(t, err)
	if res.ActivationID != young || res.Record == nil {
		t.Fatalf("second retry: %+v", res)
	}
	if got := rc.snapshot(); got[young] != 1 || len(got) != 1 {
		t.Errorf("runs = %v", got)
	}

	const old = "fedcba9876543210fedcba9876543210"
	e.putKeyEntry(t, "old", old, time.Now().Add(-time.Hour))
	_, err = e.ctl.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "echo", IdempotencyKey: "old"})
	wantErr(t, err, controller.ErrKeyUnresolved)
	e.putRecord(t, activation.Record{ActivationID: old, Namespace: "guest", Name: "echo", Response: activation.NewResponse(activation.StatusSuccess, raw(map[string]int{}))})
	res, err = e.ctl.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "echo", Blocking: true, IdempotencyKey: "old"})
	must(t, err)
	if res.ActivationID != old || res.Record == nil {
		t.Fatalf("old claim with a record: %+v", res)
	}
	if got := rc.snapshot(); len(got) != 1 {
		t.Errorf("runs = %v", got)
	}
}
