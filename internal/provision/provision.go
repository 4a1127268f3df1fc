package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// Defaults of Options.
const (
	DefaultReplicas           = 1
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
	// Replicas of every stream, bucket and store (1 on a single server,
	// 3 in a cluster). Default 1.
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
}

// WithDefaults returns o with zero fields set to the defaults.
func (o Options) WithDefaults() Options {
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
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
	case o.Replicas < 1 || o.Replicas > 5:
		return fmt.Errorf("provision: replicas %d is outside [1, 5]", o.Replicas)
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
// idempotent and safe to call concurrently from several processes.
func Ensure(ctx context.Context, js jetstream.JetStream, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	opts = opts.WithDefaults()
	if _, err := js.CreateOrUpdateStream(ctx, ActivationsStreamConfig(opts)); err != nil {
		return fmt.Errorf("provision: stream %s: %w", names.ActivationsStream, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, RecordsStreamConfig(opts)); err != nil {
		return fmt.Errorf("provision: stream %s: %w", names.RecordsStream, err)
	}
	if err := ensureDeadLetters(ctx, js, opts); err != nil {
		return err
	}
	if err := ensureAdmission(ctx, js, opts); err != nil {
		return err
	}
	if err := EnsureTriggers(ctx, js, opts); err != nil {
		return err
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      names.ActionsBucket,
		Description: "Flurry actions",
		History:     ActionsHistory,
		Storage:     opts.Storage,
		Replicas:    opts.Replicas,
	}); err != nil {
		return fmt.Errorf("provision: kv %s: %w", names.ActionsBucket, err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      names.AuthBucket,
		Description: "Flurry API keys (hashed)",
		Storage:     opts.Storage,
		Replicas:    opts.Replicas,
	}); err != nil {
		return fmt.Errorf("provision: kv %s: %w", names.AuthBucket, err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      names.NamespacesBucket,
		Description: "Flurry namespaces and their policies",
		Storage:     opts.Storage,
		Replicas:    opts.Replicas,
	}); err != nil {
		return fmt.Errorf("provision: kv %s: %w", names.NamespacesBucket, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, CodeStoreConfig(opts)); err != nil {
		return fmt.Errorf("provision: object store %s: %w", names.CodeStore, err)
	}
	if err := ensureRoutes(ctx, js, opts); err != nil {
		return err
	}
	if err := ensureApps(ctx, js, opts); err != nil {
		return err
	}
	return ensurePlacement(ctx, js, opts)
}
