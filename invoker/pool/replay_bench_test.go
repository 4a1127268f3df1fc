package pool

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// arrival is one call of a synthetic trace.
type arrival struct {
	at  time.Duration
	key string
}

// syntheticTrace is 24 h of 60 actions: 20 periodic (5–60 min, ±2 %
// jitter), 30 Poisson (mean gap 1–30 min), 10 rare (every 2–6 h).
func syntheticTrace(seed uint64) []arrival {
	r := rand.New(rand.NewPCG(seed, 1))
	const day = 24 * time.Hour
	var out []arrival
	add := func(key string, next func() time.Duration) {
		for t := next(); t < day; t += next() {
			out = append(out, arrival{t, key})
		}
	}
	for i := range 20 {
		period := time.Duration(5+r.IntN(56)) * time.Minute
		add(fmt.Sprintf("periodic-%d", i), func() time.Duration {
			return time.Duration(float64(period) * (0.98 + 0.04*r.Float64()))
		})
	}
	for i := range 30 {
		mean := time.Duration(1+r.IntN(30)) * time.Minute
		add(fmt.Sprintf("poisson-%d", i), func() time.Duration {
			return time.Duration(r.ExpFloat64() * float64(mean))
		})
	}
	for i := range 10 {
		add(fmt.Sprintf("rare-%d", i), func() time.Duration {
			return time.Duration(2+r.IntN(5)) * time.Hour
		})
	}
	slices.SortFunc(out, func(a, b arrival) int { return int(a.at - b.at) })
	return out
}

// BenchmarkKeepAliveReplay replays a synthetic day through the pool with
// a fake runtime and clock, and reports the cold-start ratio and the
// memory held (GB·h) per policy. Deterministic; run with -benchtime=1x:
//
//	go test -run=^$ -bench=KeepAliveReplay -benchtime=1x ./invoker/pool/
func BenchmarkKeepAliveReplay(b *testing.B) {
	trace := syntheticTrace(42)
	hist := func() KeepAlive {
		h, err := NewHistogram(HistogramConfig{})
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	fixed10m := func() KeepAlive { return FixedKeepAlive(10 * time.Minute) }
	for _, tc := range []struct {
		name     string
		policy   func() KeepAlive
		memoryMB int64
	}{
		{"fixed-10m", fixed10m, 1 << 20},
		{"fixed-20m", func() KeepAlive { return FixedKeepAlive(20 * time.Minute) }, 1 << 20},
		{"histogram", hist, 1 << 20},
		// Memory for 8 of the 60 actions: evictions decide.
		{"fixed-10m-2GB", fixed10m, 2048},
		{"histogram-2GB", hist, 2048},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				s := replay(b, trace, tc.policy(), tc.memoryMB)
				calls := float64(s.ColdStarts + s.PrewarmStarts + s.WarmHits)
				b.ReportMetric(100*float64(s.ColdStarts)/calls, "cold%")
				b.ReportMetric(s.MemoryMBSeconds/1024/3600, "GB·h")
				b.ReportMetric(float64(s.PolicyPrewarms), "prewarms")
				b.ReportMetric(float64(s.Evictions), "evictions")
			}
		})
	}
}

// replay runs trace (calls of 100 ms, 256 MB) on a pool of memoryMB with
// sweeps every 10 s.
func replay(b *testing.B, trace []arrival, ka KeepAlive, memoryMB int64) Stats {
	ctx := context.Background()
	rt := newFake()
	p, err := New[struct{}](rt, Config{InvokerID: "replay", MemoryMB: memoryMB, KeepAlive: ka,
		Images: map[string]string{"go": "img-go"}}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	clk := &clock{t: time.Unix(0, 0)}
	p.now = clk.now
	p.SetWarm(func(context.Context, string, struct{}) error { return nil })
	start := clk.now()
	var swept time.Duration
	for _, a := range trace {
		for ; swept+10*time.Second <= a.at; swept += 10 * time.Second {
			clk.t = start.Add(swept + 10*time.Second)
			p.sweep(ctx)
			p.wg.Wait()
		}
		if at := start.Add(a.at); at.After(clk.now()) {
			clk.t = at
		}
		c, how, err := p.Acquire(ctx, Request{Key: a.key, Kind: "go", Image: "img-go", MemoryMB: 256})
		if err != nil {
			b.Fatal(err)
		}
		if how != StartWarm {
			p.Initialized(c)
		}
		clk.add(100 * time.Millisecond)
		p.Release(c)
	}
	s := p.Stats()
	p.Close(ctx)
	return s
}
