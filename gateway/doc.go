// Package gateway is Flurry's public edge. On one HTTP listener it serves
// the OpenWhisk-compatible REST API under /api/v1 (so wsk and OpenWhisk
// SDKs work), the grpc-gateway REST binding of the gRPC services under
// /v1, the OpenAPI document, HTTP routes under /r/{ns}/... (routes.go) and
// OpenWhisk web actions under /api/v1/web/... (web.go); on a second
// listener it serves the gRPC services of proto/flurry/v1 with server
// reflection.
//
// Serve bounds what a client can hold: open connections overall and per
// client address, answering one over a bound 503 at once (conns.go); the
// time to send headers, a body at a minimum rate (bodyread.go) or take a
// response; idle keep-alive and gRPC connections. Legitimate long requests
// (a blocking invoke waits up to a minute, an upload may be tens of MiB)
// fit within all of them.
//
// Main types: Gateway (New, Serve, Handler), Config, and Backend, the
// contract with the controller, with Admin (admin.go), the namespace
// administration a Backend may also offer (AdminService, /v1/admin). The gateway authenticates callers through
// the Backend, translates between wire formats and the controller's types,
// and turns the controller's sentinel errors into HTTP statuses and gRPC
// codes, in errors.go and nowhere else.
//
// It must not hold business logic: no entity storage, admission,
// throttling or scheduling, and no NATS or Docker access; all of that is
// the Backend's. A failing action is a result (an activation record with
// its status), never a gRPC error; over /api/v1 it is OpenWhisk's 502.
package gateway
