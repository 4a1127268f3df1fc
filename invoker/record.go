package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/backoff"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/stored"
	"github.com/flurryfn/flurry/invoker/pool"
)

const (
	recordTimeout = 5 * time.Second
	// recordHeadroom leaves room for NATS headers under the max payload.
	recordHeadroom = 4 << 10
)

// recordBackoff paces the retries of a record or dead letter JetStream
// did not store: quick at first (a leader election takes seconds), then
// every 2 s at most, jittered so that invokers holding many results do
// not return to a new leader all at once.
var recordBackoff = backoff.Exponential{Initial: 100 * time.Millisecond, Max: 2 * time.Second}

// encodeRecord marshals rec, dropping log lines from the end when the
// record would not fit in one NATS message.
func (i *Invoker) encodeRecord(log *slog.Logger, rec *activation.Record) []byte {
	limit := int(i.nc.MaxPayload()) - recordHeadroom
	data := mustJSON(rec)
	if len(data) <= limit || len(rec.Logs) == 0 {
		return data
	}
	size := len(data)
	logs := rec.Logs
	for len(logs) > 0 && size > limit {
		size -= len(logs[len(logs)-1]) + 3
		logs = logs[:len(logs)-1]
	}
	rec.Logs = append(logs[:len(logs):len(logs)],
		fmt.Sprintf("Logs were truncated because the record exceeded %d bytes.", limit))
	log.Warn("record logs truncated to fit a NATS message", "bytes", len(data), "limit", limit)
	if data = mustJSON(rec); len(data) > limit {
		// Escaping made the estimate short: keep only the notice.
		rec.Logs = rec.Logs[len(rec.Logs)-1:]
		data = mustJSON(rec)
	}
	return data
}

// reply sends the record to the caller waiting on subject (core NATS:
// if nobody listens any more, the record stream still has it).
func (i *Invoker) reply(log *slog.Logger, subject string, data []byte) {
	if err := i.nc.Publish(subject, data); err != nil {
		log.Warn("send result to caller", "subject", subject, "err", err)
	}
}

// writeRecord stores the record in the records stream, once per
// activation id (activation.RecordMsg), retrying for up to RecordRetry
// (publishRetrying). An error for which activation.Recorded holds means
// another run of the activation recorded first, or an attempt of this
// one that looked failed was stored after all.
func (i *Invoker) writeRecord(ctx context.Context, log *slog.Logger, m *activation.Message, data []byte) error {
	msg := activation.RecordMsg(m.Namespace, m.ActivationID, data)
	if err := i.publishRetrying(ctx, log, msg); err != nil {
		return fmt.Errorf("write record to %s: %w", msg.Subject, err)
	}
	return nil
}

// publishRetrying publishes msg to JetStream, retrying with recordBackoff
// until RecordRetry has passed since the first attempt (an attempt begun
// before then runs to its own timeout); a refused record
// (activation.Recorded) is final. The caller holds what msg carries in
// memory all along: a stream without a leader for a few seconds delays an
// activation's settling instead of losing its result.
func (i *Invoker) publishRetrying(ctx context.Context, log *slog.Logger, msg *nats.Msg) error {
	began := time.Now()
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, recordTimeout)
		_, err := i.js.PublishMsg(pctx, msg)
		cancel()
		if err == nil || activation.Recorded(err) {
			if attempt > 1 {
				log.Info("stored after retrying", "subject", msg.Subject, "attempts", attempt,
					"waited", time.Since(began).Round(time.Millisecond))
			}
			return err
		}
		if attempt == 1 {
			log.Warn("not stored; retrying with the result kept in memory", "subject", msg.Subject,
				"retryFor", i.cfg.RecordRetry, "err", err)
		}
		delay := recordBackoff.Delay(attempt)
		if time.Since(began)+delay > i.cfg.RecordRetry {
			return fmt.Errorf("not stored in %d attempts over %v: %w", attempt,
				time.Since(began).Round(time.Millisecond), err)
		}
		if !sleep(ctx, delay) {
			return fmt.Errorf("not stored, stopped retrying: %w", errors.Join(ctx.Err(), err))
		}
	}
}

