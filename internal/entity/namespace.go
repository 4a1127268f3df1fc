package entity

import (
	"fmt"

	"github.com/flurryfn/flurry/internal/names"
)

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

// Network policies of a namespace's containers.
const (
	// NetworkDefault gives containers outbound network access (the
	// platform's metadata addresses stay blocked).
	NetworkDefault = "default"
	// NetworkNone gives containers no network at all; they still speak
	// the action protocol over their unix socket.
	NetworkNone = "none"
)

// Namespace is a tenant as an administrator made it: its policies beyond
// the defaults. The namespace's API keys are Keys; its admission limits
// are NamespaceLimits, stored apart.
type Namespace struct {
	Name string `json:"name"`
	// Created is when the namespace was made, Unix milliseconds.
	Created int64 `json:"created"`
	// Network is the network policy of its containers: NetworkDefault
	// (also when empty) or NetworkNone.
	Network string `json:"network,omitempty"`
	// EventSubjects are NATS subject patterns, beyond the namespace's own
	// event subject space, that its message triggers may consume and
	// publish to (an administrator's grant).
	EventSubjects []string `json:"eventSubjects,omitempty"`
	// EventStreams are JetStream streams its message triggers may consume
	// (an administrator's grant).
	EventStreams []string `json:"eventStreams,omitempty"`
}

// NetworkPolicy returns n's network policy, NetworkDefault when unset.
func (n *Namespace) NetworkPolicy() string {
	if n == nil || n.Network == "" {
		return NetworkDefault
	}
	return n.Network
}

// Validate checks the name and the policy, including that the event
// grants name no subject or stream of Flurry's or NATS's own (see
// names.CheckGrantSubject and names.CheckGrantStream).
func (n *Namespace) Validate() error {
	if !ValidName(n.Name) || n.Name == "_" {
		return fmt.Errorf("%w: namespace name %q", ErrInvalid, n.Name)
	}
	switch n.Network {
	case "", NetworkDefault, NetworkNone:
	default:
		return fmt.Errorf("%w: network policy %q (want %q or %q)", ErrInvalid, n.Network, NetworkDefault, NetworkNone)
	}
	for _, s := range n.EventSubjects {
		if err := names.CheckGrantSubject(s); err != nil {
			return fmt.Errorf("%w: event subject grant: %w", ErrInvalid, err)
		}
	}
	for _, s := range n.EventStreams {
		if err := names.CheckGrantStream(s); err != nil {
			return fmt.Errorf("%w: event stream grant: %w", ErrInvalid, err)
		}
	}
	return nil
}
