// Package controller is Flurry's API logic. One file per concern:
//
//   - auth.go: API keys (stored hashed) and namespaces;
//   - admin.go, admin_remote.go: namespace administration behind the admin
//     credential: namespaces and their policies, keys, limits (ADR 022);
//   - actions.go: actions (entities in a KV bucket with revision checks,
//     code in the object store);
//   - invoke.go, admission*.go: admission (404 before enqueue, payload
//     bounds, cluster-wide namespace limits with KV leases, ADR 005),
//     publishing to the activations work queue, waiting for results;
//     idempotency.go: Idempotency-Keys, a repeated invoke answered with
//     the key's first activation (ADR 025);
//   - activations.go: activation records; deadletter.go, retry.go: dead
//     letters of asynchronous activations and their re-drive;
//   - triggers.go, rules.go, fire.go, timers.go: OpenWhisk triggers and
//     rules, and timer sources firing once per tick cluster-wide (ADR 007);
//   - sources.go, sources_nats.go: NATS message sources (ADR 008);
//     eventspace.go: the subjects and streams a namespace's triggers and
//     destinations may use (ADR 020);
//   - sequences.go: the sequence kind; routes.go: HTTP route tables (ADR 009);
//   - service.go, client.go, wire.go: the API over NATS request/reply for
//     a separate `flurry gateway` (ADR 003); Serve's stop drains (ADR 026).
//
// Main types: Controller (the logic, used in process by the gateway in
// standalone mode), Serve and Client. Both Controller and Client implement
// gateway.Backend and gateway.Admin; errors are the sentinels in api.go,
// wrapped.
//
// The controller holds no placement state: invokers pull. It must not
// import the gateway, talk to Docker, or run actions; it never maps errors
// to HTTP or gRPC status.
package controller
