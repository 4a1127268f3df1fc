package entity

import "fmt"

// Admission limit defaults (per namespace). OpenWhisk ships 30 concurrent
// and 60 per minute, sized for a shared cloud; Flurry is self-hosted and
// built for thousands of activations per second, so its defaults follow
// Lambda's 1,000 concurrent executions and allow 1,000 per second. Both
// are flags of the controller and standalone, and per-namespace overrides.
const (
	// DefaultConcurrentInvocations bounds the activations of one namespace
	// that are admitted and not finished (queued or running).
	DefaultConcurrentInvocations = 1000
	// DefaultInvocationsPerMinute bounds the activations one namespace may
	// start in one wall-clock minute.
	DefaultInvocationsPerMinute = 60000
)

// NamespaceLimits overrides the platform's admission limits for one
// namespace. A nil field keeps the platform default; a set field of 0
// means unlimited. Field names are OpenWhisk's.
type NamespaceLimits struct {
	ConcurrentInvocations *int64 `json:"concurrentInvocations,omitempty"`
	InvocationsPerMinute  *int64 `json:"invocationsPerMinute,omitempty"`
}

// Validate rejects negative limits.
func (l NamespaceLimits) Validate() error {
	if l.ConcurrentInvocations != nil && *l.ConcurrentInvocations < 0 {
		return fmt.Errorf("%w: concurrentInvocations %d is negative", ErrInvalid, *l.ConcurrentInvocations)
	}
	if l.InvocationsPerMinute != nil && *l.InvocationsPerMinute < 0 {
		return fmt.Errorf("%w: invocationsPerMinute %d is negative", ErrInvalid, *l.InvocationsPerMinute)
	}
	return nil
}

// Limit returns p's value, or def when p is nil.
func Limit(p *int64, def int64) int64 {
	if p == nil {
		return def
	}
	return *p
}
