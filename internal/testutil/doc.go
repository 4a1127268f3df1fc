// Package testutil holds helpers for Flurry's tests: an embedded JetStream
// server per test (with its admin credentials, and Connect for more
// connections), an in-process JetStream cluster whose servers a test can
// stop and restart (JetStreamCluster), throwaway TLS certificates, and
// polling with a deadline instead of sleeps.
package testutil
