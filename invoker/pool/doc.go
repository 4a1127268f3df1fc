// Package pool owns one invoker's containers: warm containers keyed by
// action revision (entity.Action.Key), prewarmed stem cells per (kind,
// memory), the node's memory budget with LRU eviction of idle containers,
// idle expiry through a KeepAlive policy, and removal of containers a
// previous run left behind.
//
// The main type is Pool. Acquire hands out a container (warm, prewarm or
// cold), Initialized marks it ready for reuse after /init, Release returns
// it and Discard removes it (timeout, crash). The pool knows nothing of the
// action protocol or NATS: what the caller needs per container (a protocol
// client, a log collector) it makes in an OpenFunc and reads back as
// Container.Conn.
//
// The pool must not run actions, decide activation results, or talk to
// anything but its container.Runtime.
package pool
