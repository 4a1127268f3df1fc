package backoff

import (
	"testing"
	"time"
)

func TestCeiling(t *testing.T) {
	e := Exponential{Initial: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{1000, time.Second},
	}
	for _, tt := range tests {
		if got := e.Ceiling(tt.n); got != tt.want {
			t.Errorf("Ceiling(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	if got := (Exponential{Initial: time.Second, Max: 10 * time.Millisecond}).Ceiling(3); got != 10*time.Millisecond {
		t.Errorf("Max below Initial: Ceiling = %v, want 10ms", got)
	}
	if got := (Exponential{Max: time.Second}).Ceiling(3); got != 0 {
		t.Errorf("zero Initial: Ceiling = %v, want 0", got)
	}
	huge := Exponential{Initial: time.Hour, Max: time.Duration(1<<63 - 1)}
	if got := huge.Ceiling(200); got <= 0 {
		t.Errorf("Ceiling overflowed to %v", got)
	}
}

func TestDelayJitters(t *testing.T) {
	e := Exponential{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := e.Delay(3)
		if d < 0 || d > 40*time.Millisecond {
			t.Fatalf("Delay(3) = %v, outside [0, 40ms]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("%d distinct delays in 200: not jittered", len(seen))
	}
	if FullJitter(0) != 0 || FullJitter(-time.Second) != 0 {
		t.Fatal("FullJitter of a non-positive duration is not 0")
	}
}
