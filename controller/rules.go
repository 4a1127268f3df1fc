package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/stored"
)

func decodeRule(e jetstream.KeyValueEntry) (*entity.Rule, error) {
	var r entity.Rule
	if err := stored.Decode(e.Value(), &r); err != nil {
		return nil, err
	}
	r.Revision = e.Revision()
	return &r, nil
}

// entityName resolves an OpenWhisk entity name as rules and sequences
// carry it ("/ns/name", "ns/name", "/_/name" or "name") to a name in
// namespace ns; another namespace is ErrForbidden (Flurry has no shared
// packages), a package path ErrInvalid.
func entityName(ns, what, s string) (string, error) {
	full := strings.TrimPrefix(s, "/")
	parts := strings.Split(full, "/")
	var name string
	switch len(parts) {
	case 1:
		name = parts[0]
	case 2:
		if parts[0] != "_" && parts[0] != ns {
			return "", fmt.Errorf("%s %q is in another namespace than %q: %w", what, s, ns, ErrForbidden)
		}
		name = parts[1]
	default:
		return "", fmt.Errorf("%w: %s %q: packages are not supported", ErrInvalid, what, s)
	}
	if !entity.ValidName(name) {
		return "", fmt.Errorf("%w: %s name %q", ErrInvalid, what, s)
	}
	return name, nil
}

// PutRule creates a rule (active unless req.Status says otherwise), or
// with req.Overwrite replaces its trigger and action (an empty Status
// keeps the current status). Trigger and action must exist.
//
// Errors: ErrInvalid (names, status), ErrNotFound (trigger or action),
// ErrExists, ErrConflict, ErrForbidden.
func (c *Controller) PutRule(ctx context.Context, id Identity, req PutRuleRequest) (*entity.Rule, error) {
	ns, err := triggerRef(id, req.Namespace, "rule", req.Name)
	if err != nil {
		return nil, err
	}
	if req.Status != "" && req.Status != entity.RuleActive && req.Status != entity.RuleInactive {
		return nil, fmt.Errorf("%w: rule status %q is not %q or %q", ErrInvalid, req.Status, entity.RuleActive, entity.RuleInactive)
	}
	trigger, err := entityName(ns, "trigger", req.Trigger)
	if err != nil {
		return nil, fmt.Errorf("rule %q: %w", req.Name, err)
	}
	action, err := entityName(ns, "action", req.Action)
	if err != nil {
		return nil, fmt.Errorf("rule %q: %w", req.Name, err)
	}
	if _, err := c.loadTrigger(ctx, ns, trigger); err != nil {
		return nil, fmt.Errorf("rule %q: %w", req.Name, err)
	}
	if _, err := c.loadAction(ctx, ns, action); err != nil {
		return nil, fmt.Errorf("rule %q: %w", req.Name, err)
	}
	key := names.RuleKey(ns, req.Name)
	var old *entity.Rule
	if req.Overwrite {
		e, err := c.trig.rules.Get(ctx, key)
		switch {
		case isNotFound(err):
		case err != nil:
			return nil, unavailable("put rule", err)
		default:
			if old, err = decodeRule(e); err != nil {
				return nil, fmt.Errorf("put rule: stored %s: %w", key, err)
			}
		}
	}
	r := &entity.Rule{Namespace: ns, Name: req.Name, Version: "0.0.1", Trigger: trigger, Action: action,
		Status: req.Status, Updated: now()}
	if old != nil {
		r.Version = nextVersion(old.Version)
		if r.Status == "" {
			r.Status = old.Status
		}
	}
	if r.Status == "" {
		r.Status = entity.RuleActive
	}
	return c.writeRule(ctx, r, old, req.Overwrite)
}

// writeRule stores r: created when old is nil, else updated at old's revision.
func (c *Controller) writeRule(ctx context.Context, r, old *entity.Rule, overwrite bool) (*entity.Rule, error) {
	key := names.RuleKey(r.Namespace, r.Name)
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("put rule: %w", err)
	}
	var rev uint64
	if old != nil {
		rev, err = c.trig.rules.Update(ctx, key, b, old.Revision)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("rule %q in namespace %q: %w", r.Name, r.Namespace, ErrConflict)
		}
	} else {
		rev, err = c.trig.rules.Create(ctx, key, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			if overwrite {
				return nil, fmt.Errorf("rule %q in namespace %q: %w", r.Name, r.Namespace, ErrConflict)
			}
			return nil, fmt.Errorf("rule %q in namespace %q: %w", r.Name, r.Namespace, ErrExists)
		}
	}
	if err != nil {
		return nil, unavailable("put rule", err)
	}
	r.Revision = rev
	c.trig.rcache.put(key, r, rev)
	c.log.Info("rule stored", "namespace", r.Namespace, "rule", r.Name, "trigger", r.Trigger, "action", r.Action,
		"status", r.Status, "revision", rev)
	return r, nil
}

