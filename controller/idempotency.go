package controller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/stored"
)

// MaxIdempotencyKeyBytes bounds an Idempotency-Key, as Stripe's.
const MaxIdempotencyKeyBytes = 255

// CheckIdempotencyKey returns nil for a usable Idempotency-Key (1 to
// MaxIdempotencyKeyBytes printable ASCII characters), else ErrInvalid.
func CheckIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKeyBytes {
		return fmt.Errorf("idempotency key of %d bytes: want 1 to %d: %w", len(key), MaxIdempotencyKeyBytes, ErrInvalid)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return fmt.Errorf("idempotency key: byte %d (0x%02x) is not printable ASCII: %w", i, key[i], ErrInvalid)
		}
	}
	return nil
}

// republishWindow is how long after a key's first request its activation
// may be published again under the same id: JetStream drops the second
// copy if the first was stored (Nats-Msg-Id), as long as the first is
// within the activations stream's duplicate window. The margin covers
// the time between the key's claim and its first publish.
const republishWindow = provision.DuplicateWindow - 30*time.Second

// idemEntry is what names.IdempotencyBucket holds for a key.
type idemEntry struct {
	ActivationID string `json:"activationId"`
	// Action and Digest (of the params as sent) tell a retry from another
	// request that reuses the key.
	Action string `json:"action"`
	Digest string `json:"digest"`
	// Claimed is when the key's first request made the entry (Unix ms).
	Claimed int64 `json:"claimed"`
	// Queued is set once JetStream stored the activation (or, for a
	// sequence, once it started): from then on the key never runs again.
	Queued bool `json:"queued,omitempty"`
}

// idemClaim is an invoke's hold on its Idempotency-Key.
type idemClaim struct {
	key   string // in names.IdempotencyBucket
	entry idemEntry
	rev   uint64
	// replay: the key's activation is queued already; answer with it
	// and run nothing.
	replay bool
	// retry: the key's first request may still be waiting for this
	// activation's result on this controller, so this one must not
	// register for it (a waiter per id) but read the record.
	retry bool
}

// claimKey binds req.IdempotencyKey in namespace ns to an activation:
// a new one if the key is new, else the one it started. Errors:
// ErrInvalid (bad key), ErrKeyReused (another action or other params),
// ErrKeyUnresolved, ErrUnavailable (the bucket cannot be reached).
func (c *Controller) claimKey(ctx context.Context, ns string, req InvokeRequest) (*idemClaim, error) {
	if err := CheckIdempotencyKey(req.IdempotencyKey); err != nil {
		return nil, err
	}
	digest, err := paramsDigest(req.Params)
	if err != nil {
		return nil, fmt.Errorf("invoke %q: %w", req.Name, err)
	}
	cl := &idemClaim{
		key:   names.IdempotencyKey(ns, req.IdempotencyKey),
		entry: idemEntry{ActivationID: activation.NewID(), Action: req.Name, Digest: digest, Claimed: now()},
	}
	data, err := json.Marshal(&cl.entry)
	if err != nil {
		return nil, err
	}
	// Create, not Put: of two requests with one key on two controllers,
	// exactly one makes the entry; the other reads it.
	cl.rev, err = c.idem.Create(ctx, cl.key, data)
	if err == nil {
		return cl, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, unavailable("idempotency key", err)
	}
	e, err := c.idem.Get(ctx, cl.key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			// Aged out between Create and Get: the window is over.
			return nil, fmt.Errorf("idempotency key: its entry expired while read, retry: %w", ErrUnavailable)
		}
		return nil, unavailable("idempotency key", err)
	}
	var first idemEntry
	if err := stored.Decode(e.Value(), &first); err != nil {
		return nil, fmt.Errorf("idempotency key: bad entry: %w", err)
	}
	if first.Action != req.Name || first.Digest != digest {
		return nil, fmt.Errorf("idempotency key first used to invoke %q with other parameters (activation %s): %w", first.Action, first.ActivationID, ErrKeyReused)
	}
	cl.entry, cl.rev, cl.retry = first, e.Revision(), true
	switch {
	case first.Queued:
		cl.replay = true
	case time.Duration(now()-first.Claimed)*time.Millisecond < republishWindow:
		// The first request is in flight or failed before JetStream
		// answered it: publishing again under its id is safe.
	case c.lookupRecord(ctx, ns, first.ActivationID) != nil:
		cl.replay = true
	default:
		return nil, fmt.Errorf("idempotency key: activation %s of its first request may or may not have been queued and it is too late to tell (use a new key after checking the activation): %w",
			first.ActivationID, ErrKeyUnresolved)
	}
	return cl, nil
}

// markQueued records that the claim's activation is queued. A failure
// only leaves the entry unmarked: a retry within republishWindow then
// publishes again under the same id, which JetStream drops.
func (c *Controller) markQueued(cl *idemClaim) {
	if cl == nil || cl.replay || cl.entry.Queued {
		return
	}
	cl.entry.Queued = true
	data, err := json.Marshal(&cl.entry)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = c.idem.Update(ctx, cl.key, data, cl.rev)
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		// ErrKeyExists: a concurrent retry marked it first.
		c.log.Warn("idempotency key not marked queued", "activation", cl.entry.ActivationID, "err", err)
	}
}

// replay answers a repeated invoke with the key's first activation; a
// blocking caller waits up to req.Wait for its record.
func (c *Controller) replay(ctx context.Context, ns string, cl *idemClaim, req InvokeRequest) *InvokeResult {
	res := &InvokeResult{ActivationID: cl.entry.ActivationID}
	if req.Blocking {
		res.Record = c.awaitRecord(ctx, ns, res.ActivationID, cmpWait(req.Wait, c.cfg.DefaultWait))
	}
	return res
}

// awaitRecord polls the records stream for activation aid's record for
// up to d: its result goes by core NATS to the controller that published
// it, which may not be this one.
func (c *Controller) awaitRecord(ctx context.Context, ns, aid string, d time.Duration) *activation.Record {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	pause := 20 * time.Millisecond
	for {
		if r := c.lookupRecord(ctx, ns, aid); r != nil {
			return r
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-deadline.C:
			t.Stop()
			return c.lookupRecord(ctx, ns, aid)
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-c.done:
			t.Stop()
			return nil
		}
		pause = min(2*pause, time.Second)
	}
}

func cmpWait(w, def time.Duration) time.Duration {
	if w <= 0 {
		return def
	}
	return w
}

// paramsDigest hashes an invoke's params as sent, compacted so that a
// client re-encoding the same JSON still matches.
func paramsDigest(params json.RawMessage) (string, error) {
	p := bytes.TrimSpace(params)
	if len(p) == 0 || bytes.Equal(p, []byte("null")) {
		p = []byte("{}")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, p); err != nil {
		return "", fmt.Errorf("%w: parameters: %v", ErrInvalid, err)
	}
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:]), nil
}
