package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/stored"
)

// Namespace administration, wskadmin's job (ADR 022): namespaces and their
// policies (names.NamespacesBucket), their API keys (names.AuthBucket) and
// admission limits (names.LimitsBucket). Every operation needs the admin
// credential: any other identity gets ErrForbidden.
//
// A namespace exists when it has an entry in the namespaces bucket or at
// least one key (guest, which the controller's configuration makes, has
// only a key). Deleting a namespace revokes its keys and removes its entry
// and limits; its actions, triggers, rules, routes and records stay, as
// with OpenWhisk's wskadmin, and come back to a namespace made again under
// the same name.

// CreateNamespaceRequest makes a namespace with its policies.
type CreateNamespaceRequest struct {
	Name string `json:"name"`
	// Network is entity.NetworkDefault (also when empty) or entity.NetworkNone.
	Network string `json:"network,omitempty"`
	// EventSubjects and EventStreams are grants to the namespace's message
	// triggers; each must pass names.CheckGrantSubject / CheckGrantStream.
	EventSubjects []string `json:"eventSubjects,omitempty"`
	EventStreams  []string `json:"eventStreams,omitempty"`
}

// SetNamespaceRequest changes a namespace's policies; a nil field keeps
// the current value, a non-nil empty list removes every grant.
type SetNamespaceRequest struct {
	Name          string    `json:"name"`
	Network       *string   `json:"network,omitempty"`
	EventSubjects *[]string `json:"eventSubjects,omitempty"`
	EventStreams  *[]string `json:"eventStreams,omitempty"`
}

// KeyInfo describes an API key without its secret or hash.
type KeyInfo struct {
	UUID      string `json:"uuid"`
	Namespace string `json:"namespace"`
}

// NewKey is a key just made: Auth ("uuid:key") is shown this once and
// only its hash is stored.
type NewKey struct {
	KeyInfo
	Auth string `json:"auth"`
}

// NamespaceCreated is the answer to CreateNamespace: the namespace and its
// first key.
type NamespaceCreated struct {
	Namespace *entity.Namespace `json:"namespace"`
	Key       NewKey            `json:"key"`
}

// NamespaceInfo is a namespace as an administrator sees it: policies, keys
// and the admission limits in force (defaults applied, 0 = unlimited).
type NamespaceInfo struct {
	Namespace *entity.Namespace      `json:"namespace"`
	Keys      []KeyInfo              `json:"keys"`
	Limits    entity.NamespaceLimits `json:"limits"`
	// Stopped is what deleting the namespace removed (DeleteNamespace only).
	Stopped Stopped `json:"stopped,omitzero"`
}

// requireAdmin checks that id is the admin credential and that it is still
// stored as one: an identity that only claims the role is refused.
func (c *Controller) requireAdmin(ctx context.Context, id Identity, op string) error {
	if !id.Admin {
		return fmt.Errorf("%s: needs the admin credential: %w", op, ErrForbidden)
	}
	k, known := c.keys.get(id.UUID)
	if !known {
		var err error
		if k, err = c.loadKey(ctx, id.UUID); err != nil && !isNotFound(err) {
			return unavailable(op, err)
		}
	}
	if k == nil || !k.Admin() {
		return fmt.Errorf("%s: needs the admin credential: %w", op, ErrForbidden)
	}
	return nil
}

// requireAdminOn is requireAdmin for an operation on namespace ns, whose
// name it validates as well.
func (c *Controller) requireAdminOn(ctx context.Context, id Identity, op, ns string) error {
	if err := c.requireAdmin(ctx, id, op); err != nil {
		return err
	}
	return adminName(ns)
}

// adminName validates the name of a namespace an administrator names.
func adminName(name string) error {
	if !entity.ValidName(name) || name == "_" {
		return fmt.Errorf("namespace %s: %w", quoteShort(name), ErrInvalid)
	}
	return nil
}

// storedKeys reads every key of the auth bucket from the bucket itself, not
// the cache: a key another controller made a moment ago must not be missed
// when a namespace is deleted.
func (c *Controller) storedKeys(ctx context.Context) ([]entity.Key, error) {
	w, err := c.auth.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, unavailable("list keys", err)
	}
	defer w.Stop()
	var out []entity.Key
	for {
		select {
		case <-ctx.Done():
			return nil, unavailable("list keys", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, unavailable("list keys", errors.New("watch ended"))
			}
			if e == nil {
				return out, nil
			}
			var k entity.Key
			if err := stored.Decode(e.Value(), &k); err != nil {
				c.log.Warn("bad key entry", "key", e.Key(), "err", err)
				continue
			}
			out = append(out, k)
		}
	}
}

