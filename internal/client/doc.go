// Package client is a Go client for Flurry's OpenWhisk-compatible REST API
// (/api/v1 with Basic auth "uuid:key"): actions (put, get, list, delete,
// invoke), activation records (list, get, logs, result), dead letters,
// triggers and rules, HTTP routes, and web apps (deploy, get, list,
// delete); and, with the admin credential, namespace administration over
// the REST binding under /v1/admin (admin.go, ADR 022).
//
// The main type is Client. Non-2xx answers become *APIError carrying the
// status code and the server's "error" message; an invocation whose
// activation failed (502) or has not finished yet (202) is a result in
// InvokeResponse, not an error, because a failing action is not a failing
// platform.
//
// The package speaks HTTP only: it must not read flags, the environment or
// configuration files (cmd/flurry does that), and it must not import server
// packages beyond the shared data types in internal/entity and
// internal/activation.
package client
