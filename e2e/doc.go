// Package e2e holds end-to-end tests of the whole system: they build the
// real flurry binary, start it standalone (embedded JetStream, the real
// Docker engine when one is reachable) on loopback ports, and drive it over
// REST, gRPC and the CLI exactly as a user would. Nothing here is faked.
// The cluster tests (cluster_test.go) run separate controller, gateway and
// invoker processes on a JetStream cluster of nats-server processes built
// from the module Flurry embeds, and kill those servers (harness_cluster_test.go).
//
// e2e/cmd/bench is the benchmark command of docs/benchmarks.md.
package e2e
