// Package provision creates the JetStream assets Flurry runs on: the
// activations work queue and its invoker consumer, the activation records
// stream, the entity KV buckets and the code object store (all named in
// internal/names).
//
// Ensure is idempotent and is called by every controller and invoker at
// start, so any component may come up first. This package only declares
// configuration; it never reads or writes messages, and it must not
// delete anything.
package provision
