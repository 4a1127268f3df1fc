// Package broker runs an embedded nats-server with JetStream for standalone
// mode and for tests. It is the only package that imports nats-server; the
// rest of Flurry talks to NATS through nats.go only, so an external NATS
// cluster can replace the embedded one without other changes.
package broker
