// Package invoker is the per-node agent that runs activations. It pulls
// activation messages from the shared durable consumer (only as many as it
// has free slots: flow control is the pull), takes a container from its
// pool (package pool), speaks the action protocol to it (/init once per
// container, /run per activation), enforces the action's limits, collects
// its logs, and writes the activation record: first to the waiting caller
// (core NATS), then to the records stream (deduplicated by activation id),
// and only then acks the message. It publishes its load every second.
//
// The main type is Invoker (New, Run). A failing action is a record with a
// status, never a Go error; errors mean the platform failed.
//
// The invoker must not admit, schedule or authorize activations (the
// controller does), create JetStream assets (internal/provision does), or
// know how containers are started (container.Runtime does).
package invoker
