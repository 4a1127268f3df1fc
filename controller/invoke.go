package controller

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
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
)

// Invoke admits an activation and publishes it to the activations work
// queue; it returns only after JetStream stored it. With req.Blocking it
// then waits up to req.Wait (Config.DefaultWait if 0) for the record; past
// that, or when ctx ends, the result has the id and no record (202).
//
// Errors (nothing was enqueued): ErrNotFound (unknown action), ErrInvalid
// (params not a JSON object), ErrTooLarge (params over
// entity.MaxPayloadBytes), ErrForbidden, ErrThrottled (the namespace's
// concurrency or per-minute limit is reached), ErrUnavailable (backlog full
// or JetStream unreachable). With req.IdempotencyKey: ErrKeyReused,
// ErrKeyUnresolved; a key seen before answers with its first activation
// and runs nothing (idempotency.go).
func (c *Controller) Invoke(ctx context.Context, id Identity, req InvokeRequest) (*InvokeResult, error) {
	ns, err := actionRef(id, req.Namespace, req.Name)
	if err != nil {
		return nil, err
	}
	if len(req.Params) > entity.MaxPayloadBytes {
		return nil, fmt.Errorf("invoke %q: parameters are %d bytes, over %d: %w", req.Name, len(req.Params), entity.MaxPayloadBytes, ErrTooLarge)
	}
	if req.Cause != "" && !activation.ValidID(req.Cause) {
		return nil, fmt.Errorf("invoke %q: cause %s: %w", req.Name, quoteShort(req.Cause), ErrInvalid)
	}
	a, err := c.action(ctx, ns, req.Name)
	if err != nil {
		return nil, err
	}
	if a.Exec.Kind == entity.KindSequence {
		if res, err := c.useKey(ctx, ns, &req); res != nil || err != nil {
			return res, err
		}
		// A sequence runs here at once: from now on a retry must wait for
		// it, not start it again.
		c.markQueued(req.idem)
		return c.invokeSequence(ctx, id, ns, a, req) // sequences.go
	}
	params, err := mergeParams(a.Parameters, req.Params)
	if err != nil {
		return nil, fmt.Errorf("invoke %q: %w", req.Name, err)
	}
	if len(params) > entity.MaxPayloadBytes {
		return nil, fmt.Errorf("invoke %q: parameters with defaults are %d bytes, over %d: %w", req.Name, len(params), entity.MaxPayloadBytes, ErrTooLarge)
	}
	if res, err := c.useKey(ctx, ns, &req); res != nil || err != nil {
		return res, err
	}
	return c.enqueue(ctx, id, a, params, req, nil)
}

// useKey claims req.IdempotencyKey, if any, for an invoke that passed
// every other check: it answers for a key whose activation is queued
// already, else sets req's activation id to the key's.
func (c *Controller) useKey(ctx context.Context, ns string, req *InvokeRequest) (*InvokeResult, error) {
	if req.IdempotencyKey == "" {
		return nil, nil
	}
	cl, err := c.claimKey(ctx, ns, *req)
	if err != nil {
		return nil, err
	}
	if cl.replay {
		return c.replay(ctx, ns, cl, *req), nil
	}
	req.activationID, req.idem = cl.entry.ActivationID, cl
	return nil, nil
}

