package pool

import "time"

// Plan is what a KeepAlive policy wants done with the idle containers of
// one action revision.
//
//   - PrewarmAfter == 0 (keep alive): an idle container is kept until it
//     has been idle for KeepAlive, then removed.
//   - PrewarmAfter > 0 (release and re-warm): once no activation of the
//     action runs, its idle containers are removed at the next sweep;
//     PrewarmAfter after the action went idle the pool starts one container
//     and initializes it for the action (a policy prewarm, off the critical
//     path), and keeps it for KeepAlive from then unless it is used.
type Plan struct {
	PrewarmAfter time.Duration
	KeepAlive    time.Duration
}

// KeepAlive decides how long the idle containers of an action revision
// are kept, and whether they are released and re-warmed ahead of the
// expected next call. Keys are opaque action revisions (Request.Key).
//
// Implementations must be safe for concurrent use. The pool calls them
// with its lock held, so they must not block or call back into the pool.
type KeepAlive interface {
	// Arrive tells the policy an activation of key arrived at t while no
	// other activation of key was running, so the time since Idle(key) is
	// an idle time the policy may learn from.
	Arrive(key string, t time.Time)
	// Idle tells the policy the last running activation of key ended at t.
	Idle(key string, t time.Time)
	// Plan is the plan for key's idle containers as of now.
	Plan(key string) Plan
}

// FixedKeepAlive keeps every idle container for the same duration and
// never re-warms: the policy of OpenWhisk and of most platforms.
type FixedKeepAlive time.Duration

var _ KeepAlive = FixedKeepAlive(0)

// Arrive does nothing: a fixed policy does not learn.
func (FixedKeepAlive) Arrive(string, time.Time) {}

// Idle does nothing: a fixed policy does not learn.
func (FixedKeepAlive) Idle(string, time.Time) {}

// Plan keeps idle containers for the fixed duration.
func (f FixedKeepAlive) Plan(string) Plan { return Plan{KeepAlive: time.Duration(f)} }
