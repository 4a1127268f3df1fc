package container

import "errors"

// Network policies of Spec.Network: what a container may reach beyond the
// action protocol, which always works.
const (
	// NetworkDefault is outbound network access, the runtime's metadata
	// addresses blocked. The zero value of Spec.Network means it.
	NetworkDefault = "default"
	// NetworkNone is no network interface but loopback. The action
	// protocol must then come over a unix socket.
	NetworkNone = "none"
)

// ErrNetworkPolicy is wrapped by Start when the runtime cannot give a
// container the network policy its Spec asks for (no network on a
// runtime without isolation, or on a container reached over TCP).
var ErrNetworkPolicy = errors.New("network policy not supported")
