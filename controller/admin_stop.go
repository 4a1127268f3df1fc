package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/flurryfn/flurry/internal/entity"
)

// Stopped counts what deleting a namespace removed because it would run
// without a caller.
type Stopped struct {
	Triggers int `json:"triggers"`
	Rules    int `json:"rules"`
	Routes   int `json:"routes"`
	Apps     int `json:"apps"`
}

// stopUncalled deletes what of namespace ns runs without a caller's key:
// triggers (their timers and message sources stop with them), rules,
// apps (with their routes) and routes. OpenWhisk gets the same from a deleted subject, whose
// feeds and web actions can no longer authenticate; Flurry fires and
// serves them itself, so it removes them. Actions and records stay, as
// OpenWhisk keeps a deleted subject's entities.
func (c *Controller) stopUncalled(ctx context.Context, ns string) (Stopped, error) {
	var st Stopped
	tenant := Identity{Namespace: ns}
	var err error
	if st.Rules, err = deleteEach(ctx,
		func() ([]*entity.Rule, error) { return c.ListRules(ctx, tenant, ns, 0, MaxListLimit) },
		func(r *entity.Rule) error { _, err := c.DeleteRule(ctx, tenant, ns, r.Name); return err }); err != nil {
		return st, fmt.Errorf("rules: %w", err)
	}
	if st.Triggers, err = deleteEach(ctx,
		func() ([]*entity.Trigger, error) { return c.ListTriggers(ctx, tenant, ns, 0, MaxListLimit) },
		func(t *entity.Trigger) error { _, err := c.DeleteTrigger(ctx, tenant, ns, t.Name); return err }); err != nil {
		return st, fmt.Errorf("triggers: %w", err)
	}
	if st.Apps, err = deleteEach(ctx,
		func() ([]*entity.App, error) { return c.ListApps(ctx, tenant, ns) },
		func(a *entity.App) error { _, err := c.DeleteApp(ctx, tenant, ns, a.Name); return err }); err != nil {
		return st, fmt.Errorf("apps: %w", err)
	}
	if st.Routes, err = deleteEach(ctx,
		func() ([]*entity.Route, error) { return c.ListRoutes(ctx, tenant, ns) },
		func(r *entity.Route) error { _, err := c.DeleteRoute(ctx, tenant, ns, r.Name); return err }); err != nil {
		return st, fmt.Errorf("routes: %w", err)
	}
	return st, nil
}

// deleteEach deletes what list returns until it returns nothing, and
// counts the deletions. One already gone (ErrNotFound) is not counted; a
// list that stops shrinking is an error rather than a loop.
func deleteEach[T any](ctx context.Context, list func() ([]T, error), del func(T) error) (int, error) {
	n := 0
	for {
		items, err := list()
		if err != nil || len(items) == 0 {
			return n, err
		}
		progress := false
		for _, it := range items {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			switch err := del(it); {
			case err == nil:
				n++
				progress = true
			case errors.Is(err, ErrNotFound):
				progress = true
			default:
				return n, err
			}
		}
		if !progress {
			return n, errors.New("nothing listed could be deleted")
		}
	}
}
