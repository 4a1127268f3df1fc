// Package invoker is the per-node agent that runs activations.
//
// Placement (ADR 004): the invoker owns a share of the activation
// partitions by rendezvous hashing over the heartbeat set and pulls from
// their durable consumers only as many messages as it has free slots (flow
// control is the pull); when an owner is saturated it asks on the overflow
// subject and others pull that partition through the consumer's overflow
// priority group. A short AckWait with progress acks hands the work of a
// dead invoker to another within seconds; a started marker written just
// before /run tells a redelivery whether the action may already have run
// (re-run only if its retry policy allows, else an internal-error record).
//
// Running: it takes a container from its pool (package pool: warm →
// stem cell → cold, keep-alive policy), speaks the action protocol to it
// (/init once per container, /run per activation), enforces the action's
// limits and collects its logs. Settling (settle.go): the record goes to the
// records stream (once per activation id), then to the waiting caller
// (core NATS), then the message is acked. A record the stream does not
// take (its leader is being elected) is retried with backoff for up to
// Config.RecordRetry, the result kept in memory and the message in
// progress; a redelivery that reaches the invoker still holding the
// activation (held.go) is left to it, not taken for lost. Failed asynchronous
// activations are retried with backoff per the action's retry policy and
// end in the dead-letter stream, and destinations receive final records.
// It publishes its load and pool counters every second. It follows each
// namespace's network policy (netpolicy.go, a watch of the namespaces
// bucket) and asks the pool for containers of that policy. Its memory
// budget and slots default to figures sized from the host: the cgroup's
// or machine's memory less a reserve, and its CPUs (internal/host read
// them, hostmem.go sizes from them, ADR 024);
// hostcpu.go also follows how busy those CPUs are (ADR 013).
//
// Stopping (ADR 026): on Run's ctx end it announces its departure in a
// last heartbeat, so the others take its partitions at once, hands back
// the activations still waiting for a container and drains the running
// ones; on start it removes a previous run's containers beside serving.
//
// The main type is Invoker (New, Run). A failing action is a record with a
// status, never a Go error; errors mean the platform failed.
//
// The invoker must not admit, authorize or route activations (the
// controller does), create JetStream assets (internal/provision does), or
// know how containers are started (container.Runtime does).
package invoker
