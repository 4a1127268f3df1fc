// Package e2e holds end-to-end tests of the whole system: they build the
// real flurry binary, start it standalone (embedded JetStream, the real
// Docker engine when one is reachable) on loopback ports, and drive it over
// REST, gRPC and the CLI exactly as a user would. Nothing here is faked.
//
// e2e/cmd/bench is the benchmark command of docs/benchmarks.md.
package e2e
