package main

import (
	"context"

	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/entity"
)

// cliAsync sets spec's retry policy and destinations from the
// --retry-*, --max-event-age and --on-* flags. Without any of them both
// stay nil (the server keeps the action's). On update, the flags change
// only the fields they name: the others are read from the current action.
func cliAsync(ctx context.Context, p *cliArgs, cl *client.Client, ns, name string, update bool, spec *client.ActionSpec) error {
	retryFlags := []string{"retry-attempts", "retry-backoff", "retry-max-backoff", "max-event-age"}
	destFlags := []string{"on-success", "on-failure"}
	anyOf := func(flags []string) bool {
		for _, f := range flags {
			if p.has(f) {
				return true
			}
		}
		return false
	}
	setRetry, setDest := anyOf(retryFlags), anyOf(destFlags)
	if !setRetry && !setDest {
		return nil
	}
	var retry entity.RetryPolicy
	var dest entity.Destinations
	if update {
		a, err := cl.GetAction(ctx, ns, name, false)
		switch {
		case client.StatusCode(err) == 404:
		case err != nil:
			return err
		default:
			if a.Retry != nil {
				retry = *a.Retry
			}
			if a.Destinations != nil {
				dest = *a.Destinations
			}
		}
	}
	if setRetry {
		for _, f := range []struct {
			name string
			dst  *int64
		}{{"retry-backoff", &retry.InitialBackoff}, {"retry-max-backoff", &retry.MaxBackoff}, {"max-event-age", &retry.MaxEventAge}} {
			if !p.has(f.name) {
				continue
			}
			v, err := p.int64(f.name)
			if err != nil {
				return err
			}
			*f.dst = v
		}
		if p.has("retry-attempts") {
			n, err := p.int64("retry-attempts")
			if err != nil {
				return err
			}
			if n == 0 {
				retry = entity.RetryPolicy{} // removes the policy
			} else {
				retry.MaxAttempts = int(n)
			}
		}
		spec.Retry = &retry
	}
	if setDest {
		if p.has("on-success") {
			dest.OnSuccess = p.str("on-success")
		}
		if p.has("on-failure") {
			dest.OnFailure = p.str("on-failure")
		}
		spec.Destinations = &dest
	}
	return nil
}
