package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/stored"
)

// Controller is the API logic over NATS JetStream. It implements
// gateway.Backend. All methods are safe for concurrent use.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	nc      *nats.Conn
	js      jetstream.JetStream
	actions jetstream.KeyValue
	auth    jetstream.KeyValue
	code    jetstream.ObjectStore
	records jetstream.Stream

	// namespaces holds the namespaces administrators made (admin.go).
	namespaces jetstream.KeyValue
	// idem maps Idempotency-Keys to their activations (idempotency.go).
	idem jetstream.KeyValue

	keys  *cache[entity.Key]
	cache *cache[entity.Action]
	// actionJSON encodes the cached actions for activation messages.
	actionJSON actionJSONs
	// adm enforces namespace limits over all controllers (admission.go).
	adm *admission
	// trig holds triggers, rules and timers (triggers.go, timers.go).
	trig *triggerStore
	// routes is the HTTP route store (routes.go).
	routes *routeStore
	// apps holds the web apps (apps.go).
	apps *appStore
	// sources consumes the NATS subjects and streams of message triggers (sources.go).
	sources *sourceManager
	// grants are the namespaces' event grants (eventspace.go).
	grants *grantStore

	waitMu  sync.Mutex
	waiters map[string]chan *activation.Record
	results *nats.Subscription

	cancel context.CancelFunc
	wg     sync.WaitGroup
	// done closes on Close and ends blocking waits.
	done      chan struct{}
	closeOnce sync.Once

	// beforeUpdate, when set by a test, runs between PutAction's read and
	// its conditional write.
	beforeUpdate func()
}

// New provisions JetStream, ensures the guest key and the admin credential,
// subscribes to this instance's result subject and starts the caches' KV
// watches. It returns when the caches hold the buckets' current contents.
// Close releases it.
func New(ctx context.Context, nc *nats.Conn, cfg Config, log *slog.Logger) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("controller: jetstream: %w", err)
	}
	if cfg.Provision.Log == nil {
		cfg.Provision.Log = log.With("component", "provision")
	}
	// Resolved once, so the later Ensure* calls reuse the replica count.
	if cfg.Provision, err = provision.Resolve(ctx, js, cfg.Provision); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	if err := provision.Ensure(ctx, js, cfg.Provision); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	cfg.Provision.Log.Info("JetStream assets ensured", "replicas", cfg.Provision.Replicas)
	c := &Controller{
		cfg:     cfg,
		log:     log.With("component", "controller", "instance", cfg.InstanceID),
		nc:      nc,
		js:      js,
		keys:    newCache[entity.Key](),
		cache:   newCache[entity.Action](),
		waiters: make(map[string]chan *activation.Record),
		done:    make(chan struct{}),
	}
	if c.actions, err = js.KeyValue(ctx, names.ActionsBucket); err != nil {
		return nil, fmt.Errorf("controller: kv %s: %w", names.ActionsBucket, err)
	}
	if c.auth, err = js.KeyValue(ctx, names.AuthBucket); err != nil {
		return nil, fmt.Errorf("controller: kv %s: %w", names.AuthBucket, err)
	}
	if c.namespaces, err = js.KeyValue(ctx, names.NamespacesBucket); err != nil {
		return nil, fmt.Errorf("controller: kv %s: %w", names.NamespacesBucket, err)
	}
	if c.idem, err = js.KeyValue(ctx, names.IdempotencyBucket); err != nil {
		return nil, fmt.Errorf("controller: kv %s: %w", names.IdempotencyBucket, err)
	}
	if c.code, err = js.ObjectStore(ctx, names.CodeStore); err != nil {
		return nil, fmt.Errorf("controller: object store %s: %w", names.CodeStore, err)
	}
	if c.records, err = js.Stream(ctx, names.RecordsStream); err != nil {
		return nil, fmt.Errorf("controller: stream %s: %w", names.RecordsStream, err)
	}
	if cfg.GuestAuth != "" {
		if err := c.ensureKey(ctx, GuestNamespace, "", cfg.GuestAuth); err != nil {
			return nil, err
		}
	}
	if cfg.AdminAuth != "" {
		if err := c.ensureKey(ctx, "", entity.RoleAdmin, cfg.AdminAuth); err != nil {
			return nil, err
		}
	}

	c.results, err = nc.Subscribe(names.ResultSubject(cfg.InstanceID), c.onResult)
	if err != nil {
		return nil, fmt.Errorf("controller: subscribe results: %w", err)
	}
	// The watches outlive New's ctx: they live until Close.
	wctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	keysReady, err := c.watch(wctx, c.auth, func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			c.keys.remove(e.Key(), e.Revision())
			return
		}
		var k entity.Key
		if err := stored.Decode(e.Value(), &k); err != nil {
			c.log.Warn("bad key entry", "key", e.Key(), "err", err)
			return
		}
		c.keys.put(e.Key(), &k, e.Revision())
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	actionsReady, err := c.watch(wctx, c.actions, func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			c.cache.remove(e.Key(), e.Revision())
			return
		}
		a, err := decodeAction(e)
		if err != nil {
			c.log.Warn("bad action entry", "key", e.Key(), "err", err)
			return
		}
		c.cache.put(e.Key(), a, e.Revision())
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	for _, ready := range []<-chan struct{}{keysReady, actionsReady} {
		select {
		case <-ready:
		case <-ctx.Done():
			c.Close()
			return nil, fmt.Errorf("controller: loading caches: %w", ctx.Err())
		}
	}
	if c.adm, err = newAdmission(ctx, wctx, c); err != nil {
		c.Close()
		return nil, err
	}
	if _, err = c.startTriggers(ctx, wctx); err != nil {
		c.Close()
		return nil, err
	}
	if c.routes, err = newRouteStore(ctx, wctx, c); err != nil {
		c.Close()
		return nil, err
	}
	if c.apps, err = newAppStore(ctx, wctx, c); err != nil {
		c.Close()
		return nil, err
	}
	if c.sources, err = startSources(ctx, wctx, c); err != nil { // message triggers (sources.go)
		c.Close()
		return nil, err
	}
	c.log.Info("controller started", "result_subject", names.ResultSubject(cfg.InstanceID))
	return c, nil
}

