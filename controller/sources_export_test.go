package controller

import "time"

// MessageSourceReady reports whether c consumes the NATS source of
// trigger name in namespace ns at revision rev or later.
func MessageSourceReady(c *Controller, ns, name string, rev uint64) bool {
	return c.sources.ready(ns, name, rev)
}

// SetSourceAckWait sets the AckWait of trigger consumers created from now
// on and returns a function restoring it. Tests that use it must not run
// in parallel.
func SetSourceAckWait(d time.Duration) (restore func()) {
	old := sourceAckWait
	sourceAckWait = d
	return func() { sourceAckWait = old }
}
