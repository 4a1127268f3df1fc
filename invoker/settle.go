package invoker

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/names"
)

// settle finishes an activation that produced rec: it sends the record to
// a waiting caller, stores it, and acks msg. handle keeps msg in progress
// while settle runs, so settle may take its time (retries, destinations).
// A record that cannot be stored leaves msg unacked: it comes back after
// AckWait and, finding no record, runs again.
func (i *Invoker) settle(ctx context.Context, log *slog.Logger, msg jetstream.Msg, m *activation.Message, rec *activation.Record) {
	data := i.encodeRecord(log, rec)
	if reply := msg.Headers().Get(names.HeaderReply); reply != "" {
		i.reply(log, reply, data)
	}
	if err := i.writeRecord(ctx, m, data); err != nil {
		log.Error("activation record not written; leaving the message for redelivery", "err", err)
		return
	}
	i.ack(log, msg)
}
