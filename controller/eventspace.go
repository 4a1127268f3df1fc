package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/stored"
)

// Tenant event subjects (ADR 020): what a namespace's message triggers may
// consume and what its triggers and asynchronous activations may publish
// to. Without this a tenant could name Flurry's own subjects and streams,
// NATS's API or another tenant's events, and read or forge them.

// eventSpace is one namespace's allowed subjects and streams: its own
// event space (names.EventNamespaceSubject) and an administrator's grants.
type eventSpace struct {
	ns string
	// subjects are patterns; the namespace's own space is first.
	subjects []string
	streams  []string
	// fresh: the grants were read from the bucket, not the cache.
	fresh bool
}

// grantStore holds the namespaces bucket (names.NamespacesBucket) and a
// cache of its entries fed by a watch, so that checks on the trigger and
// source paths need no round trip.
type grantStore struct {
	kv    jetstream.KeyValue
	cache *cache[entity.Namespace]
}

// watchGrants opens the namespaces bucket and loads its entries into
// c.grants through a watch (living until wctx ends), calling changed with
// the key of every entry written or removed after the cache has it. It
// returns once the cache holds the bucket's contents.
func (c *Controller) watchGrants(ctx, wctx context.Context, changed func(key string)) error {
	kv, err := c.js.KeyValue(ctx, names.NamespacesBucket)
	if err != nil {
		return fmt.Errorf("controller: kv %s: %w", names.NamespacesBucket, err)
	}
	g := &grantStore{kv: kv, cache: newCache[entity.Namespace]()}
	c.grants = g
	ready, err := c.watch(wctx, kv, func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			g.cache.remove(e.Key(), e.Revision())
		} else if n, err := decodeNamespace(e); err != nil {
			c.log.Error("bad namespace entry: its grants are ignored", "key", e.Key(), "err", err)
			g.cache.remove(e.Key(), e.Revision())
		} else {
			g.cache.put(e.Key(), n, e.Revision())
		}
		changed(e.Key())
	})
	if err != nil {
		return err
	}
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("controller: loading namespace grants: %w", ctx.Err())
	}
}

