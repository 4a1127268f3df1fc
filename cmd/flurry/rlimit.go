package main

import (
	"log/slog"
	"syscall"
)

// maxAPIConns caps the connection bound derived from the descriptor limit:
// past it, the memory of the connections (tens of KiB each, with their
// goroutines and buffers) matters more than their descriptors.
const maxAPIConns = 10_000

// raiseFileLimit raises the process's soft descriptor limit to its hard
// limit and returns the limit now in force (0 when unknown). Go's runtime
// does the same at start on Linux; doing it here as well says so in the
// log, covers the other systems, and gives the value the API's bound is
// derived from.
func raiseFileLimit(log *slog.Logger) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Warn("descriptor limit unknown", "err", err)
		return 0
	}
	if rl.Cur < rl.Max {
		raised := syscall.Rlimit{Cur: rl.Max, Max: rl.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			log.Warn("descriptor limit not raised", "soft", rl.Cur, "hard", rl.Max, "err", err)
			return rl.Cur
		}
		rl = raised
	}
	log.Debug("descriptor limit", "limit", rl.Cur)
	return rl.Cur
}

// natsConnBound is the bound on the embedded NATS server's client
// connections for a descriptor limit: an eighth of it, far more than the
// standalone's own, its extra invokers' and publishers' connections. With
// the API's half, three eighths stay for JetStream and the invoker. 0
// (limit unknown) leaves nats-server's default.
func natsConnBound(fileLimit uint64) int {
	return int(fileLimit / 8)
}

// apiConnBound is the default bound on the API's open connections (HTTP
// and gRPC together) for a descriptor limit: half of it, so that however
// the API is flooded the other half stays for JetStream's files and
// clients, the invoker's container sockets and the Docker engine's
// connection; and at most maxAPIConns. 0 (limit unknown) leaves the
// gateway's default.
func apiConnBound(fileLimit uint64) int {
	return int(min(fileLimit/2, maxAPIConns))
}
