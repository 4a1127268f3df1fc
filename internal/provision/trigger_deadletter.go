package provision

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// TriggerDeadLettersStreamConfig is the configuration of the stream of
// dead-lettered trigger messages (ADR 008): one entry per failed message,
// kept as long as the activation dead letters, the oldest dropped first
// when full.
func TriggerDeadLettersStreamConfig(o Options) jetstream.StreamConfig {
	o = o.WithDefaults()
	return jetstream.StreamConfig{
		Name:        names.TriggerDeadLettersStream,
		Description: "Flurry trigger messages that failed after their retries",
		Subjects:    []string{names.TriggerDeadLetterSubjects},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      DeadLettersMaxAge,
		MaxBytes:    DeadLettersMaxBytes,
		// A controller that dead-letters a JetStream message and dies
		// before its ack writes the entry again with the same Nats-Msg-Id.
		Duplicates:  DuplicateWindow,
		AllowDirect: true,
		Storage:     o.Storage,
		Replicas:    o.Replicas,
	}
}

// EnsureTriggerDeadLetters creates or updates the trigger dead-letter
// stream. Controllers call it when they start their message sources.
func EnsureTriggerDeadLetters(ctx context.Context, js jetstream.JetStream, opts Options) error {
	opts, err := Resolve(ctx, js, opts.WithDefaults())
	if err != nil {
		return err
	}
	_, err = ensureStream(ctx, js, opts, TriggerDeadLettersStreamConfig(opts))
	return err
}
