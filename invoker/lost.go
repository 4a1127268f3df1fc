package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/stored"
)

// msgLost is the result of an activation whose invoker was lost after it
// began the activation, when the action does not allow it to run twice.
const msgLost = "The invoker running this activation was lost; the action does not allow retries."

// msgExpiredT is the error of an asynchronous activation that waited in
// the queue longer than its action's maxEventAge (age, limit in ms).
const msgExpiredT = "The event waited %d ms, over the action's maxEventAge of %d ms; it was not run."

// startedMarker is what an invoker stores before it runs an activation.
type startedMarker struct {
	Invoker string `json:"invoker"`
	At      int64  `json:"at"` // Unix ms
}

// markStarted stores, without waiting, that this invoker begins to run m.
// It is read only when m is redelivered (see lostRun), and only for an
// action that allows no retries: an action that does runs again after a
// lost invoker in any case, so it gets no marker. The marker is a plain
// publish into the started stream, without JetStream's acknowledgement:
// one message less per activation, and none of the client's bookkeeping
// of pending acks. A marker the stream did not store (it was unavailable)
// makes a redelivery run the activation again, as if it had been lost
// before it began.
func (i *Invoker) markStarted(log *slog.Logger, m *activation.Message) {
	if m.Action.Retry.Retries() {
		return
	}
	data := strconv.AppendInt(append(make([]byte, 0, len(i.markerHead)+16), i.markerHead...), time.Now().UnixMilli(), 10)
	if err := i.nc.Publish(names.StartedSubject(m.ActivationID), append(data, '}')); err != nil {
		log.Warn("started marker not stored; a redelivery would run the activation again", "err", err)
	}
}

// startedMarkerHead is the JSON of invoker id's startedMarker up to the
// value of At: `{"invoker":"<id>","at":`.
func startedMarkerHead(id string) []byte {
	b, _ := json.Marshal(startedMarker{Invoker: id})
	return b[:len(b)-len("0}")]
}

// lostRun decides a redelivered activation without a record: if an
// invoker had begun it (its started marker exists) and the action does
// not allow retries, it returns the internal-error record to settle it
// with instead of running it again.
func (i *Invoker) lostRun(ctx context.Context, log *slog.Logger, m *activation.Message) (*activation.Record, bool) {
	if m.Action.Retry.Retries() {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	raw, err := stored.LastMsg(ctx, i.js.Conn(), names.StartedStream, names.StartedSubject(m.ActivationID))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, false // never began: run it
	case err != nil:
		// Without the marker we cannot tell; running again is the lesser
		// harm than failing an activation that may never have run.
		log.Warn("look up started marker; running the activation again", "err", err)
		return nil, false
	}
	var sm startedMarker
	_ = json.Unmarshal(raw.Data, &sm)
	log.Warn("activation began on a lost invoker and its action allows no retries; recording an internal error",
		"lostInvoker", sm.Invoker)
	return i.notRunRecord(m, msgLost), true
}

// expired returns the record of an asynchronous activation that waited
// in the queue past its action's MaxEventAge: it is not run, and settle
// dead-letters it (Lambda drops such events to the on-failure
// destination rather than running them late).
func (i *Invoker) expired(m *activation.Message) (*activation.Record, bool) {
	p := m.Action.Retry
	if m.Blocking || p == nil || p.MaxEventAge <= 0 || m.Admitted <= 0 {
		return nil, false
	}
	age := time.Now().UnixMilli() - m.Admitted
	if age < p.MaxEventAge {
		return nil, false
	}
	return i.notRunRecord(m, fmt.Sprintf(msgExpiredT, age, p.MaxEventAge)), true
}

// notRunRecord is the internal-error record, with error msg, of an
// activation that is settled without a run of its own.
func (i *Invoker) notRunRecord(m *activation.Message, msg string) *activation.Record {
	a := &m.Action
	now := time.Now().UnixMilli()
	rec := &activation.Record{
		ActivationID: m.ActivationID,
		Namespace:    m.Namespace,
		Name:         a.Name,
		Version:      a.Version,
		Subject:      m.Subject,
		Start:        now,
		End:          now,
		Response:     activation.NewResponse(activation.StatusInternalError, activation.ErrorResult(msg)),
		Logs:         []string{},
		Publish:      a.Publish,
		Cause:        m.Cause,
	}
	rec.Annotate(activation.AnnotationPath, a.Namespace+"/"+a.Name)
	rec.Annotate(activation.AnnotationKind, a.Exec.Kind)
	rec.Annotate(activation.AnnotationLimits, a.Limits.WithDefaults())
	if m.Admitted > 0 {
		rec.Annotate(activation.AnnotationWaitTime, max(now-m.Admitted, 0))
	}
	rec.Annotate(activation.AnnotationInvoker, i.cfg.ID)
	return rec
}
