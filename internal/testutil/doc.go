// Package testutil holds helpers for Flurry's tests: an embedded JetStream
// server per test and polling with a deadline instead of sleeps.
package testutil
