package controller

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/testutil"
)

// BenchmarkAdmission measures admission on the invoke path, amortized KV
// round trips included, on an embedded JetStream:
//
//	go test -run '^$' -bench Admission -benchtime 20000x ./controller/
//
// Each op admits one activation and finishes the one admitted 64 ops
// before (64 in flight). With a per-minute limit the clock moves a minute
// every limit ops, so every op spends a token of a full-size window.
func BenchmarkAdmission(b *testing.B) {
	for _, bc := range []struct {
		name       string
		conc, rate int64
	}{
		{"unlimited", Unlimited, Unlimited},
		{"concurrent=100", 100, Unlimited},
		{"perMinute=600", Unlimited, 600},
		{"perMinute=60000", Unlimited, 60000},
		{"default(100,600)", 0, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			nc, _ := testutil.JetStream(b)
			var clock atomic.Int64
			clock.Store(1_700_000_040)
			now := func() time.Time { return time.Unix(clock.Load(), 0) }
			cfg := Config{LimitConcurrent: bc.conc, LimitPerMinute: bc.rate, now: now}
			ctx := context.Background()
			c, err := New(ctx, nc, cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			_, rate := c.adm.limits("guest")
			var ids [64]string
			for i := range ids {
				ids[i] = fmt.Sprintf("activation-%d", i)
			}
			i := 0
			for b.Loop() {
				if rate > 0 && i > 0 && int64(i)%rate == 0 {
					clock.Add(60)
				}
				id := ids[i%len(ids)]
				c.adm.finish(id)
				if _, err := c.adm.admit(ctx, "guest", id); err != nil {
					b.Fatalf("op %d: %v", i, err)
				}
				i++
			}
		})
	}
}

// BenchmarkInvokeAdmission puts admission beside the rest of a
// non-blocking invoke (validation, JetStream publish) on an embedded
// JetStream; nothing runs the activations, each is finished by hand:
//
//	go test -run '^$' -bench InvokeAdmission -benchtime 5000x ./controller/
func BenchmarkInvokeAdmission(b *testing.B) {
	for _, bc := range []struct {
		name       string
		conc, rate int64
	}{
		{"unlimited", Unlimited, Unlimited},
		{"default(100,600)", 0, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			nc, _ := testutil.JetStream(b)
			var clock atomic.Int64
			clock.Store(1_700_000_040)
			now := func() time.Time { return time.Unix(clock.Load(), 0) }
			auth := entity.NewAuth()
			cfg := Config{LimitConcurrent: bc.conc, LimitPerMinute: bc.rate, GuestAuth: auth, now: now}
			ctx := context.Background()
			c, err := New(ctx, nc, cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			id, err := c.Authenticate(ctx, auth)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.PutAction(ctx, id, PutActionRequest{Namespace: "_", Name: "a",
				Exec: entity.Exec{Kind: entity.KindGo, Binary: true}, Code: []byte(elfStandIn)}); err != nil {
				b.Fatal(err)
			}
			_, rate := c.adm.limits(GuestNamespace)
			i := 0
			for b.Loop() {
				if rate > 0 && i > 0 && int64(i)%rate == 0 {
					clock.Add(60)
				}
				res, err := c.Invoke(ctx, id, InvokeRequest{Namespace: "_", Name: "a", Params: []byte(`{"n":1}`)})
				if err != nil {
					b.Fatalf("invoke %d: %v", i, err)
				}
				c.adm.finish(res.ActivationID)
				i++
			}
		})
	}
}

// elfStandIn is base64 of an ELF executable's header and a tag: what
// PutAction checks of a go action's code.
const elfStandIn = "f0VMRgIBAQAAAAAAAAAAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAGNvZGU="
