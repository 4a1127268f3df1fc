// Package conformance is the test suite every container.Runtime passes: it
// starts real containers running Flurry's action proxy, initializes them
// with a small actionloop action (testdata/echo) and checks the action
// protocol, log collection, crashes, Remove and List through the
// container package's Client and LogCollector, and the optional abilities:
// container.Freezer, and Spec.Network "none" (served or refused with
// container.ErrNetworkPolicy).
//
// It is imported only by tests. Building the binaries it needs (the flurry
// command, the echo action) shells out to the go tool of the machine.
package conformance
