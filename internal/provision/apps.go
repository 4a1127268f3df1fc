package provision

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// AppsHistory is how many revisions of an app the KV keeps.
const AppsHistory = 5

// ensureApps creates the KV bucket of web apps (ADR 010).
func ensureApps(ctx context.Context, js jetstream.JetStream, opts Options) error {
	return ensureKeyValue(ctx, js, opts, jetstream.KeyValueConfig{
		Bucket:      names.AppsBucket,
		Description: "Flurry web apps: code revision and route table, one entry per app",
		History:     AppsHistory,
		Storage:     opts.Storage,
	})
}
