// Package natsclient builds the nats.go options with which a Flurry
// component or tool connects to NATS: its credentials (an nkey seed file,
// as the embedded broker makes them, or a standard .creds file with a
// user JWT, for an operator-run cluster), TLS, the inbox prefix of its
// role (names.InboxPrefix), and an error handler that logs every
// asynchronous NATS error, permission violations first of all.
//
// It only builds options: it does not dial, retry or read flags.
package natsclient