// SetRuleStatus enables (entity.RuleActive) or disables
// (entity.RuleInactive) a rule and returns it.
// Errors: ErrInvalid (status), ErrNotFound, ErrConflict, ErrForbidden.
func (c *Controller) SetRuleStatus(ctx context.Context, id Identity, ns, name, status string) (*entity.Rule, error) {
	ns, err := triggerRef(id, ns, "rule", name)
	if err != nil {
		return nil, err
	}
	if status != entity.RuleActive && status != entity.RuleInactive {
		return nil, fmt.Errorf("%w: rule status %q is not %q or %q", ErrInvalid, status, entity.RuleActive, entity.RuleInactive)
	}
	old, err := c.loadRule(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	if old.Status == status {
		return old, nil
	}
	r := *old
	r.Status, r.Updated = status, now()
	return c.writeRule(ctx, &r, old, true)
}

// GetRule returns a rule. Errors: ErrNotFound, ErrForbidden, ErrInvalid.
func (c *Controller) GetRule(ctx context.Context, id Identity, ns, name string) (*entity.Rule, error) {
	ns, err := triggerRef(id, ns, "rule", name)
	if err != nil {
		return nil, err
	}
	return c.loadRule(ctx, ns, name)
}

func (c *Controller) loadRule(ctx context.Context, ns, name string) (*entity.Rule, error) {
	key := names.RuleKey(ns, name)
	e, err := c.trig.rules.Get(ctx, key)
	if isNotFound(err) {
		return nil, fmt.Errorf("rule %q in namespace %q: %w", name, ns, ErrNotFound)
	}
	if err != nil {
		return nil, unavailable("get rule", err)
	}
	r, err := decodeRule(e)
	if err != nil {
		return nil, fmt.Errorf("get rule: stored %s: %w", key, err)
	}
	c.trig.rcache.put(key, r, r.Revision)
	return r, nil
}

// ListRules returns the namespace's rules sorted by name.
// Errors: ErrInvalid (bad skip or limit), ErrForbidden.
func (c *Controller) ListRules(ctx context.Context, id Identity, ns string, skip, limit int) ([]*entity.Rule, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return nil, err
	}
	if limit, err = listBounds(skip, limit); err != nil {
		return nil, err
	}
	out := []*entity.Rule{}
	err = listKV(ctx, c.trig.rules, names.RuleKeyPrefix(ns), skip, limit, func(e jetstream.KeyValueEntry) {
		r, err := decodeRule(e)
		if err != nil {
			c.log.Warn("bad rule entry", "key", e.Key(), "err", err)
			return
		}
		out = append(out, r)
	})
	if err != nil {
		return nil, unavailable("list rules", err)
	}
	return out, nil
}

// DeleteRule removes a rule and returns what was deleted.
// Errors: ErrNotFound, ErrConflict, ErrForbidden.
func (c *Controller) DeleteRule(ctx context.Context, id Identity, ns, name string) (*entity.Rule, error) {
	ns, err := triggerRef(id, ns, "rule", name)
	if err != nil {
		return nil, err
	}
	r, err := c.loadRule(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	key := names.RuleKey(ns, name)
	err = c.trig.rules.Delete(ctx, key, jetstream.LastRevision(r.Revision))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("rule %q in namespace %q: %w", name, ns, ErrConflict)
	}
	if err != nil {
		return nil, unavailable("delete rule", err)
	}
	c.trig.rcache.remove(key, r.Revision+1)
	c.log.Info("rule deleted", "namespace", ns, "rule", name, "revision", r.Revision)
	return r, nil
}

// ActiveRules returns the active rules of trigger in namespace ns, sorted
// by name, from the watch-fed cache (a rule changed on another controller
// shows up within the KV watch's delay). It is for the platform's own
// firing (timers, message sources) and does no authorization.
func (c *Controller) ActiveRules(ctx context.Context, ns, trigger string) ([]*entity.Rule, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*entity.Rule
	for _, r := range c.trig.rcache.liveValues() {
		if r.Namespace == ns && r.Trigger == trigger && r.Status == entity.RuleActive {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
