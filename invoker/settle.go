package invoker

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/backoff"
	"github.com/flurryfn/flurry/internal/names"
)

// settle finishes an activation that produced rec. handle keeps msg in
// progress while settle runs, so settle may take its time.
//
// A failed asynchronous (non-blocking) activation of an action with a
// retry policy that allows another attempt is not recorded: msg is nak'd
// with the policy's backoff and runs again (Lambda's asynchronous
// invocation; a blocking caller decides on retries itself). Otherwise
// settle stores the record (once per activation id), then sends it to a
// waiting caller, and for an asynchronous activation publishes the dead
// letter of a final failure under a retry policy and the record to the
// action's destination; then it acks msg.
//
// A record or dead letter that JetStream does not store is retried for up
// to RecordRetry with the result in memory (publishRetrying), msg still in
// progress, so a records stream that is electing a leader delays the
// caller's answer instead of losing it. Only past that bound is msg left
// unacked: it comes back after AckWait and finds no record (runs again,
// or is recorded as lost; see lostRun) or finds the record (the dead
// letter is written then, see storedRecord).
func (i *Invoker) settle(ctx context.Context, log *slog.Logger, msg jetstream.Msg, m *activation.Message, rec *activation.Record) {
	attempt := deliveries(msg)
	policy := m.Action.Retry
	if !m.Blocking && policy != nil && !rec.Response.Success {
		age := time.Since(time.UnixMilli(m.Admitted))
		plan := planRetry(policy, attempt, age, backoff.FullJitter)
		if plan.retry {
			log.Info("asynchronous activation failed; retrying", "attempt", attempt,
				"maxAttempts", policy.MaxAttempts, "delay", plan.delay, "status", rec.Response.Status)
			// Handed back: the next delivery may come to this invoker at
			// once and must not take it for still held (held.go).
			i.held.drop(m.ActivationID)
			if err := msg.NakWithDelay(plan.delay); err != nil {
				// Still unacked: it comes back after AckWait instead.
				log.Warn("nak for retry", "err", err)
			}
			return
		}
		rec.Annotate(activation.AnnotationDeadLetter, plan.reason)
	}
	if policy != nil || attempt > 1 {
		rec.Annotate(activation.AnnotationAttempts, attempt)
	}
	data := i.encodeRecord(log, rec)
	if err := i.writeRecord(ctx, log, m, data); activation.Recorded(err) {
		// An earlier run recorded this activation (its invoker was taken
		// for lost, or a retried publish was stored after all): that
		// record is the result, as on a redelivery.
		if !i.settleStored(ctx, log, msg, m) {
			log.Error("activation already recorded but its record is unreadable; leaving the message for redelivery")
			return
		}
		log.Info("activation already had a record; replied with it, not with this run's")
		return
	} else if err != nil {
		// Loud: this run's result is lost. The redelivery runs the
		// activation again or, when it began and its action allows no
		// retries, records it as lost (status 3).
		log.Error("activation result dropped: record not stored within the retry bound; leaving the message for redelivery",
			"status", rec.Response.Status, "retryFor", i.cfg.RecordRetry, "err", err)
		return
	}
	// Only a stored record is a result (ADR 016): the caller can read it
	// back by id at once, and a crash from here on cannot make a re-run
	// whose record differs from what the caller saw.
	if reply := msg.Headers().Get(names.HeaderReply); reply != "" {
		i.reply(log, reply, data)
	}
	if err := i.asyncDone(ctx, log, m, rec, data); err != nil {
		log.Error("dead letter not written; leaving the message for redelivery", "err", err)
		return
	}
	i.ack(log, msg)
}

// settleStored settles msg with the record m already has, if it has one
// (storedRecord): the waiting caller gets that record and msg is acked.
// It reports whether there was one.
func (i *Invoker) settleStored(ctx context.Context, log *slog.Logger, msg jetstream.Msg, m *activation.Message) bool {
	rec, ok := i.storedRecord(ctx, m)
	if !ok {
		return false
	}
	if reply := msg.Headers().Get(names.HeaderReply); reply != "" {
		i.reply(log, reply, rec)
	}
	i.ack(log, msg)
	return true
}
