package provision

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// AdmissionMaxAge is how long an admission entry outlives its last write.
// Rate entries are needed for one minute; concurrency leases are rewritten
// while held (ADR 005), so only abandoned entries age out.
const AdmissionMaxAge = 2 * time.Minute

// ensureAdmission creates the buckets of admission control: limit overrides
// (kept like entities) and the controllers' shared admission state, which
// lives in memory: it is rebuilt from live controllers within a lease
// period, and losing it with the servers costs at most one extra minute's
// rate allowance. Memory streams replicate like file streams, so with
// replicas it survives the loss of one server.
func ensureAdmission(ctx context.Context, js jetstream.JetStream, opts Options) error {
	if err := ensureKeyValue(ctx, js, opts, jetstream.KeyValueConfig{
		Bucket:      names.LimitsBucket,
		Description: "Flurry per-namespace limit overrides",
		Storage:     opts.Storage,
	}); err != nil {
		return err
	}
	return ensureKeyValue(ctx, js, opts, jetstream.KeyValueConfig{
		Bucket:      names.AdmissionBucket,
		Description: "Flurry admission state: concurrency leases and per-minute tokens",
		TTL:         AdmissionMaxAge,
		Storage:     jetstream.MemoryStorage,
	})
}
