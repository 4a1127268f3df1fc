package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/stored"
)

// Authenticate checks "uuid:key" against the stored (hashed) keys. Every
// failure is ErrUnauthenticated, and says nothing about which part failed.
func (c *Controller) Authenticate(ctx context.Context, auth string) (Identity, error) {
	uuid, secret, err := entity.ParseAuth(auth)
	if err != nil || !names.Plain(uuid) {
		return Identity{}, fmt.Errorf("authenticate: %w", ErrUnauthenticated)
	}
	k, known := c.keys.get(uuid)
	if !known {
		// A key made a moment ago by another controller may not have
		// reached the watch yet.
		k, err = c.loadKey(ctx, uuid)
		if err != nil && !isNotFound(err) {
			return Identity{}, unavailable("authenticate", err)
		}
	}
	if k == nil || !k.Matches(secret) {
		return Identity{}, fmt.Errorf("authenticate: %w", ErrUnauthenticated)
	}
	return Identity{UUID: k.UUID, Namespace: k.Namespace, Admin: k.Admin()}, nil
}

func (c *Controller) loadKey(ctx context.Context, uuid string) (*entity.Key, error) {
	e, err := c.auth.Get(ctx, uuid)
	if err != nil {
		return nil, err
	}
	var k entity.Key
	if err := stored.Decode(e.Value(), &k); err != nil {
		return nil, fmt.Errorf("key %s: %w", uuid, err)
	}
	c.keys.put(uuid, &k, e.Revision())
	return &k, nil
}

// AddKey makes a new API key for namespace (which exists from then on)
// and returns it as "uuid:key". Only the key's hash is stored. It is for
// tests and tools in process; administrators use CreateKey.
func (c *Controller) AddKey(ctx context.Context, namespace string) (string, error) {
	k, err := c.addKey(ctx, namespace)
	if err != nil {
		return "", err
	}
	return k.Auth, nil
}

func (c *Controller) addKey(ctx context.Context, namespace string) (*NewKey, error) {
	if !entity.ValidName(namespace) || namespace == "_" {
		return nil, fmt.Errorf("add key: namespace %q: %w", namespace, ErrInvalid)
	}
	auth := entity.NewAuth()
	uuid, secret, _ := entity.ParseAuth(auth)
	k := entity.Key{UUID: uuid, Namespace: namespace, Hash: entity.HashSecret(secret)}
	b, _ := json.Marshal(k)
	rev, err := c.auth.Create(ctx, uuid, b)
	if err != nil {
		return nil, unavailable("add key", err)
	}
	c.keys.put(uuid, &k, rev)
	return &NewKey{KeyInfo: KeyInfo{UUID: uuid, Namespace: namespace}, Auth: auth}, nil
}

// purgeKey removes key uuid with its history, so not even its hash stays.
// This controller forgets it at once, the others when their watch of the
// auth bucket delivers the purge (milliseconds).
func (c *Controller) purgeKey(ctx context.Context, uuid string) error {
	e, err := c.auth.Get(ctx, uuid)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return unavailable("revoke key "+uuid, err)
	}
	if err := c.auth.Purge(ctx, uuid); err != nil {
		return unavailable("revoke key "+uuid, err)
	}
	// The purge marker's revision is above the entry's.
	c.keys.remove(uuid, e.Revision()+1)
	return nil
}

// ensureKey makes auth ("uuid:key") open namespace with role (empty for a
// tenant, entity.RoleAdmin for the admin credential), replacing a stored
// key of the same uuid with another secret, namespace or role.
func (c *Controller) ensureKey(ctx context.Context, namespace, role, auth string) error {
	uuid, secret, err := entity.ParseAuth(auth)
	if err != nil {
		return fmt.Errorf("controller: ensure key: %w", err)
	}
	want := entity.Key{UUID: uuid, Namespace: namespace, Hash: entity.HashSecret(secret), Role: role}
	b, _ := json.Marshal(want)
	for range 5 {
		e, err := c.auth.Get(ctx, uuid)
		switch {
		case isNotFound(err):
			_, err = c.auth.Create(ctx, uuid, b)
		case err != nil:
		default:
			var have entity.Key
			if stored.Decode(e.Value(), &have) == nil && have == want {
				return nil
			}
			_, err = c.auth.Update(ctx, uuid, b, e.Revision())
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("controller: ensure key %s: %w", uuid, err)
		}
		// Another controller wrote it concurrently: look again.
	}
	return fmt.Errorf("controller: ensure key %s: %w", uuid, ErrConflict)
}

// namespace resolves ns ("_" is the caller's own) and checks the caller
// may use it.
func namespace(id Identity, ns string) (string, error) {
	if id.Admin {
		return "", fmt.Errorf("namespace %q: the admin credential opens no namespace: %w", ns, ErrForbidden)
	}
	if ns == "_" || ns == "" {
		ns = id.Namespace
	}
	if !entity.ValidName(ns) {
		return "", fmt.Errorf("namespace %s: %w", quoteShort(ns), ErrInvalid)
	}
	if ns != id.Namespace {
		return "", fmt.Errorf("namespace %q: %w", ns, ErrForbidden)
	}
	return ns, nil
}

// actionRef resolves ns and validates an action name.
func actionRef(id Identity, ns, name string) (string, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return "", err
	}
	if !entity.ValidName(name) {
		return "", fmt.Errorf("action name %s: %w", quoteShort(name), ErrInvalid)
	}
	return ns, nil
}
