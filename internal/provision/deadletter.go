package provision

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// Limits of the dead-letter stream. Entries wait there for an operator to
// re-drive or delete them, so they are kept longer than records (SQS, the
// usual Lambda dead-letter queue, keeps messages up to 14 days).
const (
	DeadLettersMaxAge   = 14 * 24 * time.Hour
	DeadLettersMaxBytes = 1 << 30
)

// DeadLettersStreamConfig is the dead-letter stream's configuration: one
// entry per subject (activation), the oldest dropped first when full.
func DeadLettersStreamConfig(o Options) jetstream.StreamConfig {
	o = o.WithDefaults()
	return jetstream.StreamConfig{
		Name:              names.DeadLettersStream,
		Description:       "Flurry dead-lettered asynchronous activations",
		Subjects:          []string{names.DeadLetterSubjects},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxAge:            DeadLettersMaxAge,
		MaxBytes:          DeadLettersMaxBytes,
		MaxMsgsPerSubject: 1,
		Duplicates:        DuplicateWindow,
		AllowDirect:       true,
		Storage:           o.Storage,
		Replicas:          o.Replicas,
	}
}

// ensureDeadLetters creates or updates the dead-letter stream.
func ensureDeadLetters(ctx context.Context, js jetstream.JetStream, o Options) error {
	_, err := ensureStream(ctx, js, o, DeadLettersStreamConfig(o))
	return err
}
