package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// Defaults of Options.
const (
	DefaultRecordsMaxAge      = 7 * 24 * time.Hour
	DefaultRecordsMaxBytes    = 1 << 30
	DefaultActivationsMaxMsgs = 100000
	// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id, so a
	// retried publish of the same activation id is stored once.
	DuplicateWindow = 2 * time.Minute
	// ActionsHistory is how many revisions of an action the KV keeps.
	ActionsHistory = 5
)

// Options size the JetStream assets. Zero fields take the defaults.
type Options struct {
	// Replicas of every stream, bucket and store. AutoReplicas (zero)
	// is ClusterReplicas on a cluster of at least as many JetStream
	// servers, else 1 (Resolve). Ensure raises assets below it and keeps
	// those an operator raised above it.
	Replicas int
	// RecordsMaxAge is how long activation records are kept. Default 7 days.
	RecordsMaxAge time.Duration
	// RecordsMaxBytes bounds the records stream; the oldest go first.
	// Default 1 GiB.
	RecordsMaxBytes int64
	// ActivationsMaxMsgs bounds the activation backlog. The stream
	// discards new messages when full, so a publish fails (503) instead of
	// silently dropping accepted work. Default 100000.
	ActivationsMaxMsgs int64
	// Storage of all assets. Default (zero) is file storage.
	Storage jetstream.StorageType
	// Log receives one line per asset whose replicas Ensure raised.
	// Default: discarded.
	Log *slog.Logger

	// resolved is set by Resolve: Replicas is decided and checked.
	resolved bool
}

// WithDefaults returns o with zero fields set to the defaults.
func (o Options) WithDefaults() Options {
	if o.RecordsMaxAge == 0 {
		o.RecordsMaxAge = DefaultRecordsMaxAge
	}
	if o.RecordsMaxBytes == 0 {
		o.RecordsMaxBytes = DefaultRecordsMaxBytes
	}
	if o.ActivationsMaxMsgs == 0 {
		o.ActivationsMaxMsgs = DefaultActivationsMaxMsgs
	}
	return o
}

// Validate checks o after defaults are applied.
func (o Options) Validate() error {
	o = o.WithDefaults()
	switch {
	case o.Replicas < 0 || o.Replicas > MaxReplicas:
		return fmt.Errorf("provision: replicas %d is outside [0, %d] (0: auto)", o.Replicas, MaxReplicas)
	case o.RecordsMaxAge < time.Minute:
		return fmt.Errorf("provision: records max age %v is under a minute", o.RecordsMaxAge)
	case o.RecordsMaxBytes < 1<<20:
		return fmt.Errorf("provision: records max bytes %d is under 1 MiB", o.RecordsMaxBytes)
	case o.ActivationsMaxMsgs < 1:
		return fmt.Errorf("provision: activations max msgs %d must be positive", o.ActivationsMaxMsgs)
	case o.Storage != jetstream.FileStorage && o.Storage != jetstream.MemoryStorage:
		return errors.New("provision: unknown storage type")
	}
	return nil
}

// ActivationsStreamConfig is the activations work queue's configuration.
func ActivationsStreamConfig(o Options) jetstream.StreamConfig {
	o = o.WithDefaults()
	return jetstream.StreamConfig{
		Name:        names.ActivationsStream,
		Description: "Flurry admitted activations (work queue)",
		Subjects:    []string{names.ActivationSubjects},
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     o.ActivationsMaxMsgs,
		Duplicates:  DuplicateWindow,
		Storage:     o.Storage,
		Replicas:    o.Replicas,
		// Doorbells: invokers learn which partition has work (ADR 004).
		RePublish: &jetstream.RePublish{
			Source: names.ActivationSubjects, Destination: names.DoorbellSubjects, HeadersOnly: true,
		},
	}
}

// RecordsStreamConfig is the activation records stream's configuration.
func RecordsStreamConfig(o Options) jetstream.StreamConfig {
	o = o.WithDefaults()
	return jetstream.StreamConfig{
		Name:        names.RecordsStream,
		Description: "Flurry activation records",
		Subjects:    []string{names.RecordSubjects},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.RecordsMaxAge,
		MaxBytes:    o.RecordsMaxBytes,
		Duplicates:  DuplicateWindow,
		AllowDirect: true,
		Storage:     o.Storage,
		Replicas:    o.Replicas,
	}
}

// CodeStoreConfig is the stream of the code object store: what nats.go's
// CreateObjectStore makes, but without direct gets. Invokers and gateways
// read code, and a direct get would let them write a chunk of their
// choosing into any bucket (see internal/stored).
func CodeStoreConfig(o Options) jetstream.StreamConfig {
	o = o.WithDefaults()
	return jetstream.StreamConfig{
		Name:        names.ObjectStream(names.CodeStore),
		Description: "Flurry action code, content addressed",
		Subjects:    []string{"$O." + names.CodeStore + ".C.>", "$O." + names.CodeStore + ".M.>"},
		MaxBytes:    -1,
		Discard:     jetstream.DiscardNew,
		AllowRollup: true,
		AllowDirect: false,
		Storage:     o.Storage,
		Replicas:    o.Replicas,
	}
}

// Ensure creates or updates every JetStream asset Flurry needs. It is
// idempotent and safe to call concurrently from several processes. It
// never lowers an asset's replicas (Options.Replicas).
func Ensure(ctx context.Context, js jetstream.JetStream, opts Options) error {
	opts, err := Resolve(ctx, js, opts.WithDefaults())
	if err != nil {
		return err
	}
	if _, err := ensureStream(ctx, js, opts, ActivationsStreamConfig(opts)); err != nil {
		return err
	}
	if _, err := ensureStream(ctx, js, opts, RecordsStreamConfig(opts)); err != nil {
		return err
	}
	if err := ensureDeadLetters(ctx, js, opts); err != nil {
		return err
	}
	if err := ensureAdmission(ctx, js, opts); err != nil {
		return err
	}
	if err := ensureIdempotency(ctx, js, opts); err != nil {
		return err
	}
	if err := EnsureTriggers(ctx, js, opts); err != nil {
		return err
	}
	for _, cfg := range []jetstream.KeyValueConfig{
		{Bucket: names.ActionsBucket, Description: "Flurry actions", History: ActionsHistory},
		{Bucket: names.AuthBucket, Description: "Flurry API keys (hashed)"},
		{Bucket: names.NamespacesBucket, Description: "Flurry namespaces and their policies"},
	} {
		cfg.Storage = opts.Storage
		if err := ensureKeyValue(ctx, js, opts, cfg); err != nil {
			return err
		}
	}
	if _, err := ensureStream(ctx, js, opts, CodeStoreConfig(opts)); err != nil {
		return err
	}
	if err := ensureRoutes(ctx, js, opts); err != nil {
		return err
	}
	if err := ensureApps(ctx, js, opts); err != nil {
		return err
	}
	return ensurePlacement(ctx, js, opts)
}
