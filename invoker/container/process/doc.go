// Package process is the container.Runtime for machines without a Docker
// engine: each "container" is the action proxy program run as a local
// process listening on a free 127.0.0.1 port, with its own directory under
// Config.BaseDir.
//
// It gives no isolation: the action runs as the invoker's user, sees the
// host's filesystem and network, and Spec.MemoryBytes is NOT enforced
// (setrlimit on address space breaks Go programs, which reserve large
// virtual ranges, and cgroups need privileges the invoker may lack). Use it
// for development and single-user machines only.
//
// Each container's directory holds container.json (pid, address, labels),
// so a restarted invoker can List what a previous run left and Remove it.
// Remove kills the proxy and every descendant (the proxy starts the action
// in a process group of its own) and deletes the directory.
//
// Freeze stops the process tree with SIGSTOP and Thaw continues it with
// SIGCONT. A Spec asking for no network fails with
// container.ErrNetworkPolicy: a local process has the host's.
//
// The package must not know about actions, pools or NATS.
package process
