package pool

import "time"

// KeepAlive decides how long an idle warm container of an action revision
// is kept. Implementations must be safe for concurrent use; the pool calls
// them with its lock held, so they must not block.
type KeepAlive interface {
	// IdleTTL is how long an idle container of key may stay idle before
	// the pool removes it.
	IdleTTL(key string) time.Duration
	// Observe tells the policy that key was activated at t, for policies
	// that learn from arrivals (a histogram policy).
	Observe(key string, t time.Time)
}

// FixedKeepAlive keeps every idle container for the same duration.
type FixedKeepAlive time.Duration

var _ KeepAlive = FixedKeepAlive(0)

// IdleTTL returns the fixed duration.
func (f FixedKeepAlive) IdleTTL(string) time.Duration { return time.Duration(f) }

// Observe does nothing: a fixed policy does not learn.
func (FixedKeepAlive) Observe(string, time.Time) {}
