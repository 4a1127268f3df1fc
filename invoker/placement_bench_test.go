package invoker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/actions/gowrap"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/testutil"
	"github.com/flurryfn/flurry/invoker/container/process"
)

// BenchmarkPlacement measures placement with two invokers on one embedded
// JetStream, each with its own process runtime (real `flurry proxy`
// processes), on the workloads of ADR 004:
//
//   - spread: 100 distinct no-op actions, 16 closed-loop clients picking
//     an action uniformly at random;
//   - hot: one action, 32 closed-loop clients (more than the 8 slots of
//     its owner), to see it spread over both invokers.
//
// It logs warm-hit ratio, containers started, p50/p99 latency (publish to
// result), activations/s and the share per invoker. Run it alone:
//
//	go test -run '^$' -bench Placement -benchtime 1x ./invoker/
func BenchmarkPlacement(b *testing.B) {
	if flurryErr != nil {
		b.Fatal(flurryErr)
	}
	nc, _ := testutil.JetStream(b)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := provision.Ensure(ctx, js, provision.Options{}); err != nil {
		b.Fatal(err)
	}
	bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	bin, err := gowrap.Build(bctx, filepath.Join("..", "actions", "examples", "hello"), "Main")
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	code := base64.StdEncoding.EncodeToString(bin)
	var done sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	for _, id := range []string{"inv-a", "inv-b"} {
		rt, err := process.New(process.Config{Command: []string{flurryBin, "proxy"}, BaseDir: b.TempDir(), InvokerID: id})
		if err != nil {
			b.Fatal(err)
		}
		inv, err := New(nc, rt, Config{ID: id, Images: map[string]string{"go": "flurry/runtime-go"},
			Prewarm: map[string]int{}, MemoryMB: 64 * 128, MaxConcurrent: 8},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			b.Fatal(err)
		}
		done.Go(func() { _ = inv.Run(runCtx) })
	}
	b.Cleanup(func() { stop(); done.Wait() })

	actions := make([]entity.Action, 100)
	for n := range actions {
		actions[n] = benchAction(b, js, fmt.Sprintf("noop-%03d", n), code)
	}
	b.ResetTimer()
	warm := placementLoad(b, nc, js, actions, 16, 5*time.Second)
	spread := placementLoad(b, nc, js, actions, 16, 15*time.Second)
	hot := placementLoad(b, nc, js, actions[:1], 32, 10*time.Second)
	b.StopTimer()
	b.Logf("\n| workload | activations | act/s | p50 | p99 | warm hits | containers started | per invoker |\n|---|---|---|---|---|---|---|---|\n%s\n%s\n%s",
		warm.row("spread, first 5 s (warm-up)"), spread.row("spread, next 15 s"), hot.row("hot action, 10 s"))
}

type loadResult struct {
	n, warm, started int
	dur              time.Duration
	lat              []time.Duration
	per              map[string]int
}

func (r loadResult) row(name string) string {
	slices.Sort(r.lat)
	q := func(p float64) time.Duration { return r.lat[int(p*float64(len(r.lat)-1))] }
	return fmt.Sprintf("| %s | %d | %.0f | %.2f ms | %.2f ms | %.1f %% | %d | %v |", name, r.n,
		float64(r.n)/r.dur.Seconds(), ms(q(0.5)), ms(q(0.99)), 100*float64(r.warm)/float64(r.n), r.started, r.per)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// placementLoad runs clients closed-loop blocking invocations of random
// actions for d.
func placementLoad(b *testing.B, nc *nats.Conn, js jetstream.JetStream, actions []entity.Action, clients int, d time.Duration) loadResult {
	var mu sync.Mutex
	res := loadResult{per: map[string]int{}, dur: d}
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			inbox := nats.NewInbox()
			sub, err := nc.SubscribeSync(inbox)
			if err != nil {
				b.Error(err)
				return
			}
			defer sub.Unsubscribe()
			for time.Now().Before(end) {
				a := actions[rand.IntN(len(actions))]
				id := activation.NewID()
				t0 := time.Now()
				if err := benchPublish(js, a, id, inbox); err != nil {
					b.Error(err)
					return
				}
				var rec activation.Record
				for rec.ActivationID != id {
					msg, err := sub.NextMsg(30 * time.Second)
					if err != nil {
						b.Errorf("activation %s: %v", id, err)
						return
					}
					if err := json.Unmarshal(msg.Data, &rec); err != nil {
						b.Error(err)
						return
					}
				}
				lat := time.Since(t0)
				start, _ := annotationValue(&rec, activation.AnnotationStart).(string)
				inv, _ := annotationValue(&rec, activation.AnnotationInvoker).(string)
				mu.Lock()
				res.n++
				res.lat = append(res.lat, lat)
				res.per[inv]++
				if start == "warm" {
					res.warm++
				} else {
					res.started++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if res.n == 0 {
		b.Fatal("no activation finished")
	}
	return res
}

func annotationValue(rec *activation.Record, key string) any {
	for _, a := range rec.Annotations {
		if a.Key == key {
			var v any
			_ = json.Unmarshal(a.Value, &v)
			return v
		}
	}
	return nil
}

// benchAction stores code (shared by all bench actions) and returns a
// binary go action named name.
func benchAction(b *testing.B, js jetstream.JetStream, name, code string) entity.Action {
	b.Helper()
	sum := sha256.Sum256([]byte(code))
	digest := hex.EncodeToString(sum[:])
	ctx := context.Background()
	store, err := js.ObjectStore(ctx, names.CodeStore)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.PutBytes(ctx, names.CodeName(digest), []byte(code)); err != nil {
		b.Fatal(err)
	}
	return entity.Action{
		Namespace: "guest", Name: name, Version: "0.0.1", Revision: 1,
		Exec:   entity.Exec{Kind: entity.KindGo, CodeDigest: digest, CodeSize: int64(len(code)), Binary: true},
		Limits: entity.Limits{Memory: 128}.WithDefaults(),
	}
}

func benchPublish(js jetstream.JetStream, a entity.Action, id, reply string) error {
	m := activation.Message{ActivationID: id, Namespace: a.Namespace, Action: a, Params: json.RawMessage(`{}`),
		Subject: "key-uuid", Blocking: true, Admitted: time.Now().UnixMilli()}
	data, _ := json.Marshal(m)
	msg := &nats.Msg{Subject: names.ActivationSubject(a.Namespace, a.Name), Data: data,
		Header: nats.Header{names.HeaderMsgID: []string{id}, names.HeaderReply: []string{reply}}}
	_, err := js.PublishMsg(context.Background(), msg)
	return err
}
