package controller

import (
	"fmt"
	"strings"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
)

// Bounds of an action's retry policy (entity.RetryPolicy). MaxEventAge's
// bound is Lambda's.
const (
	MaxRetryAttempts = 10
	MaxRetryBackoff  = time.Hour
	MaxEventAge      = 6 * time.Hour
	// maxSubjectLen bounds a destination subject.
	maxSubjectLen = 256
)

// validateAsync checks and normalizes an action's retry policy and
// destinations: a policy or destinations with only zero fields become nil
// (that is how an update removes them).
func validateAsync(a *entity.Action) error {
	if p := a.Retry; p != nil {
		if *p == (entity.RetryPolicy{}) {
			a.Retry = nil
		} else if err := validateRetry(*p); err != nil {
			return err
		}
	}
	if d := a.Destinations; d != nil {
		if *d == (entity.Destinations{}) {
			a.Destinations = nil
			return nil
		}
		for _, s := range []struct{ name, subject string }{{"onSuccess", d.OnSuccess}, {"onFailure", d.OnFailure}} {
			if s.subject == "" {
				continue
			}
			if err := validateSubject(s.subject); err != nil {
				return fmt.Errorf("%w: destinations.%s: %w", ErrInvalid, s.name, err)
			}
		}
	}
	return nil
}

func validateRetry(p entity.RetryPolicy) error {
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	switch {
	case p.MaxAttempts < 0 || p.MaxAttempts > MaxRetryAttempts:
		return fmt.Errorf("%w: retry.maxAttempts %d is outside [0, %d]", ErrInvalid, p.MaxAttempts, MaxRetryAttempts)
	case p.InitialBackoff < 0 || p.InitialBackoff > ms(MaxRetryBackoff):
		return fmt.Errorf("%w: retry.initialBackoff %d ms is outside [0, %d]", ErrInvalid, p.InitialBackoff, ms(MaxRetryBackoff))
	case p.MaxBackoff < 0 || p.MaxBackoff > ms(MaxRetryBackoff):
		return fmt.Errorf("%w: retry.maxBackoff %d ms is outside [0, %d]", ErrInvalid, p.MaxBackoff, ms(MaxRetryBackoff))
	case p.MaxBackoff > 0 && p.MaxBackoff < p.InitialBackoff:
		return fmt.Errorf("%w: retry.maxBackoff %d ms is below retry.initialBackoff %d ms", ErrInvalid, p.MaxBackoff, p.InitialBackoff)
	case p.MaxEventAge < 0 || p.MaxEventAge > ms(MaxEventAge):
		return fmt.Errorf("%w: retry.maxEventAge %d ms is outside [0, %d]", ErrInvalid, p.MaxEventAge, ms(MaxEventAge))
	}
	return nil
}

// validateSubject accepts a literal NATS subject that is none of the
// platform's (names.ReservedSubject): publishing there could write into
// Flurry's streams and buckets or call the JetStream API. Whether the
// namespace may publish there is checkDestinations' and checkNATSSpace's
// question (ADR 020).
func validateSubject(s string) error {
	if len(s) > maxSubjectLen {
		return fmt.Errorf("subject of %d bytes is over %d", len(s), maxSubjectLen)
	}
	if strings.ContainsAny(s, "*>") {
		return fmt.Errorf("subject %q has a wildcard", s)
	}
	if !names.ValidSubject(s, false) {
		return fmt.Errorf("subject %q has an empty token or white space", s)
	}
	if names.ReservedSubject(s) {
		return fmt.Errorf("subject %q is reserved for Flurry and NATS", s)
	}
	return nil
}
