package controller

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
)

// SetNamespaceLimits stores admission limit overrides for namespace ns
// (nil fields keep the defaults, 0 means unlimited). Every controller
// applies them as soon as its KV watch delivers them; this one at once.
// Errors: ErrInvalid (bad name or negative limit), ErrUnavailable.
func (c *Controller) SetNamespaceLimits(ctx context.Context, ns string, l entity.NamespaceLimits) error {
	if !entity.ValidName(ns) {
		return fmt.Errorf("namespace %q: %w", ns, ErrInvalid)
	}
	if err := l.Validate(); err != nil {
		return fmt.Errorf("namespace %q limits: %w: %w", ns, ErrInvalid, err)
	}
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("namespace %q limits: %w", ns, err)
	}
	key := names.NamespaceKey(ns)
	rev, err := c.adm.limitsKV.Put(ctx, key, b)
	if err != nil {
		return unavailable(fmt.Sprintf("namespace %q limits", ns), err)
	}
	c.adm.overrides.put(key, &l, rev)
	return nil
}

// NamespaceLimits returns the admission limits in force for namespace ns,
// defaults applied; 0 means unlimited.
func (c *Controller) NamespaceLimits(ns string) entity.NamespaceLimits {
	conc, rate := c.adm.limits(ns)
	return entity.NamespaceLimits{ConcurrentInvocations: &conc, InvocationsPerMinute: &rate}
}
