package provision

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// RoutesHistory is how many revisions of a namespace's route table the KV
// keeps.
const RoutesHistory = 5

// ensureRoutes creates the KV bucket of HTTP routes (ADR 009).
func ensureRoutes(ctx context.Context, js jetstream.JetStream, opts Options) error {
	return ensureKeyValue(ctx, js, opts, jetstream.KeyValueConfig{
		Bucket:      names.RoutesBucket,
		Description: "Flurry HTTP routes, one route table per namespace",
		History:     RoutesHistory,
		Storage:     opts.Storage,
	})
}
