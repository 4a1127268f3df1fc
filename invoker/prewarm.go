package invoker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/stored"
	"github.com/flurryfn/flurry/invoker/pool"
)

// PoolStats is a snapshot of the container pool, with the cumulative
// counters (starts by kind, policy prewarms, evictions, memory·seconds)
// that benchmarks and heartbeats report.
func (i *Invoker) PoolStats() pool.Stats { return i.pool.Stats() }

// warmContainer is the pool's WarmFunc: it initializes c for the action
// revision key ("namespace/name@revision", entity.Action.Key), or an app
// revision's endpoint (appKey), as a cold start would, without an
// activation. The action is read at that
// revision from the entity store (the KV keeps the last few revisions of
// each action; a revision gone is an action updated or deleted, which
// is not worth warming), and its code through the code cache.
func (i *Invoker) warmContainer(ctx context.Context, key string, c *conn) error {
	var a *entity.Action
	var err error
	// An app's container is loaded with the app, and specialized when
	// the key names an endpoint.
	rev, endpoint, isApp := parseAppKey(key)
	if isApp {
		a, err = i.apps.get(rev)
	} else {
		a, err = i.actionAt(ctx, key)
	}
	if err != nil {
		return err
	}
	code := ""
	if a.Exec.CodeDigest != "" {
		if code, err = i.code.get(ctx, a.Exec.CodeDigest); err != nil {
			return err
		}
	}
	ictx, cancel := context.WithTimeout(ctx, time.Duration(a.Limits.WithDefaults().Timeout)*time.Millisecond)
	defer cancel()
	if err := initConn(ictx, c, a, code, true, isApp, endpoint); err != nil {
		return fmt.Errorf("init %s: %w", key, err)
	}
	return nil
}

// actionAt reads the action revision key from the actions KV bucket.
func (i *Invoker) actionAt(ctx context.Context, key string) (*entity.Action, error) {
	ns, rest, ok := strings.Cut(key, "/")
	at := strings.LastIndexByte(rest, '@')
	if !ok || at < 0 {
		return nil, fmt.Errorf("action key %q: not namespace/name@revision", key)
	}
	name := rest[:at]
	rev, err := strconv.ParseUint(rest[at+1:], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("action key %q: %w", key, err)
	}
	// A revision is the KV stream's sequence; the stream is read without
	// the KV client, whose reads are direct gets (see internal/stored).
	raw, err := stored.Msg(ctx, i.js.Conn(), names.KVStream(names.ActionsBucket), rev)
	if err != nil {
		return nil, fmt.Errorf("action %s: %w", key, err)
	}
	if raw.Subject != names.KVSubject(names.ActionsBucket, names.ActionKey(ns, name)) || raw.Header.Get(names.HeaderKVOperation) != "" {
		return nil, fmt.Errorf("action %s: revision %d is not a value of that action", key, rev)
	}
	var a entity.Action
	if err := stored.Decode(raw.Data, &a); err != nil {
		return nil, fmt.Errorf("action %s: stored value: %w", key, err)
	}
	a.Revision = rev
	return &a, nil
}
