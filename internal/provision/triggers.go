package provision

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// Timer ticks (ADR 007).
const (
	// TicksMaxAge drops ticks no controller fired within it (all
	// controllers down): a tick is worth little once late.
	TicksMaxAge = time.Hour
	// TicksDuplicateWindow is how long the ticks stream remembers a tick
	// id. It must exceed the clock skew between controllers; the timers
	// KV guards ticks farther apart.
	TicksDuplicateWindow = 2 * time.Minute
	// TicksAckWait is how long a controller has to fire a tick before it
	// is redelivered to another.
	TicksAckWait = 30 * time.Second
)

// TicksStreamConfig is the timer ticks work queue's configuration.
func TicksStreamConfig(o Options) jetstream.StreamConfig {
	o = o.WithDefaults()
	return jetstream.StreamConfig{
		Name:        names.TicksStream,
		Description: "Flurry timer ticks (work queue, one per trigger and scheduled time)",
		Subjects:    []string{names.TickSubjects},
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      TicksMaxAge,
		Duplicates:  TicksDuplicateWindow,
		Storage:     o.Storage,
		Replicas:    o.Replicas,
	}
}

// TicksConsumerConfig is the durable consumer all controllers share to
// fire ticks.
func TicksConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       names.TicksConsumer,
		Description:   "Flurry controllers firing timer ticks",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       TicksAckWait,
		MaxDeliver:    5,
		FilterSubject: names.TickSubjects,
	}
}

// EnsureTriggers creates or updates the triggers and rules buckets, the
// timers bucket and the ticks stream with its consumer.
func EnsureTriggers(ctx context.Context, js jetstream.JetStream, opts Options) error {
	opts, err := Resolve(ctx, js, opts.WithDefaults())
	if err != nil {
		return err
	}
	for _, b := range []struct{ name, desc string }{
		{names.TriggersBucket, "Flurry triggers"},
		{names.RulesBucket, "Flurry rules"},
		{names.TimersBucket, "Flurry timer state: last fired tick per trigger"},
	} {
		if err := ensureKeyValue(ctx, js, opts, jetstream.KeyValueConfig{
			Bucket:      b.name,
			Description: b.desc,
			Storage:     opts.Storage,
		}); err != nil {
			return err
		}
	}
	s, err := ensureStream(ctx, js, opts, TicksStreamConfig(opts))
	if err != nil {
		return err
	}
	if _, err := s.CreateOrUpdateConsumer(ctx, TicksConsumerConfig()); err != nil {
		return fmt.Errorf("provision: consumer %s: %w", names.TicksConsumer, err)
	}
	return nil
}