func decodeNamespace(e jetstream.KeyValueEntry) (*entity.Namespace, error) {
	var n entity.Namespace
	if err := stored.Decode(e.Value(), &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// eventSpace is namespace ns's event space, its grants from the cache or,
// when fresh, from the bucket (no entry: none). A stored grant that may
// never be given (a reserved subject or stream, another tenant's event
// space) is ignored, loudly: the bucket is the admin API's, and this check
// must not depend on it.
func (c *Controller) eventSpace(ctx context.Context, ns string, fresh bool) (*eventSpace, error) {
	sp := &eventSpace{ns: ns, subjects: []string{names.EventNamespaceSubject(ns)}, fresh: fresh}
	var n *entity.Namespace
	if fresh {
		e, err := c.grants.kv.Get(ctx, names.NamespaceKey(ns))
		switch {
		case isNotFound(err):
		case err != nil:
			return nil, unavailable("namespace grants", err)
		default:
			if n, err = decodeNamespace(e); errors.Is(err, stored.ErrJetStreamAnswer) {
				c.log.Error("bad namespace entry: its grants are ignored", "key", e.Key(), "err", err)
				return sp, nil
			} else if err != nil {
				return nil, fmt.Errorf("namespace grants: stored %s: %w", e.Key(), err)
			}
			c.grants.cache.put(e.Key(), n, e.Revision())
		}
	} else {
		n, _ = c.grants.cache.get(names.NamespaceKey(ns))
	}
	if n == nil {
		return sp, nil
	}
	for _, p := range n.EventSubjects {
		if !names.GrantableSubject(p) {
			c.log.Error("ignoring an event subject grant that may never be given", "namespace", ns, "subject", p)
			continue
		}
		sp.subjects = append(sp.subjects, p)
	}
	for _, s := range n.EventStreams {
		if names.ReservedStream(s) || !validStreamName(s) {
			c.log.Error("ignoring an event stream grant that may never be given", "namespace", ns, "stream", s)
			continue
		}
		sp.streams = append(sp.streams, s)
	}
	return sp, nil
}

// inEventSpace runs check on namespace ns's event space from the cache;
// a refusal is checked again on the bucket's current grants, so a grant
// just written counts at once. A revoked grant may pass until the watch
// brings the change, which then stops what it no longer allows (regrant).
func (c *Controller) inEventSpace(ctx context.Context, ns string, check func(*eventSpace) error) error {
	sp, err := c.eventSpace(ctx, ns, false)
	if err != nil {
		return err
	}
	if err = check(sp); err == nil || !errors.Is(err, ErrInvalid) {
		return err
	}
	if sp, err = c.eventSpace(ctx, ns, true); err != nil {
		return err
	}
	return check(sp)
}

// allows reports whether every subject pattern p matches is inside one of
// the space's patterns. p inside the union of two grants but neither
// alone is refused: the grant to ask for is then the wider one.
func (sp *eventSpace) allows(p string) bool {
	for _, a := range sp.subjects {
		if names.SubjectContains(a, p) {
			return true
		}
	}
	return false
}

// outside is the ErrInvalid of a subject outside the space.
func (sp *eventSpace) outside(what, subject string) error {
	return fmt.Errorf("%w: %s %q is outside namespace %q's event subjects (%s)", ErrInvalid, what, subject, sp.ns,
		strings.Join(sp.subjects, ", "))
}

// checkPublish checks a literal subject Flurry publishes to for the
// namespace: a trigger's response or error subject, a destination.
func (sp *eventSpace) checkPublish(what, subject string) error {
	if !sp.allows(subject) {
		return sp.outside(what, subject)
	}
	return nil
}

// checkStream accepts a stream a trigger may consume: never a reserved
// one (names.ReservedStream); a granted one; or one whose every captured
// subject is inside the space and that copies no other stream (a mirror
// or source brings in messages of subjects it does not capture). A stream
// that is not granted must exist, so its subjects can be read (the error
// wraps jetstream.ErrStreamNotFound as well).
func (c *Controller) checkStream(ctx context.Context, sp *eventSpace, stream string) error {
	if names.ReservedStream(stream) {
		return fmt.Errorf("%w: nats source stream %q is reserved: one of Flurry's, a KV bucket's or object store's, or NATS's", ErrInvalid, stream)
	}
	if slices.Contains(sp.streams, stream) {
		return nil
	}
	st, err := c.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("%w: nats source stream %q does not exist (a stream not granted to namespace %q must exist, so that its subjects can be checked): %w",
			ErrInvalid, stream, sp.ns, err)
	}
	if err != nil {
		return unavailable("nats source stream", err)
	}
	cfg := st.CachedInfo().Config
	if cfg.Mirror != nil || len(cfg.Sources) > 0 {
		return fmt.Errorf("%w: nats source stream %q copies other streams; only a stream granted to namespace %q may",
			ErrInvalid, stream, sp.ns)
	}
	if len(cfg.Subjects) == 0 {
		return fmt.Errorf("%w: nats source stream %q captures no subjects", ErrInvalid, stream)
	}
	for _, s := range cfg.Subjects {
		if !sp.allows(s) {
			return fmt.Errorf("%w: nats source stream %q captures %q, outside namespace %q's event subjects (%s)",
				ErrInvalid, stream, s, sp.ns, strings.Join(sp.subjects, ", "))
		}
	}
	return nil
}

// checkNATSSpace checks a valid NATS source (validateNATSSource) against
// its namespace's event space: the subject it consumes (inside the space,
// or any in a granted stream), the subjects it publishes to and its
// stream. Errors: ErrInvalid with the reason, ErrUnavailable.
func (c *Controller) checkNATSSpace(ctx context.Context, ns string, n *entity.NATSSource) error {
	return c.inEventSpace(ctx, ns, func(sp *eventSpace) error {
		// In a granted stream the subject only filters what the grant gives.
		if !sp.allows(n.Subject) && (n.Stream == "" || !slices.Contains(sp.streams, n.Stream)) {
			return sp.outside("nats source subject", n.Subject)
		}
		for _, s := range []struct{ name, subject string }{{"responseSubject", n.ResponseSubject}, {"errorSubject", n.ErrorSubject}} {
			if s.subject == "" {
				continue
			}
			if err := sp.checkPublish("nats source "+s.name, s.subject); err != nil {
				return err
			}
		}
		if n.Stream != "" {
			return c.checkStream(ctx, sp, n.Stream)
		}
		return nil
	})
}

// checkDestinations checks an action's destinations (validated by
// validateAsync) against namespace ns's event space.
func (c *Controller) checkDestinations(ctx context.Context, ns string, d *entity.Destinations) error {
	if d == nil {
		return nil
	}
	return c.inEventSpace(ctx, ns, func(sp *eventSpace) error {
		for _, s := range []struct{ name, subject string }{{"onSuccess", d.OnSuccess}, {"onFailure", d.OnFailure}} {
			if s.subject == "" {
				continue
			}
			if err := sp.checkPublish("destinations."+s.name, s.subject); err != nil {
				return err
			}
		}
		return nil
	})
}
