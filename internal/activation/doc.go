// Package activation defines what travels through NATS for one activation:
// the Message the controller publishes to the activations stream, and the
// Record (OpenWhisk's activation record) the invoker writes to the records
// stream and sends to the waiting controller. Both are JSON.
//
// The package also owns activation ids and the status codes of OpenWhisk.
// It does no I/O.
package activation
