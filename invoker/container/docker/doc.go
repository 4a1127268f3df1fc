// Package docker is the container.Runtime backed by a Docker engine. It is
// the only package in Flurry that imports the Docker client.
//
// Runtime starts every action container locked down: no swap beyond the
// memory limit, a pids limit, all capabilities dropped, no-new-privileges,
// a read-only root filesystem with a size-limited tmpfs on /tmp, a CPU
// weight (and optionally a hard CPU limit) proportional to its memory
// (cpu.go), and the Flurry labels so a restarted invoker can List and
// Remove leftovers. Containers join Flurry's own bridge network, whose
// packets to link-local addresses (cloud metadata) New refuses with
// iptables rules (network.go), or none at all for Spec.Network "none".
// Runtime is a container.Freezer: it writes the container's cgroup
// freezer, or uses the engine's pause where it finds none (freezer.go).
// Each unix socket directory is a tmpfs of its own, so an action cannot
// write the host's disk through it (sockets.go, ADR 021).
// Output is taken by attaching to the container before it starts (so no
// line is lost) and demultiplexed into Container.Stdout and Stderr; the
// engine's own log driver is "none" by default, since Flurry collects logs
// itself and json-file would write every line to disk a second time.
//
// Addressing (ADR 012): with Config.SocketDir set, containers of Flurry's
// own images (entrypoint /flurry proxy) get a directory of their own under
// it, bind-mounted at /run/flurry, where the proxy listens on a unix socket
// and answers with each activation's logs (--inline-logs): no port, no
// docker-proxy, no log lines through the engine. Other images, and every
// image without SocketDir, publish port 8080 on 127.0.0.1 on a random host
// port and the invoker talks to that. Our machines allow test and benchmark
// traffic only to loopback (and private-range addresses such as the
// bridge's are watched); Config.ContainerIP opts into addressing the
// container's bridge IP directly where that is allowed.
//
// Runtime builds images (BuildImage) but never pulls: no registry is
// reachable from Flurry's machines. It must not know about actions, pools
// or NATS.
package docker
