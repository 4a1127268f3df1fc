package controller

import (
	"context"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
)

// ClaimTick runs the timer claim (compare-and-set of the last fired tick).
func ClaimTick(ctx context.Context, c *Controller, ns, trigger string, at int64, redelivered bool) (bool, error) {
	return c.trig.sched.claim(ctx, names.TriggerKey(ns, trigger), at, redelivered)
}

// LastMissed returns the one tick a fire-once timer fires at start.
func LastMissed(ctx context.Context, c *Controller, t *entity.Trigger) (time.Time, bool) {
	next, err := nextFunc(t.Source)
	if err != nil {
		return time.Time{}, false
	}
	return c.trig.sched.lastMissed(ctx, names.TriggerKey(t.Namespace, t.Name), t, next)
}
