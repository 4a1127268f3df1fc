package backoff

import (
	"math/rand/v2"
	"time"
)

// Exponential is a backoff that starts at Initial and doubles per retry up
// to Max. Max below Initial caps every delay at Max.
type Exponential struct {
	Initial time.Duration
	Max     time.Duration
}

// Ceiling is the backoff before retry n (1 for the first) without jitter:
// Initial·2^(n-1), at most Max.
func (e Exponential) Ceiling(n int) time.Duration {
	d := max(e.Initial, 0)
	for k := 1; k < n && d > 0 && d < e.Max; k++ {
		if d > e.Max/2 {
			return e.Max // doubling would pass Max, or overflow
		}
		d *= 2
	}
	return max(min(d, e.Max), 0)
}

// Delay is Ceiling(n) with full jitter.
func (e Exponential) Delay(n int) time.Duration {
	return FullJitter(e.Ceiling(n))
}

// FullJitter returns a uniform random duration in [0, d]; 0 when d ≤ 0.
func FullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}
