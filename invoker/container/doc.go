// Package container defines the contract between the invoker's pool and a
// container runtime (Docker, or local processes where no Docker engine is
// reachable), and the OpenWhisk action-protocol client the pool uses to
// talk to a started container.
//
// A Runtime starts and removes containers that serve the action protocol on
// an HTTP address; it knows nothing of actions, pools or NATS. Implementations
// live in sub-packages (docker, process) and all pass the conformance suite
// in container/conformance.
package container
