// Package broker runs an embedded nats-server with JetStream for standalone
// mode and for tests. It is the only package that imports nats-server; the
// rest of Flurry talks to NATS through nats.go only, so an external NATS
// cluster can replace the embedded one without other changes.
//
// The client port admits only Flurry's roles (Role): one nkey user each,
// with the permissions its component needs (roles.go), credentials made
// on first start and kept in Config.CredsDir (creds.go), and TLS when the
// configuration names a certificate. It never runs without credentials.
// AuthorizationConfig (config.go) gives an operator's own NATS the same
// users and permissions. Config.Cluster joins the server to a cluster
// (cluster.go), for tests that need replicated JetStream in-process.
package broker
