// Package docker is the container.Runtime backed by a Docker engine. It is
// the only package in Flurry that imports the Docker client.
//
// Runtime starts every action container locked down: no swap beyond the
// memory limit, a pids limit, all capabilities dropped, no-new-privileges,
// a read-only root filesystem with a size-limited tmpfs on /tmp, and the
// Flurry labels so a restarted invoker can List and Remove leftovers.
// Output is taken by attaching to the container before it starts (so no
// line is lost) and demultiplexed into Container.Stdout and Stderr; the
// engine's own log driver is "none" by default, since Flurry collects logs
// itself and json-file would write every line to disk a second time.
//
// Addressing: the invoker reaches the proxy on the container's own IP on
// Config.Network, port 8080. On Linux the host routes to the bridge, which
// was checked on the development machine (a request to a container IP
// answered in under 1 ms); this avoids docker-proxy and its extra hop and
// host port per container. Where the host cannot route to container IPs
// (Docker Desktop, rootless engines) set Config.PublishLoopback: port 8080
// is then published on 127.0.0.1 on a random host port.
//
// Runtime builds images (BuildImage) but never pulls: no registry is
// reachable from Flurry's machines. It must not know about actions, pools
// or NATS.
package docker
