package invoker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/backoff"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
)

// Backoff defaults of a RetryPolicy whose fields are zero.
const (
	DefaultRetryBackoff    = time.Second
	DefaultRetryMaxBackoff = 5 * time.Minute
)

// retryPlan is what to do with a failed asynchronous activation.
type retryPlan struct {
	retry bool
	// delay before the next attempt, when retry.
	delay time.Duration
	// reason the activation is dead-lettered, when !retry.
	reason string
}

// planRetry decides on a failed asynchronous activation of an action with
// policy p after delivery number attempt (1 for the first), age after its
// admission. jitter(d) returns a value in [0, d].
//
// The backoff before attempt k+1 is min(MaxBackoff, InitialBackoff·2^(k-1))
// with full jitter (backoff.FullJitter), and never runs past MaxEventAge:
// the last retry then starts at the age limit.
func planRetry(p *entity.RetryPolicy, attempt int, age time.Duration, jitter func(time.Duration) time.Duration) retryPlan {
	if p == nil {
		return retryPlan{reason: activation.ReasonRetriesExhausted}
	}
	maxAge := time.Duration(p.MaxEventAge) * time.Millisecond
	if maxAge > 0 && age >= maxAge {
		return retryPlan{reason: activation.ReasonMaxEventAge}
	}
	if attempt >= p.MaxAttempts {
		return retryPlan{reason: activation.ReasonRetriesExhausted}
	}
	b := backoff.Exponential{
		Initial: time.Duration(p.InitialBackoff) * time.Millisecond,
		Max:     time.Duration(p.MaxBackoff) * time.Millisecond,
	}
	if b.Initial <= 0 {
		b.Initial = DefaultRetryBackoff
	}
	if b.Max <= 0 {
		b.Max = DefaultRetryMaxBackoff
	}
	delay := jitter(b.Ceiling(attempt))
	if maxAge > 0 {
		delay = min(delay, maxAge-age)
	}
	return retryPlan{retry: true, delay: delay}
}

// deliveries is msg's delivery count: the attempt number of this run.
//
// It counts every delivery, also those that never reached /run (the
// invoker stopped, or died holding the message). So a policy's
// MaxAttempts bounds the runs of an activation from above; a delivery
// lost to a platform fault spends an attempt rather than adding one.
func deliveries(msg jetstream.Msg) int {
	md, err := msg.Metadata()
	if err != nil || md.NumDelivered == 0 {
		return 1
	}
	return int(md.NumDelivered)
}

// asyncDone completes an asynchronous activation whose record is stored:
// it publishes the dead letter (when the record says it is one) and sends
// the record to the action's destination. It is also run for a redelivered
// message that finds its record already stored, so a crash between the
// record and these steps does not lose them (destinations are therefore
// at least once). It returns an error only when the dead letter could not
// be stored.
func (i *Invoker) asyncDone(ctx context.Context, log *slog.Logger, m *activation.Message, rec *activation.Record, data []byte) error {
	if m.Blocking {
		return nil
	}
	if raw := rec.Annotation(activation.AnnotationDeadLetter); raw != nil {
		var reason string
		_ = json.Unmarshal(raw, &reason)
		var attempts int
		_ = json.Unmarshal(rec.Annotation(activation.AnnotationAttempts), &attempts)
		if err := i.writeDeadLetter(ctx, log, m, rec, reason, attempts); err != nil {
			return err
		}
		log.Warn("activation dead-lettered", "reason", reason, "attempts", attempts,
			"status", rec.Response.Status)
	}
	i.sendToDestination(log, m, rec, data)
	return nil
}

// sendToDestination publishes the record (JSON) to the action's OnSuccess
// or OnFailure subject over core NATS, with headers naming the activation
// and its status.
func (i *Invoker) sendToDestination(log *slog.Logger, m *activation.Message, rec *activation.Record, data []byte) {
	d := m.Action.Destinations
	if d == nil {
		return
	}
	subject := d.OnFailure
	if rec.Response.Success {
		subject = d.OnSuccess
	}
	if subject == "" {
		return
	}
	// The controller checks destinations against the namespace's event
	// space (ADR 020); an action stored before that check must still not
	// write into Flurry's subjects or another tenant's events.
	if !names.PublishableSubject(m.Namespace, subject) {
		log.Error("destination outside the namespace's event space: not sent", "subject", subject)
		return
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(names.HeaderActivationID, rec.ActivationID)
	msg.Header.Set(names.HeaderStatus, rec.Response.Status)
	if err := i.nc.PublishMsg(msg); err != nil {
		log.Warn("send record to destination", "subject", subject, "err", err)
	}
}

// writeDeadLetter stores m's dead letter, deduplicated by activation id,
// retrying like writeRecord. An entry too large for one NATS message
// loses the record's logs, then its result.
func (i *Invoker) writeDeadLetter(ctx context.Context, log *slog.Logger, m *activation.Message, rec *activation.Record, reason string, attempts int) error {
	dl := activation.DeadLetter{
		ActivationID: m.ActivationID,
		Namespace:    m.Namespace,
		Name:         m.Action.Name,
		Reason:       reason,
		Attempts:     attempts,
		Time:         time.Now().UnixMilli(),
		Message:      *m,
		Record:       *rec,
	}
	limit := int(i.nc.MaxPayload()) - recordHeadroom
	data := mustJSON(&dl)
	if len(data) > limit {
		dl.Record.Logs = []string{"Logs were dropped because the dead letter exceeded the message size limit."}
		if data = mustJSON(&dl); len(data) > limit {
			dl.Record.Response.Result = activation.ErrorResult("The result was dropped because the dead letter exceeded the message size limit.")
			data = mustJSON(&dl)
		}
		log.Warn("dead letter trimmed to fit a NATS message", "limit", limit)
	}
	msg := &nats.Msg{
		Subject: names.DeadLetterSubject(m.Namespace, m.ActivationID),
		Data:    data,
		Header:  nats.Header{names.HeaderMsgID: []string{m.ActivationID}},
	}
	if err := i.publishRetrying(ctx, log, msg); err != nil {
		return fmt.Errorf("write dead letter to %s: %w", msg.Subject, err)
	}
	return nil
}