// enqueue admits and publishes an activation of action revision a with
// params (already merged and checked) and, for req.Blocking, waits for its
// record; app is set for a web app's activations (apps.go).
func (c *Controller) enqueue(ctx context.Context, id Identity, a *entity.Action, params json.RawMessage, req InvokeRequest, app *activation.AppCall) (*InvokeResult, error) {
	start := time.Now()
	ns := a.Namespace
	aid := cmp.Or(req.activationID, activation.NewID())
	msg := activation.Message{
		ActivationID: aid,
		Namespace:    ns,
		Action:       *a,
		Params:       params,
		Subject:      id.UUID,
		Blocking:     req.Blocking,
		Admitted:     now(),
		Cause:        req.Cause,
		App:          app,
	}
	action, err := c.actionJSON.get(a)
	if err != nil {
		return nil, fmt.Errorf("invoke %q: %w", a.Name, err)
	}
	data, err := activation.EncodeMessage(&msg, action)
	if err != nil {
		return nil, fmt.Errorf("invoke %q: %w", a.Name, err)
	}
	m := &nats.Msg{Subject: names.ActivationSubject(ns, a.Name), Header: nats.Header{}, Data: data}
	if req.activationID != "" {
		// A derived id comes again when its cause is replayed (a trigger
		// message redelivered, a sequence retried): JetStream stores it
		// once within its duplicate window. A new id cannot come twice,
		// as nothing publishes it again, so it costs the broker no
		// de-duplication entry (2 minutes of its heap).
		m.Header.Set(names.HeaderMsgID, aid)
	}
	// Limits come last, so a request refused for anything else takes no
	// slot or token (ADR 005).
	adm, err := c.adm.admit(ctx, ns, aid)
	if err != nil {
		return nil, err
	}

	var wait <-chan *activation.Record
	if req.Blocking && (req.idem == nil || !req.idem.retry) {
		m.Header.Set(names.HeaderReply, names.ResultSubject(c.cfg.InstanceID))
		// Registered before publishing: a fast invoker may answer before
		// PublishMsg returns.
		wait = c.addWaiter(aid)
		defer c.removeWaiter(aid)
	}
	ack, err := c.publishActivation(ctx, m, start.Add(leaderlessFor))
	if err != nil {
		adm.cancel()
		return nil, publishError(a.Name, err)
	}
	c.markQueued(req.idem)
	// Made only to be used: With formats its attributes on every call.
	log := func() *slog.Logger { return c.log.With("activation", aid, "namespace", ns, "action", a.Name) }
	if c.log.Enabled(ctx, slog.LevelDebug) {
		log().Debug("activation enqueued", "blocking", req.Blocking)
	}

	res := &InvokeResult{ActivationID: aid}
	if ack.Duplicate || wait == nil && req.Blocking {
		// An earlier publish of this id was stored (a retry with an
		// Idempotency-Key, a replayed trigger), which holds the slot and
		// answers its own caller; or this is such a retry, which reads
		// the record instead of taking the first caller's waiter.
		if ack.Duplicate {
			adm.cancel()
		}
		if req.Blocking {
			res.Record = c.awaitRecord(ctx, ns, aid, cmpWait(req.Wait, c.cfg.DefaultWait))
		}
		return res, nil
	}
	if !req.Blocking {
		return res, nil
	}
	d := req.Wait
	if d <= 0 {
		d = c.cfg.DefaultWait
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-wait:
		res.Record = r
		// Finished: free its slot now, not when the record follows, so
		// the caller's next invoke sees it.
		c.adm.finish(aid)
	case <-t.C:
		// The core-NATS result may have been lost; the record is durable.
		res.Record = c.lookupRecord(ctx, ns, aid)
		log().Debug("blocking wait ended", "record", res.Record != nil)
	case <-ctx.Done():
		log().Debug("blocking caller left", "err", ctx.Err())
	case <-c.done:
	}
	return res, nil
}

// action resolves an action from the watch-fed cache, falling back to the
// KV for an action this controller has not seen yet.
func (c *Controller) action(ctx context.Context, ns, name string) (*entity.Action, error) {
	a, known := c.cache.get(names.ActionKey(ns, name))
	if known {
		if a == nil {
			return nil, fmt.Errorf("action %q in namespace %q: %w", name, ns, ErrNotFound)
		}
		return a, nil
	}
	return c.loadAction(ctx, ns, name)
}

