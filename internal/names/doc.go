// Package names is the one place that names NATS things: JetStream streams,
// subjects, KV buckets, object stores, consumers and headers, with the
// helpers that build concrete subjects and keys from namespaces, actions and
// activation ids.
//
// Nothing else in Flurry writes a subject or bucket name as a literal. The
// package has no dependencies and must not acquire any.
package names
