package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

// KindTrigger is the kind annotation of a trigger activation's record.
const KindTrigger = "trigger"

// Fire fires trigger in namespace ns with payload (a JSON object, null or
// empty) laid over the trigger's parameters: every active rule starts a
// non-blocking activation of its action with cause = the trigger
// activation's id, and the trigger activation's record (kind "trigger",
// response = the parameters, one log line per rule as OpenWhisk writes
// them) goes to the records stream. cause, if not empty, is the record's
// cause (the event that fired it).
//
// With no active rule nothing runs or is recorded and the result has no
// activation id (OpenWhisk's 204). A rule whose action cannot start (for
// example deleted, or throttled) is a failed log line, not an error.
//
// Errors: ErrNotFound (unknown trigger), ErrInvalid (payload not a JSON
// object), ErrTooLarge, ErrForbidden.
func (c *Controller) Fire(ctx context.Context, id Identity, ns, trigger string, payload json.RawMessage, cause string) (FireResult, error) {
	ns, err := triggerRef(id, ns, "trigger", trigger)
	if err != nil {
		return FireResult{}, err
	}
	if cause != "" && !activation.ValidID(cause) {
		return FireResult{}, fmt.Errorf("fire %q: cause %s: %w", trigger, quoteShort(cause), ErrInvalid)
	}
	return c.fire(ctx, id, ns, trigger, payload, cause, "", 0)
}

// AnnotationScheduled is the annotation of a timer-fired trigger
// activation: the tick's scheduled time, Unix ms.
const AnnotationScheduled = "scheduled"

// fire is Fire with a given trigger activation id (empty: a new one) and,
// for timer ticks, the scheduled time (0: none). Timers give an id derived
// from the tick, so a re-fired tick makes the same ids and JetStream drops
// the copies.
func (c *Controller) fire(ctx context.Context, id Identity, ns, name string, payload json.RawMessage, cause, aid string, scheduled int64) (FireResult, error) {
	if len(payload) > entity.MaxPayloadBytes {
		return FireResult{}, fmt.Errorf("fire %q: payload is %d bytes, over %d: %w", name, len(payload), entity.MaxPayloadBytes, ErrTooLarge)
	}
	t, err := c.trigger(ctx, ns, name)
	if err != nil {
		return FireResult{}, err
	}
	params, err := mergeParams(t.Parameters, payload)
	if err != nil {
		return FireResult{}, fmt.Errorf("fire %q: %w", name, err)
	}
	// Refused here, not in each rule's invoke, where it would be a failed
	// log line behind a fire that said it succeeded.
	if len(params) > entity.MaxPayloadBytes {
		return FireResult{}, fmt.Errorf("fire %q: payload with the trigger's parameters is %d bytes, over %d: %w", name, len(params), entity.MaxPayloadBytes, ErrTooLarge)
	}
	rules, err := c.ActiveRules(ctx, ns, name)
	if err != nil {
		return FireResult{}, err
	}
	if len(rules) == 0 {
		c.log.Debug("trigger fired without active rules", "namespace", ns, "trigger", name)
		return FireResult{}, nil
	}
	if aid == "" {
		aid = activation.NewID()
	}
	log := c.log.With("activation", aid, "namespace", ns, "trigger", name)
	start := now()
	res := FireResult{ActivationID: aid}
	for _, r := range rules {
		rf := RuleFired{Rule: ns + "/" + r.Name, Action: ns + "/" + r.Action}
		ir, err := c.Invoke(ctx, id, InvokeRequest{Namespace: ns, Name: r.Action, Params: params, Cause: aid,
			activationID: derivedID(aid, r.Name)})
		if err != nil {
			rf.StatusCode, rf.Error = fireStatus(err), err.Error()
			log.Warn("rule did not start its action", "rule", r.Name, "action", r.Action, "err", err)
		} else {
			rf.Success, rf.ActivationID = true, ir.ActivationID
		}
		res.Rules = append(res.Rules, rf)
	}
	rec := &activation.Record{
		ActivationID: aid,
		Namespace:    ns,
		Name:         name,
		Version:      t.Version,
		Subject:      id.UUID,
		Start:        start,
		End:          now(),
		Response:     activation.NewResponse(activation.StatusSuccess, params),
		Logs:         make([]string, 0, len(res.Rules)),
		Annotations:  []entity.KeyValue{},
		Cause:        cause,
	}
	if rec.Subject == "" {
		rec.Subject = ns
	}
	rec.Duration = rec.End - rec.Start
	for _, rf := range res.Rules {
		b, _ := json.Marshal(rf)
		rec.Logs = append(rec.Logs, string(b))
	}
	rec.Annotate(activation.AnnotationPath, ns+"/"+name)
	rec.Annotate(activation.AnnotationKind, KindTrigger)
	if cause != "" {
		rec.Annotate(activation.AnnotationCausedBy, cause)
	}
	if scheduled != 0 {
		rec.Annotate(AnnotationScheduled, scheduled)
	}
	// The actions run already: a lost record is logged, not returned, so a
	// caller does not fire again.
	if err := c.writeRecord(ctx, rec); err != nil {
		log.Error("trigger record not written", "err", err)
	}
	log.Info("trigger fired", "rules", len(res.Rules))
	return res, nil
}

// fireStatus is the status code of a rule's log line whose action did not
// start: the caller's fault (1) or the platform's (3).
func fireStatus(err error) int {
	for _, e := range []error{ErrNotFound, ErrForbidden, ErrInvalid, ErrTooLarge} {
		if errors.Is(err, e) {
			return activation.StatusApplicationError
		}
	}
	return activation.StatusInternalError
}

// derivedID is an activation id made from another and a salt: the same
// inputs give the same id.
func derivedID(base, salt string) string {
	sum := sha256.Sum256([]byte(base + "\x00" + salt))
	return hex.EncodeToString(sum[:16])
}

// writeRecord stores a record the controller makes itself (trigger and
// sequence activations) as invokers do: activation.RecordMsg, a few
// attempts. A record already there (an earlier attempt was stored after
// all) is success: the activation has its one record.
func (c *Controller) writeRecord(ctx context.Context, rec *activation.Record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("record %s: %w", rec.ActivationID, err)
	}
	msg := activation.RecordMsg(rec.Namespace, rec.ActivationID, data)
	// Written even when the caller has left: the activations ran.
	ctx = context.WithoutCancel(ctx)
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-c.done:
				return fmt.Errorf("record %s: controller closed: %w", rec.ActivationID, err)
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = c.js.PublishMsg(pctx, msg)
		cancel()
		if err == nil || activation.Recorded(err) {
			return nil
		}
	}
	return unavailable(fmt.Sprintf("record %s", rec.ActivationID), err)
}
