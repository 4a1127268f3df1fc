package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/names"
)

// Dead letters are asynchronous activations that failed after their last
// attempt (invoker/settle.go writes them to names.DeadLettersStream, one
// per activation id). The controller lists, reads, deletes and re-drives
// them; it never writes new ones.

// ListDeadLetters returns the namespace's dead letters, newest first,
// paged by skip and limit. Entries are summaries: without the params,
// the record's logs and its result (GetDeadLetter has them).
//
// The stream is in dead-letter order, so the scan reads a window at its
// end and widens it (×8) until it holds skip+limit of the namespace's
// entries or covers the stream.
//
// Errors: ErrInvalid (bounds), ErrForbidden, ErrUnavailable.
func (c *Controller) ListDeadLetters(ctx context.Context, id Identity, ns string, skip, limit int) ([]*activation.DeadLetter, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return nil, err
	}
	if limit, err = listBounds(skip, limit); err != nil {
		return nil, err
	}
	s, err := c.deadLetters(ctx)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, unavailable("list dead letters", err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs == 0 {
		return []*activation.DeadLetter{}, nil
	}
	need := skip + limit
	var out []*activation.DeadLetter
	for window := uint64(max(4*need, 256)); ; window *= 8 {
		start := first
		if last >= first+window {
			start = last - window + 1
		}
		if out, err = c.scanDeadLetters(ctx, ns, max(start, 1)); err != nil {
			return nil, err
		}
		if start <= first || len(out) >= need {
			break
		}
	}
	slices.Reverse(out)
	out = out[min(skip, len(out)):]
	out = out[:min(limit, len(out))]
	for _, dl := range out {
		dl.Message.Params = nil
		dl.Record.Logs = []string{}
		dl.Record.Response.Result = nil
	}
	return out, nil
}

