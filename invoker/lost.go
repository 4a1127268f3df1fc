package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/names"
)

// msgLost is the result of an activation whose invoker was lost after it
// began the activation, when the action does not allow it to run twice.
const msgLost = "The invoker running this activation was lost; the action does not allow retries."

// startedMarker is what an invoker stores before it runs an activation.
type startedMarker struct {
	Invoker string `json:"invoker"`
	At      int64  `json:"at"` // Unix ms
}

// markStarted stores, without waiting, that this invoker begins to run m.
// It is read only when m is redelivered (see lostRun). The returned
// function reports a failed store; call it once the activation is done.
func (i *Invoker) markStarted(log *slog.Logger, m *activation.Message) (check func()) {
	data, _ := json.Marshal(startedMarker{Invoker: i.cfg.ID, At: time.Now().UnixMilli()})
	f, err := i.js.PublishMsgAsync(&nats.Msg{Subject: names.StartedSubject(m.ActivationID), Data: data})
	if err != nil {
		log.Warn("started marker not stored; a redelivery would run the activation again", "err", err)
		return func() {}
	}
	return func() {
		select {
		case err := <-f.Err():
			log.Warn("started marker not stored; a redelivery would run the activation again", "err", err)
		default:
		}
	}
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
	s, err := i.js.Stream(ctx, names.StartedStream)
	var raw *jetstream.RawStreamMsg
	if err == nil {
		raw, err = s.GetLastMsgForSubject(ctx, names.StartedSubject(m.ActivationID))
	}
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
	return i.lostRecord(m), true
}

// lostRecord is the internal-error record of an activation lost with its
// invoker.
func (i *Invoker) lostRecord(m *activation.Message) *activation.Record {
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
		Response:     activation.NewResponse(activation.StatusInternalError, activation.ErrorResult(msgLost)),
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
