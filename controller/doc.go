// Package controller is Flurry's API logic: it authenticates API keys,
// stores actions (entities in the KV bucket, code in the object store),
// admits activations (limits, 404 before enqueue) and publishes them to
// the activations work queue, waits for results of blocking invokes, and
// reads activation records.
//
// Main types: Controller (the logic, used in process by the gateway in
// standalone mode), Serve (exposes a Controller as NATS request/reply for a
// separate `flurry gateway`) and Client (the gateway's side of that).
// Both Controller and Client implement gateway.Backend; errors are the
// sentinels in api.go, wrapped.
//
// The controller holds no placement state: invokers pull. It must not
// import the gateway, talk to Docker, or run actions; it never maps errors
// to HTTP or gRPC status.
package controller