// storedRecord returns the record of m already in the records stream, if
// any (a redelivered message whose first run finished). For an
// asynchronous activation it also redoes what follows the record (dead
// letter, destination; see asyncDone), which a crash may have cut off:
// the caller acks the message next.
func (i *Invoker) storedRecord(ctx context.Context, m *activation.Message) ([]byte, bool) {
	lctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	raw, err := stored.LastMsg(lctx, i.js.Conn(), names.RecordsStream, names.RecordSubject(m.Namespace, m.ActivationID))
	if err == nil {
		i.redoAsync(ctx, m, raw.Data)
		return raw.Data, true
	}
	if !errors.Is(err, jetstream.ErrMsgNotFound) {
		i.log.Warn("look up existing record", "activation", m.ActivationID, "err", err)
	}
	return nil, false
}

// redoAsync runs asyncDone for a stored record (best effort: the message
// is acked whatever happens here).
func (i *Invoker) redoAsync(ctx context.Context, m *activation.Message, data []byte) {
	if m.Blocking {
		return
	}
	log := i.log.With("activation", m.ActivationID)
	var rec activation.Record
	if err := activation.DecodeRecord(data, &rec); err != nil {
		log.Warn("stored record undecodable; no dead letter or destination", "err", err)
		return
	}
	if err := i.asyncDone(ctx, log, m, &rec, data); err != nil {
		log.Error("dead letter of a stored record not written", "err", err)
	}
}

// health is the heartbeat an invoker publishes.
type health struct {
	ID       string `json:"id"`
	Slots    int    `json:"slots"`
	Busy     int64  `json:"busy"`
	MemoryMB int64  `json:"memoryMB"`
	UsedMB   int64  `json:"usedMB"`
	Warm     int    `json:"warm"`
	Prewarm  int    `json:"prewarm"`
	// Pool carries the pool's cumulative counters (starts by kind,
	// evictions, memory-seconds) for benchmarks and operators.
	Pool pool.Stats `json:"pool"`
	// Leaving marks an invoker's last message before it drains: the
	// others take its partitions at once (ADR 026).
	Leaving bool `json:"leaving,omitempty"`
}

// heartbeat publishes the invoker's load every HealthInterval until ctx is
// done, then its departure. Both go from this one goroutine on one
// connection, so no heartbeat can follow the departure and bring the
// invoker back into the others' view.
func (i *Invoker) heartbeat(ctx context.Context) {
	subject := fmt.Sprintf(names.InvokerHealthSubjectT, names.Token(i.cfg.ID))
	t := time.NewTicker(i.cfg.HealthInterval)
	defer t.Stop()
	for {
		s := i.pool.Stats()
		b, _ := json.Marshal(health{
			ID: i.cfg.ID, Slots: i.cfg.MaxConcurrent, Busy: i.running.Load(),
			MemoryMB: s.MemoryMB, UsedMB: s.UsedMB, Warm: s.Warm, Prewarm: s.Prewarm, Pool: s,
		})
		if err := i.nc.Publish(subject, b); err != nil {
			i.log.Warn("publish heartbeat", "err", err)
		}
		select {
		case <-ctx.Done():
			i.depart(subject)
			return
		case <-t.C:
		}
	}
}

// depart announces that this invoker stops pulling, and flushes it: the
// drain that follows may end with the connection closed.
func (i *Invoker) depart(subject string) {
	b, _ := json.Marshal(health{ID: i.cfg.ID, Slots: i.cfg.MaxConcurrent, Leaving: true})
	if err := i.nc.Publish(subject, b); err != nil {
		i.log.Warn("announce departure; the others take over after the member timeout", "err", err)
		return
	}
	if err := i.nc.FlushTimeout(time.Second); err != nil {
		i.log.Warn("flush departure", "err", err)
	}
}