// mergeParams lays the invocation's params (a JSON object, null or empty) over
// the action's default parameters.
func mergeParams(defaults []entity.KeyValue, params json.RawMessage) (json.RawMessage, error) {
	p := bytes.TrimSpace(params)
	if bytes.Equal(p, []byte("null")) {
		p = nil
	}
	if len(p) != 0 && (p[0] != '{' || !json.Valid(p)) {
		return nil, fmt.Errorf("%w: parameters must be a JSON object", ErrInvalid)
	}
	if len(defaults) == 0 {
		if len(p) == 0 {
			return json.RawMessage("{}"), nil
		}
		return json.RawMessage(p), nil
	}
	m := make(map[string]json.RawMessage, len(defaults))
	for _, kv := range defaults {
		m[kv.Key] = kv.Value
	}
	if len(p) != 0 {
		var over map[string]json.RawMessage
		if err := json.Unmarshal(p, &over); err != nil {
			return nil, fmt.Errorf("%w: parameters: %v", ErrInvalid, err)
		}
		for k, v := range over {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// publishError maps a failed activation publish; nothing was enqueued.
// leaderlessFor bounds how long an invoke waits out leaderless writes
// (admission, then the publish), counted from its start: under the
// gateway's DefaultClientTimeout, so the caller gets an answer from this
// controller, not a "no controller answered" that cannot say whether the
// activation was queued.
const leaderlessFor = 8 * time.Second

// publishActivation publishes m, retrying while the activations stream
// has no leader (leaderless) until until: a NATS node's loss becomes
// latency for the invokes caught in its election instead of failures.
// Any other error is returned at once.
func (c *Controller) publishActivation(ctx context.Context, m *nats.Msg, until time.Time) (*jetstream.PubAck, error) {
	ack, err := c.js.PublishMsg(ctx, m)
	if err == nil || !leaderless(err) {
		return ack, err
	}
	// The retries, off the common path, stop with the controller too
	// (noticed between waits of at most leaderWait.Max).
	for n := 1; c.running() && waitForLeader(ctx, n, until); n++ {
		if ack, err = c.js.PublishMsg(ctx, m); err == nil || !leaderless(err) {
			return ack, err
		}
	}
	return nil, err
}

// running reports whether the controller has not begun to stop.
func (c *Controller) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func publishError(name string, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == 10077 || apiErr.Code == 503) {
		return fmt.Errorf("invoke %q: the activation backlog is full (%s): %w", name, apiErr.Description, ErrUnavailable)
	}
	return unavailable(fmt.Sprintf("invoke %q: publish", name), err)
}

func (c *Controller) addWaiter(id string) <-chan *activation.Record {
	ch := make(chan *activation.Record, 1)
	c.waitMu.Lock()
	c.waiters[id] = ch
	c.waitMu.Unlock()
	return ch
}

func (c *Controller) removeWaiter(id string) {
	c.waitMu.Lock()
	delete(c.waiters, id)
	c.waitMu.Unlock()
}

// onResult hands a finished activation's record to its waiter. Records
// for ids nobody waits for (timed out, redelivered twice) are dropped.
func (c *Controller) onResult(m *nats.Msg) {
	var r activation.Record
	if err := activation.DecodeRecord(m.Data, &r); err != nil {
		c.log.Warn("bad result message", "err", err)
		return
	}
	c.waitMu.Lock()
	ch := c.waiters[r.ActivationID]
	delete(c.waiters, r.ActivationID)
	c.waitMu.Unlock()
	if ch == nil {
		return
	}
	ch <- &r // buffered 1, and the waiter was removed: never blocks
}

// actionJSONs keeps the JSON of the action revisions this controller
// enqueues, by the pointer its action cache holds (cached actions are
// never changed): an activation message carries its whole action, and
// encoding the action was most of the message's json.Marshal.
type actionJSONs struct {
	mu sync.RWMutex
	m  map[*entity.Action][]byte
}

// maxActionJSONs bounds the actions kept; past it they are all dropped
// and encoded again as they come.
const maxActionJSONs = 4096

// get returns json.Marshal(a).
func (j *actionJSONs) get(a *entity.Action) ([]byte, error) {
	j.mu.RLock()
	b, ok := j.m[a]
	j.mu.RUnlock()
	if ok {
		return b, nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	if j.m == nil || len(j.m) >= maxActionJSONs {
		j.m = make(map[*entity.Action][]byte)
	}
	j.m[a] = b
	j.mu.Unlock()
	return b, nil
}
