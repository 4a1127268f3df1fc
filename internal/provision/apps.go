package provision

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// AppsHistory is how many revisions of an app the KV keeps.
const AppsHistory = 5

// ensureApps creates the KV bucket of web apps (ADR 010).
func ensureApps(ctx context.Context, js jetstream.JetStream, opts Options) error {
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      names.AppsBucket,
		Description: "Flurry web apps: code revision and route table, one entry per app",
		History:     AppsHistory,
		Storage:     opts.Storage,
		Replicas:    opts.Replicas,
	}); err != nil {
		return fmt.Errorf("provision: kv %s: %w", names.AppsBucket, err)
	}
	return nil
}
