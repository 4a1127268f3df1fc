// Package pool owns one invoker's containers: warm containers keyed by
// action revision (entity.Action.Key), prewarmed stem cells per (kind,
// memory) sized to recent demand, the node's memory budget with eviction
// of idle containers (stale ones first, then stem cells, then those still
// in use between calls), the keep-alive and prewarm policy, and
// removal of containers a previous run left behind. While memory is short
// (a start would evict a container its action still calls), an
// activation whose action has containers busy or starting waits for them,
// for a bounded time, rather than evicting (ADR 011, ADR 024).
//
// The main type is Pool. Acquire hands out a container (warm, prewarm or
// cold), Initialized marks it ready for reuse after /init, Release returns
// it and Discard removes it (timeout, crash). The pool knows nothing of the
// action protocol or NATS: what the caller needs per container (a protocol
// client, a log collector) it makes in an OpenFunc and reads back as
// Container.Conn, and a policy prewarm initializes a container for an
// action through the caller's WarmFunc.
//
// Containers are also keyed by the network policy they were started with
// (Request.Network): one never serves a request of another policy. A
// container initialized for an action is frozen once idle past
// Config.FreezeGrace, when the runtime is a container.Freezer, and thawed
// before an Acquire hands it out (freeze.go); freezing, thawing and
// removing one container are serialized by its own mutex, never under the
// pool's lock.
//
// KeepAlive is the policy interface: FixedKeepAlive keeps idle containers
// for a fixed time; Histogram learns each action's idle times and releases
// and re-warms around the expected next call (docs/adr/006-keepalive.md).
// Stats carries the cumulative counters benchmarks compare policies by.
//
// The pool must not run actions, decide activation results, or talk to
// anything but its container.Runtime.
package pool
