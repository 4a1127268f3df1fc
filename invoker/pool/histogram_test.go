package pool

import (
	"fmt"
	"testing"
	"time"
)

// samples returns n idle times of d each.
func samples(n int, d time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestHistogramPlan(t *testing.T) {
	const fb = 7 * time.Minute
	tests := []struct {
		name string
		cfg  HistogramConfig
		idle []time.Duration
		want Plan
	}{
		{"no samples: fallback", HistogramConfig{}, nil, Plan{KeepAlive: fb}},
		{"too few samples: fallback", HistogramConfig{}, samples(9, 30*time.Minute), Plan{KeepAlive: fb}},
		{
			// All in bin 30: head 30 min less 10 %, tail 31 min plus 10 %.
			"periodic: release and re-warm", HistogramConfig{}, samples(10, 30*time.Minute+20*time.Second),
			Plan{PrewarmAfter: 27 * time.Minute, KeepAlive: 34*time.Minute + 6*time.Second - 27*time.Minute},
		},
		{
			// Head in bin 0: no pre-warm window, keep alive to the tail
			// (the 99th of 20 samples is the 20th, in bin 2).
			"frequent: keep alive", HistogramConfig{}, append(samples(19, 10*time.Second), 2*time.Minute+5*time.Second),
			Plan{KeepAlive: 198 * time.Second},
		},
		{
			// 100 samples: the 5th is in bin 10, the 99th in bin 20; the
			// 100th (3 h) is beyond the tail.
			"percentiles", HistogramConfig{},
			append(append(append(samples(5, 10*time.Minute), samples(90, 15*time.Minute)...), samples(4, 20*time.Minute)...), 3*time.Hour),
			Plan{PrewarmAfter: 9 * time.Minute, KeepAlive: 23*time.Minute + 6*time.Second - 9*time.Minute},
		},
		{
			// The 5th sample is in bin 10, so the head is bin 10, whatever
			// bins 0-9 hold below rank 5.
			"head rank", HistogramConfig{},
			append(samples(4, 0), samples(96, 10*time.Minute)...),
			Plan{PrewarmAfter: 9 * time.Minute, KeepAlive: 12*time.Minute + 6*time.Second - 9*time.Minute},
		},
		{"out of bounds: fallback", HistogramConfig{}, append(samples(10, 5*time.Minute), samples(11, 5*time.Hour)...), Plan{KeepAlive: fb}},
		{"some out of bounds: learned", HistogramConfig{}, append(samples(10, 5*time.Minute), samples(9, 5*time.Hour)...),
			Plan{PrewarmAfter: 270 * time.Second, KeepAlive: 396*time.Second - 270*time.Second}},
		{"flat: fallback", HistogramConfig{Bins: 10}, spread(10, time.Minute), Plan{KeepAlive: fb}},
		{
			// A replay compressed 60×: the same pattern in seconds.
			"scaled bins", HistogramConfig{BinWidth: time.Second}, samples(10, 30*time.Second+300*time.Millisecond),
			Plan{PrewarmAfter: 27 * time.Second, KeepAlive: 34100*time.Millisecond - 27*time.Second},
		},
		{
			"no margin", HistogramConfig{Margin: 1e-9}, samples(10, 30*time.Minute),
			Plan{PrewarmAfter: 30 * time.Minute, KeepAlive: time.Minute},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Fallback = fb
			h, err := NewHistogram(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range tt.idle {
				h.Observe("a", d)
			}
			got := h.Plan("a")
			if d := got.PrewarmAfter - tt.want.PrewarmAfter; d > time.Millisecond || d < -time.Millisecond {
				t.Fatalf("plan %+v, want %+v", got, tt.want)
			}
			if d := got.KeepAlive - tt.want.KeepAlive; d > time.Millisecond || d < -time.Millisecond {
				t.Fatalf("plan %+v, want %+v", got, tt.want)
			}
			if other := h.Plan("unknown"); other != (Plan{KeepAlive: fb}) {
				t.Fatalf("unknown key plan %+v", other)
			}
		})
	}
}

// spread returns n idle times, one per bin of width w.
func spread(n int, w time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i)*w + w/2
	}
	return out
}

func TestHistogramArriveIdle(t *testing.T) {
	h, err := NewHistogram(HistogramConfig{MinSamples: 3})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	// The first arrival has no idle time before it; an arrival without
	// a preceding Idle (the pool saw it busy) neither.
	h.Arrive("a", t0)
	h.Arrive("a", t0.Add(time.Hour))
	for i := range 3 {
		end := t0.Add(time.Duration(i) * time.Hour)
		h.Idle("a", end)
		h.Arrive("a", end.Add(20*time.Minute+time.Second))
	}
	if got, want := h.Plan("a"), (Plan{PrewarmAfter: 18 * time.Minute, KeepAlive: 23*time.Minute + 6*time.Second - 18*time.Minute}); got != want {
		t.Fatalf("plan %+v, want %+v", got, want)
	}
}

func TestHistogramDecayAndKeys(t *testing.T) {
	h, err := NewHistogram(HistogramConfig{MinSamples: 1, MaxSamples: 10, MaxKeys: 2})
	if err != nil {
		t.Fatal(err)
	}
	for range 9 {
		h.Observe("a", 40*time.Minute)
	}
	// The 10th sample halves the counts: 5 in bin 40, 1 in bin 2 after it.
	h.Observe("a", 2*time.Minute)
	h.Observe("a", 2*time.Minute)
	el := h.keys["a"].Value.(*idleHistogram)
	if el.counts[40] != 5 || el.counts[2] != 2 || el.inBounds != 7 {
		t.Fatalf("counts after halving: bin40 %d bin2 %d in %d", el.counts[40], el.counts[2], el.inBounds)
	}
	h.Observe("b", time.Minute)
	h.Observe("c", time.Minute) // forgets a, the least recently active
	if _, ok := h.keys["a"]; ok || len(h.keys) != 2 {
		t.Fatalf("keys %v, want b and c", len(h.keys))
	}
}

func TestHistogramValidate(t *testing.T) {
	tests := []struct {
		cfg HistogramConfig
		ok  bool
	}{
		{HistogramConfig{}, true},
		{HistogramConfig{BinWidth: time.Second, Bins: 14400}, true},
		{HistogramConfig{Bins: -1}, false},
		{HistogramConfig{Head: 50, Tail: 40}, false},
		{HistogramConfig{Tail: 101}, false},
		{HistogramConfig{Margin: 1}, false},
		{HistogramConfig{MaxOutOfBounds: 2}, false},
		{HistogramConfig{BinWidth: -time.Second}, false},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", tt.cfg, err, tt.ok)
			}
		})
	}
}