// namespaceKeys returns the tenant keys of namespace ns, sorted by uuid.
func (c *Controller) namespaceKeys(ctx context.Context, ns string) ([]KeyInfo, error) {
	all, err := c.storedKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := []KeyInfo{}
	for _, k := range all {
		if k.Namespace == ns && !k.Admin() {
			out = append(out, KeyInfo{UUID: k.UUID, Namespace: k.Namespace})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UUID < out[j].UUID })
	return out, nil
}

// loadNamespace returns namespace name's stored entry and its revision
// (nil, 0 when it has none).
func (c *Controller) loadNamespace(ctx context.Context, name string) (*entity.Namespace, uint64, error) {
	e, err := c.namespaces.Get(ctx, names.NamespaceKey(name))
	if isNotFound(err) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, unavailable(fmt.Sprintf("namespace %q", name), err)
	}
	var n entity.Namespace
	if err := stored.Decode(e.Value(), &n); errors.Is(err, stored.ErrJetStreamAnswer) {
		// Shown as every reader takes it (no network, no grants), and at
		// its revision, so that setting the namespace repairs it.
		c.log.Error("namespace entry planted; read as no network and no grants", "namespace", name, "err", err)
		return &entity.Namespace{Name: name, Network: entity.NetworkNone}, e.Revision(), nil
	} else if err != nil {
		return nil, 0, fmt.Errorf("namespace %q: stored entry: %w", name, err)
	}
	return &n, e.Revision(), nil
}

// existingNamespace returns namespace name (its entry, or the defaults
// when it has keys only) and its keys; ErrNotFound when it has neither.
func (c *Controller) existingNamespace(ctx context.Context, name string) (*entity.Namespace, uint64, []KeyInfo, error) {
	n, rev, err := c.loadNamespace(ctx, name)
	if err != nil {
		return nil, 0, nil, err
	}
	keys, err := c.namespaceKeys(ctx, name)
	if err != nil {
		return nil, 0, nil, err
	}
	if n == nil && len(keys) == 0 {
		return nil, 0, nil, fmt.Errorf("namespace %q: %w", name, ErrNotFound)
	}
	if n == nil {
		n = &entity.Namespace{Name: name}
	}
	return n, rev, keys, nil
}

// CreateNamespace makes namespace req.Name with its policies and a first
// key. Errors: ErrForbidden (not admin), ErrInvalid (name, policy, a
// reserved grant), ErrExists (it exists: stored or with keys),
// ErrUnavailable.
func (c *Controller) CreateNamespace(ctx context.Context, id Identity, req CreateNamespaceRequest) (*NamespaceCreated, error) {
	if err := c.requireAdmin(ctx, id, "create namespace"); err != nil {
		return nil, err
	}
	n := &entity.Namespace{
		Name:          req.Name,
		Created:       now(),
		Network:       req.Network,
		EventSubjects: req.EventSubjects,
		EventStreams:  req.EventStreams,
	}
	if err := adminName(req.Name); err != nil {
		return nil, fmt.Errorf("create namespace: %w", err)
	}
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("create namespace %q: %w: %w", req.Name, ErrInvalid, err)
	}
	keys, err := c.namespaceKeys(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		return nil, fmt.Errorf("namespace %q has keys: %w", req.Name, ErrExists)
	}
	b, _ := json.Marshal(n)
	if _, err := c.namespaces.Create(ctx, names.NamespaceKey(req.Name), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("namespace %q: %w", req.Name, ErrExists)
		}
		return nil, unavailable(fmt.Sprintf("create namespace %q", req.Name), err)
	}
	k, err := c.addKey(ctx, req.Name)
	if err != nil {
		return nil, fmt.Errorf("create namespace %q: first key: %w", req.Name, err)
	}
	c.log.Info("namespace created", "namespace", req.Name, "key", k.UUID, "by", id.UUID)
	return &NamespaceCreated{Namespace: n, Key: *k}, nil
}

