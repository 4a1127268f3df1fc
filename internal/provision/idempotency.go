package provision

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// IdempotencyWindow is how long an Idempotency-Key keeps answering with
// its first activation (ADR 025): a day, as clients that retry (Stripe's,
// AWS's) expect, and far past the activations stream's DuplicateWindow,
// which only covers a controller's own publish retries.
const IdempotencyWindow = 24 * time.Hour

// ensureIdempotency creates the bucket of Idempotency-Keys. It is stored
// like the records: a retry after a server restart must still find the
// activation its key started.
func ensureIdempotency(ctx context.Context, js jetstream.JetStream, opts Options) error {
	return ensureKeyValue(ctx, js, opts, jetstream.KeyValueConfig{
		Bucket:      names.IdempotencyBucket,
		Description: "Flurry Idempotency-Keys: the activation each key started",
		TTL:         IdempotencyWindow,
		Storage:     opts.Storage,
	})
}