// scanDeadLetters reads the namespace's dead letters from sequence start
// to the end of the stream as it is now, oldest first.
func (c *Controller) scanDeadLetters(ctx context.Context, ns string, start uint64) ([]*activation.DeadLetter, error) {
	cons, err := c.js.CreateConsumer(ctx, names.DeadLettersStream, jetstream.ConsumerConfig{
		FilterSubject:     names.DeadLetterNamespaceSubject(ns),
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return nil, unavailable("list dead letters", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = c.js.DeleteConsumer(dctx, names.DeadLettersStream, cons.CachedInfo().Name)
		cancel()
	}()
	pending := int(cons.CachedInfo().NumPending)
	out := []*activation.DeadLetter{}
	for pending > 0 {
		batch, err := cons.Fetch(min(pending, 500), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, unavailable("list dead letters", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var dl activation.DeadLetter
			if err := json.Unmarshal(m.Data(), &dl); err != nil {
				c.log.Warn("bad dead letter", "subject", m.Subject(), "err", err)
				continue
			}
			out = append(out, &dl)
		}
		if err := batch.Error(); err != nil {
			return nil, unavailable("list dead letters", err)
		}
		if got == 0 {
			break
		}
		pending -= got
	}
	return out, nil
}

// GetDeadLetter returns the dead letter of activation activationID.
// Errors: ErrNotFound, ErrInvalid, ErrForbidden, ErrUnavailable.
func (c *Controller) GetDeadLetter(ctx context.Context, id Identity, ns, activationID string) (*activation.DeadLetter, error) {
	dl, _, err := c.deadLetter(ctx, id, ns, activationID)
	return dl, err
}

// DeleteDeadLetter removes the dead letter of activation activationID
// and returns it.
// Errors: ErrNotFound, ErrInvalid, ErrForbidden, ErrUnavailable.
func (c *Controller) DeleteDeadLetter(ctx context.Context, id Identity, ns, activationID string) (*activation.DeadLetter, error) {
	dl, raw, err := c.deadLetter(ctx, id, ns, activationID)
	if err != nil {
		return nil, err
	}
	if err := c.removeDeadLetter(ctx, raw); err != nil {
		return nil, err
	}
	c.log.Info("dead letter deleted", "activation", activationID, "namespace", dl.Namespace)
	return dl, nil
}

// RedriveDeadLetter starts a new asynchronous activation of the dead
// letter's action (its current revision) with the dead activation's
// params, caused by it, and removes the dead letter. The entry is removed
// first, so two concurrent re-drives start one activation: the other gets
// ErrNotFound. If the new activation cannot be admitted, the entry is put
// back and Invoke's error returned.
//
// Errors: ErrNotFound (no such dead letter, or its action is gone),
// ErrInvalid, ErrForbidden, ErrUnavailable, and Invoke's.
func (c *Controller) RedriveDeadLetter(ctx context.Context, id Identity, ns, activationID string) (*InvokeResult, error) {
	dl, raw, err := c.deadLetter(ctx, id, ns, activationID)
	if err != nil {
		return nil, err
	}
	if err := c.removeDeadLetter(ctx, raw); err != nil {
		return nil, err
	}
	res, err := c.Invoke(ctx, id, InvokeRequest{Namespace: dl.Namespace, Name: dl.Name, Params: dl.Message.Params, Cause: dl.ActivationID})
	if err != nil {
		// No Nats-Msg-Id: the original's may still be in the duplicate window.
		if _, perr := c.js.PublishMsg(context.WithoutCancel(ctx), &nats.Msg{Subject: raw.Subject, Data: raw.Data}); perr != nil {
			c.log.Error("dead letter lost: re-drive failed and it could not be put back", "activation", activationID,
				"err", err, "putBackErr", perr)
		}
		return nil, fmt.Errorf("re-drive %s: %w", activationID, err)
	}
	c.log.Info("dead letter re-driven", "activation", activationID, "namespace", dl.Namespace, "action", dl.Name,
		"new_activation", res.ActivationID)
	return res, nil
}

// deadLetter reads one dead letter and its stream message.
func (c *Controller) deadLetter(ctx context.Context, id Identity, ns, activationID string) (*activation.DeadLetter, *jetstream.RawStreamMsg, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return nil, nil, err
	}
	if !activation.ValidID(activationID) {
		return nil, nil, fmt.Errorf("activation id %s: %w", quoteShort(activationID), ErrInvalid)
	}
	s, err := c.deadLetters(ctx)
	if err != nil {
		return nil, nil, err
	}
	raw, err := s.GetLastMsgForSubject(ctx, names.DeadLetterSubject(ns, activationID))
	if isNotFound(err) {
		return nil, nil, fmt.Errorf("dead letter %s in namespace %q: %w", activationID, ns, ErrNotFound)
	}
	if err != nil {
		return nil, nil, unavailable("get dead letter", err)
	}
	var dl activation.DeadLetter
	if err := json.Unmarshal(raw.Data, &dl); err != nil {
		return nil, nil, fmt.Errorf("dead letter %s: bad entry: %w", activationID, err)
	}
	return &dl, raw, nil
}

// removeDeadLetter deletes one stream message; a message deleted
// meanwhile (a concurrent delete or re-drive) is ErrNotFound.
func (c *Controller) removeDeadLetter(ctx context.Context, raw *jetstream.RawStreamMsg) error {
	s, err := c.deadLetters(ctx)
	if err != nil {
		return err
	}
	err = s.DeleteMsg(ctx, raw.Sequence)
	if errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) || isNotFound(err) {
		return fmt.Errorf("dead letter %s: %w", raw.Subject, ErrNotFound)
	}
	if err != nil {
		return unavailable("delete dead letter", err)
	}
	return nil
}

// deadLetters returns the dead-letter stream (provisioned by New).
func (c *Controller) deadLetters(ctx context.Context) (jetstream.Stream, error) {
	s, err := c.js.Stream(ctx, names.DeadLettersStream)
	if err != nil {
		return nil, unavailable("dead-letter stream", err)
	}
	return s, nil
}