// InstanceID is this controller's instance id.
func (c *Controller) InstanceID() string { return c.cfg.InstanceID }

// Close stops the watches and the result subscription. Blocking invokes
// still waiting return their activation id without a record.
func (c *Controller) Close() {
	c.closeOnce.Do(func() { close(c.done) })
	if c.results != nil {
		_ = c.results.Unsubscribe()
	}
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
}

// watch feeds every entry of kv to apply until ctx ends. The returned
// channel closes once the bucket's current contents were applied.
func (c *Controller) watch(ctx context.Context, kv jetstream.KeyValue, apply func(jetstream.KeyValueEntry)) (<-chan struct{}, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("controller: watch %s: %w", kv.Bucket(), err)
	}
	ready := make(chan struct{})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer w.Stop()
		initial := true
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					// nil marks the end of the bucket's current contents.
					if initial {
						initial = false
						close(ready)
					}
					continue
				}
				apply(e)
			}
		}
	}()
	return ready, nil
}

// decodeAction reads an action entry. The stored JSON cannot hold the
// revision it is written at, so Revision always comes from the entry.
func decodeAction(e jetstream.KeyValueEntry) (*entity.Action, error) {
	var a entity.Action
	if err := stored.Decode(e.Value(), &a); err != nil {
		return nil, err
	}
	a.Revision = e.Revision()
	return &a, nil
}

// cache is a map fed by a KV watch and by this controller's own writes.
// Each key remembers the newest revision seen, deletions included, so a
// late watch event never brings back an older value.
type cache[T any] struct {
	mu sync.RWMutex
	m  map[string]cached[T]
}

type cached[T any] struct {
	v   *T // nil: deleted
	rev uint64
}

func newCache[T any]() *cache[T] { return &cache[T]{m: make(map[string]cached[T])} }

// get returns the value and whether the cache knows the key at all
// (known with a nil value means deleted).
func (c *cache[T]) get(key string) (*T, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	return e.v, ok
}

func (c *cache[T]) put(key string, v *T, rev uint64) {
	c.mu.Lock()
	if e, ok := c.m[key]; !ok || e.rev < rev {
		c.m[key] = cached[T]{v: v, rev: rev}
	}
	c.mu.Unlock()
}

func (c *cache[T]) remove(key string, rev uint64) { c.put(key, nil, rev) }

// values returns the values the cache holds (deleted keys left out).
func (c *cache[T]) values() []*T {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*T, 0, len(c.m))
	for _, e := range c.m {
		if e.v != nil {
			out = append(out, e.v)
		}
	}
	return out
}

// isNotFound reports a missing KV key, object or stream message.
func isNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) ||
		errors.Is(err, jetstream.ErrObjectNotFound) || errors.Is(err, jetstream.ErrMsgNotFound)
}

// unavailable wraps errors of an unreachable or overloaded JetStream as
// ErrUnavailable and any other as a plain wrapped error.
func unavailable(what string, err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionReconnecting):
		return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
	case errors.As(err, &apiErr) && apiErr.Code == 503:
		return fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// now is the time in Unix milliseconds.
func now() int64 { return time.Now().UnixMilli() }
