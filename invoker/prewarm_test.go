package invoker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
	"github.com/flurryfn/flurry/invoker/pool"
)

// releasePolicy releases every idle container, and re-warms once the
// test says the expected next call is near (so nothing hangs on timing).
type releasePolicy struct{ due atomic.Bool }

func (*releasePolicy) Arrive(string, time.Time) {}
func (*releasePolicy) Idle(string, time.Time)   {}
func (r *releasePolicy) Plan(string) pool.Plan {
	if r.due.Load() {
		return pool.Plan{PrewarmAfter: time.Nanosecond, KeepAlive: time.Hour}
	}
	return pool.Plan{PrewarmAfter: time.Hour, KeepAlive: time.Hour}
}

// storeAction puts a into the actions KV, as the controller does, and
// returns it with the revision the store gave it.
func (e *env) storeAction(t *testing.T, a entity.Action) entity.Action {
	t.Helper()
	ctx := context.Background()
	kv, err := e.js.KeyValue(ctx, names.ActionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(a)
	rev, err := kv.Put(ctx, names.ActionKey(a.Namespace, a.Name), b)
	if err != nil {
		t.Fatal(err)
	}
	a.Revision = rev
	return a
}

func TestPolicyPrewarm(t *testing.T) {
	rt := newProtoRuntime()
	policy := &releasePolicy{}
	e := setup(t, rt, Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{},
		MemoryMB: 1024, KeepAlive: policy})
	e.run(t)
	a := e.storeAction(t, e.action(t, "rewarm@x", entity.KindGo, "echo", entity.Limits{Memory: 256}))

	if got := annotation(t, e.invoke(t, a, `{"n":1}`), activation.AnnotationStart); got != "cold" {
		t.Fatalf("first start %v, want cold", got)
	}
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if s := e.inv.PoolStats(); s.Warm != 0 || s.Expired != 1 {
			return fmt.Errorf("pool %+v, want the idle container released", s)
		}
		return nil
	})
	policy.due.Store(true)
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if s := e.inv.PoolStats(); s.PolicyPrewarms != 1 || s.Warm != 1 {
			return fmt.Errorf("pool %+v, want the container released and one re-warmed", s)
		}
		return nil
	})
	rec := e.invoke(t, a, `{"n":2}`)
	if got := annotation(t, rec, activation.AnnotationStart); got != "warm" {
		t.Fatalf("start after a policy prewarm %v, want warm", got)
	}
	if annotation(t, rec, activation.AnnotationInitTime) != nil {
		t.Fatal("warm record with initTime: /init should have been paid off the critical path")
	}
	if !strings.Contains(string(rec.Response.Result), `"n":2`) {
		t.Fatalf("result %s", rec.Response.Result)
	}
	s := e.inv.PoolStats()
	if s.ColdStarts != 1 || s.WarmHits != 1 || s.PolicyPrewarmHits != 1 || s.MemoryMBSeconds <= 0 {
		t.Fatalf("pool %+v", s)
	}
}

func TestWarmContainerErrors(t *testing.T) {
	e := setup(t, newProtoRuntime(), Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}})
	ctx := context.Background()
	for _, key := range []string{"nokey", "guest/a@x", "guest/missing@7"} {
		if _, err := e.inv.actionAt(ctx, key); err == nil {
			t.Errorf("actionAt(%q): no error", key)
		}
	}
	a := e.storeAction(t, e.action(t, "at@name", entity.KindGo, "echo", entity.Limits{}))
	got, err := e.inv.actionAt(ctx, a.Key())
	if err != nil || got.Name != a.Name || got.Revision != a.Revision || got.Exec.CodeDigest != a.Exec.CodeDigest {
		t.Fatalf("actionAt(%q) = %+v, %v", a.Key(), got, err)
	}
}

func TestKeepAliveConfig(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		ok     bool
		policy string // type of the resulting KeepAlive
		sweep  time.Duration
		window time.Duration
	}{
		{"default fixed", Config{}, true, "pool.FixedKeepAlive", 0, 0},
		{"histogram", Config{KeepAlivePolicy: KeepAliveHistogram}, true, "*pool.Histogram", 0, time.Minute},
		{"compressed histogram", Config{KeepAlivePolicy: KeepAliveHistogram, Histogram: pool.HistogramConfig{BinWidth: time.Second}},
			true, "*pool.Histogram", 100 * time.Millisecond, time.Second},
		{"unknown policy", Config{KeepAlivePolicy: "lru"}, false, "", 0, 0},
		{"bad histogram", Config{KeepAlivePolicy: KeepAliveHistogram, Histogram: pool.HistogramConfig{Head: 99, Tail: 5}}, false, "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.IdleTimeout = 3 * time.Minute
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			c := tt.cfg.WithDefaults()
			if got := fmt.Sprintf("%T", c.KeepAlive); got != tt.policy {
				t.Fatalf("policy %s, want %s", got, tt.policy)
			}
			if h, ok := c.KeepAlive.(*pool.Histogram); ok && h.Config().Fallback != 3*time.Minute {
				t.Fatalf("histogram fallback %v, want the idle timeout", h.Config().Fallback)
			}
			pc := c.poolConfig()
			if pc.SweepInterval != tt.sweep || pc.Stems.Window != tt.window {
				t.Fatalf("sweep %v, stem window %v; want %v, %v", pc.SweepInterval, pc.Stems.Window, tt.sweep, tt.window)
			}
		})
	}
}