// ListNamespaces returns every namespace, stored or with keys only, sorted
// by name. Errors: ErrForbidden, ErrUnavailable.
func (c *Controller) ListNamespaces(ctx context.Context, id Identity) ([]*entity.Namespace, error) {
	if err := c.requireAdmin(ctx, id, "list namespaces"); err != nil {
		return nil, err
	}
	byName := map[string]*entity.Namespace{}
	lister, err := c.namespaces.ListKeys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, unavailable("list namespaces", err)
	}
	if lister != nil {
		defer lister.Stop()
		for key := range lister.Keys() {
			e, err := c.namespaces.Get(ctx, key)
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return nil, unavailable("list namespaces", err)
			}
			var n entity.Namespace
			if err := stored.Decode(e.Value(), &n); err != nil {
				c.log.Warn("bad namespace entry", "key", key, "err", err)
				continue
			}
			byName[n.Name] = &n
		}
	}
	keys, err := c.storedKeys(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if !k.Admin() && byName[k.Namespace] == nil {
			byName[k.Namespace] = &entity.Namespace{Name: k.Namespace}
		}
	}
	out := make([]*entity.Namespace, 0, len(byName))
	for _, n := range byName {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GetNamespace returns namespace name with its keys and limits. Errors:
// ErrForbidden, ErrInvalid, ErrNotFound, ErrUnavailable.
func (c *Controller) GetNamespace(ctx context.Context, id Identity, name string) (*NamespaceInfo, error) {
	if err := c.requireAdminOn(ctx, id, "get namespace", name); err != nil {
		return nil, err
	}
	n, _, keys, err := c.existingNamespace(ctx, name)
	if err != nil {
		return nil, err
	}
	return &NamespaceInfo{Namespace: n, Keys: keys, Limits: c.NamespaceLimits(name)}, nil
}

// SetNamespace changes the policies of namespace req.Name. The invoker and
// the message triggers read them from the namespaces bucket. Errors:
// ErrForbidden, ErrInvalid (policy, a reserved grant), ErrNotFound,
// ErrConflict (changed concurrently, repeatedly), ErrUnavailable.
func (c *Controller) SetNamespace(ctx context.Context, id Identity, req SetNamespaceRequest) (*entity.Namespace, error) {
	if err := c.requireAdminOn(ctx, id, "set namespace", req.Name); err != nil {
		return nil, err
	}
	for range 5 {
		n, rev, _, err := c.existingNamespace(ctx, req.Name)
		if err != nil {
			return nil, err
		}
		if n.Created == 0 {
			n.Created = now()
		}
		if req.Network != nil {
			n.Network = *req.Network
		}
		if req.EventSubjects != nil {
			n.EventSubjects = slices.Clone(*req.EventSubjects)
		}
		if req.EventStreams != nil {
			n.EventStreams = slices.Clone(*req.EventStreams)
		}
		if err := n.Validate(); err != nil {
			return nil, fmt.Errorf("set namespace %q: %w: %w", req.Name, ErrInvalid, err)
		}
		b, _ := json.Marshal(n)
		key := names.NamespaceKey(req.Name)
		if rev == 0 {
			_, err = c.namespaces.Create(ctx, key, b)
		} else {
			_, err = c.namespaces.Update(ctx, key, b, rev)
		}
		if err == nil {
			c.log.Info("namespace policies set", "namespace", req.Name, "network", n.NetworkPolicy(),
				"event_subjects", n.EventSubjects, "event_streams", n.EventStreams, "by", id.UUID)
			return n, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return nil, unavailable(fmt.Sprintf("set namespace %q", req.Name), err)
		}
		// Another administrator wrote it concurrently: apply ours to theirs.
	}
	return nil, fmt.Errorf("set namespace %q: %w", req.Name, ErrConflict)
}

// DeleteNamespace revokes every key of namespace name and removes its
// entry and limit overrides; it returns what the namespace was. Its
// entities and records stay. Errors: ErrForbidden, ErrInvalid,
// ErrNotFound, ErrUnavailable.
func (c *Controller) DeleteNamespace(ctx context.Context, id Identity, name string) (*NamespaceInfo, error) {
	if err := c.requireAdminOn(ctx, id, "delete namespace", name); err != nil {
		return nil, err
	}
	n, _, keys, err := c.existingNamespace(ctx, name)
	if err != nil {
		return nil, err
	}
	info := &NamespaceInfo{Namespace: n, Keys: keys, Limits: c.NamespaceLimits(name)}
	// Keys first: once they are gone nobody can use the namespace, whatever
	// fails after.
	for _, k := range keys {
		if err := c.purgeKey(ctx, k.UUID); err != nil {
			return nil, fmt.Errorf("delete namespace %q: %w", name, err)
		}
	}
	if info.Stopped, err = c.stopUncalled(ctx, name); err != nil {
		return nil, fmt.Errorf("delete namespace %q: %w", name, err)
	}
	key := names.NamespaceKey(name)
	if err := c.namespaces.Purge(ctx, key); err != nil && !isNotFound(err) {
		return nil, unavailable(fmt.Sprintf("delete namespace %q", name), err)
	}
	if err := c.adm.limitsKV.Purge(ctx, key); err != nil && !isNotFound(err) {
		return nil, unavailable(fmt.Sprintf("delete namespace %q limits", name), err)
	}
	c.log.Info("namespace deleted", "namespace", name, "keys_revoked", len(keys), "stopped", info.Stopped, "by", id.UUID)
	return info, nil
}

// CreateKey makes another key for existing namespace ns. Errors:
// ErrForbidden, ErrInvalid, ErrNotFound, ErrUnavailable.
func (c *Controller) CreateKey(ctx context.Context, id Identity, ns string) (*NewKey, error) {
	if err := c.requireAdminOn(ctx, id, "create key", ns); err != nil {
		return nil, err
	}
	if _, _, _, err := c.existingNamespace(ctx, ns); err != nil {
		return nil, err
	}
	k, err := c.addKey(ctx, ns)
	if err != nil {
		return nil, err
	}
	c.log.Info("key created", "namespace", ns, "key", k.UUID, "by", id.UUID)
	return k, nil
}

// ListKeys returns the keys of existing namespace ns (uuids only).
// Errors: ErrForbidden, ErrInvalid, ErrNotFound, ErrUnavailable.
func (c *Controller) ListKeys(ctx context.Context, id Identity, ns string) ([]KeyInfo, error) {
	if err := c.requireAdminOn(ctx, id, "list keys", ns); err != nil {
		return nil, err
	}
	_, _, keys, err := c.existingNamespace(ctx, ns)
	return keys, err
}

// RevokeKey deletes key uuid of namespace ns. Every controller drops it
// from its cache as its watch of the auth bucket delivers the deletion.
// Errors: ErrForbidden, ErrInvalid, ErrNotFound (no such key in ns),
// ErrUnavailable.
func (c *Controller) RevokeKey(ctx context.Context, id Identity, ns, uuid string) (*KeyInfo, error) {
	if err := c.requireAdminOn(ctx, id, "revoke key", ns); err != nil {
		return nil, err
	}
	if !names.Plain(uuid) {
		return nil, fmt.Errorf("key %q: %w", uuid, ErrInvalid)
	}
	k, err := c.loadKey(ctx, uuid)
	if err != nil && !isNotFound(err) {
		return nil, unavailable("revoke key", err)
	}
	if k == nil || k.Admin() || k.Namespace != ns {
		return nil, fmt.Errorf("key %s of namespace %q: %w", uuid, ns, ErrNotFound)
	}
	if err := c.purgeKey(ctx, uuid); err != nil {
		return nil, err
	}
	c.log.Info("key revoked", "namespace", ns, "key", uuid, "by", id.UUID)
	return &KeyInfo{UUID: uuid, Namespace: ns}, nil
}

// SetLimits replaces the admission limit overrides of existing namespace
// ns (nil fields: the platform defaults; 0: unlimited) and returns the
// limits in force. Errors: ErrForbidden, ErrInvalid, ErrNotFound,
// ErrUnavailable.
func (c *Controller) SetLimits(ctx context.Context, id Identity, ns string, l entity.NamespaceLimits) (entity.NamespaceLimits, error) {
	if err := c.requireAdminOn(ctx, id, "set limits", ns); err != nil {
		return entity.NamespaceLimits{}, err
	}
	if _, _, _, err := c.existingNamespace(ctx, ns); err != nil {
		return entity.NamespaceLimits{}, err
	}
	if err := c.SetNamespaceLimits(ctx, ns, l); err != nil {
		return entity.NamespaceLimits{}, err
	}
	c.log.Info("namespace limits set", "namespace", ns, "by", id.UUID)
	return c.NamespaceLimits(ns), nil
}

// GetLimits returns the admission limits in force for existing namespace
// ns. Errors: ErrForbidden, ErrInvalid, ErrNotFound, ErrUnavailable.
func (c *Controller) GetLimits(ctx context.Context, id Identity, ns string) (entity.NamespaceLimits, error) {
	if err := c.requireAdminOn(ctx, id, "get limits", ns); err != nil {
		return entity.NamespaceLimits{}, err
	}
	if _, _, _, err := c.existingNamespace(ctx, ns); err != nil {
		return entity.NamespaceLimits{}, err
	}
	return c.NamespaceLimits(ns), nil
}
