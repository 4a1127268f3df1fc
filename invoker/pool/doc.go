// Package pool owns one invoker's containers: warm containers keyed by
// action revision (entity.Action.Key), prewarmed stem cells per (kind,
// memory) sized to recent demand, the node's memory budget with eviction
// of idle containers (stale ones first, then stem cells, then those still
// in use between calls), the keep-alive and prewarm policy, and
// removal of containers a previous run left behind.
//
// The main type is Pool. Acquire hands out a container (warm, prewarm or
// cold), Initialized marks it ready for reuse after /init, Release returns
// it and Discard removes it (timeout, crash). The pool knows nothing of the
// action protocol or NATS: what the caller needs per container (a protocol
// client, a log collector) it makes in an OpenFunc and reads back as
// Container.Conn, and a policy prewarm initializes a container for an
// action through the caller's WarmFunc.
//
// KeepAlive is the policy interface: FixedKeepAlive keeps idle containers
// for a fixed time; Histogram learns each action's idle times and releases
// and re-warms around the expected next call (docs/adr/006-keepalive.md).
// Stats carries the cumulative counters benchmarks compare policies by.
//
// The pool must not run actions, decide activation results, or talk to
// anything but its container.Runtime.
package pool
