// Package provision creates the JetStream assets Flurry runs on: the
// activations work queue and its invoker consumers, the activation records
// stream, the entity KV buckets, the Idempotency-Key bucket (ADR 025) and
// the code object store (all named in internal/names).
//
// Ensure is idempotent and is called by every controller at start, so
// several may come up at once. Resolve decides the replica count against
// the cluster (replicas.go, ADR 023); Ensure raises an asset's replicas to
// it and never lowers one, logging each raise. This package only declares
// configuration; it never reads or writes messages, and it deletes nothing
// but its own probe stream and the shared consumer of ADR 001.
package provision
