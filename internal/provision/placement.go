package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// Placement settings (ADR 004).
const (
	// InvokerAckWait is how long an invoker may hold an activation without
	// acking or progress-acking it before it is redelivered to another:
	// the time a killed invoker's activations wait. Invokers progress-ack
	// every third of it.
	InvokerAckWait = 6 * time.Second
	// InvokerMaxAckPending bounds activations in flight per partition.
	InvokerMaxAckPending = 10000
	// StartedMaxAge keeps started markers longer than any activation can
	// run plus its redelivery.
	StartedMaxAge = 24 * time.Hour
	// StartedMaxBytes bounds the started stream; the oldest go first.
	StartedMaxBytes = 256 << 20
)

// PartitionConsumerConfig is the durable pull consumer of activation
// partition p: an overflow priority group, so the partition's owner pulls
// plainly and other invokers only past a backlog (min_pending).
func PartitionConsumerConfig(p int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        names.PartitionConsumer(p),
		Description:    fmt.Sprintf("Flurry invokers, activation partition %d", p),
		FilterSubject:  names.PartitionSubject(p),
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        InvokerAckWait,
		MaxAckPending:  InvokerMaxAckPending,
		MaxDeliver:     -1,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		PriorityPolicy: jetstream.PriorityPolicyOverflow,
		PriorityGroups: []string{names.InvokerPriorityGroup},
	}
}

// StartedStreamConfig is the configuration of the started markers' stream.
func StartedStreamConfig(o Options) jetstream.StreamConfig {
	o = o.WithDefaults()
	return jetstream.StreamConfig{
		Name:              names.StartedStream,
		Description:       "Flurry activations an invoker began to run (read on redelivery)",
		Subjects:          []string{names.StartedSubjects},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxAge:            StartedMaxAge,
		MaxBytes:          StartedMaxBytes,
		MaxMsgsPerSubject: 1,
		AllowDirect:       true,
		Storage:           o.Storage,
		Replicas:          o.Replicas,
	}
}

// ensurePlacement creates the started stream and the partition consumers.
// A work-queue stream forbids overlapping consumers, so the single
// consumer of ADR 001 is deleted first where an old data dir has it; its
// unacked activations become available to the partition consumers.
func ensurePlacement(ctx context.Context, js jetstream.JetStream, o Options) error {
	if _, err := ensureStream(ctx, js, o, StartedStreamConfig(o)); err != nil {
		return err
	}
	err := js.DeleteConsumer(ctx, names.ActivationsStream, names.InvokerConsumer)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("provision: delete the old consumer %s: %w", names.InvokerConsumer, err)
	}
	for p := range names.Partitions {
		if _, err := js.CreateOrUpdateConsumer(ctx, names.ActivationsStream, PartitionConsumerConfig(p)); err != nil {
			return fmt.Errorf("provision: consumer %s: %w", names.PartitionConsumer(p), err)
		}
	}
	return nil
}
