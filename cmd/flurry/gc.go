package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/flurryfn/flurry/internal/host"
)

// serverGCPercent is the garbage collector's target for the server
// commands when GOGC is not set: the heap may grow to five times what is
// live before a collection, not twice.
//
// A server's live heap is mostly the embedded NATS server's indexes of its
// streams (a subject per activation record, the publish-id window), so a
// collection marks hundreds of megabytes however little an activation
// leaves behind. How often it runs is set by the allocation rate divided by
// GOGC, so GOGC=400 does a quarter of Go's default marking: the standalone
// took ≈ 15 % less CPU per activation in the 100-action scale bench, and
// higher targets did worse (ADR 017).
const serverGCPercent = 400

// serverMemoryShare is the part of the memory the process may use (its
// cgroup's limit, or the machine's memory) that is set as the runtime's
// soft memory limit when GOMEMLIMIT is not set. Near the limit the
// collector runs more often, so the higher GOGC costs memory only where
// there is memory to spare.
const serverMemoryShare = 4

// tuneGC sets the collector's target and soft memory limit for a server
// command, unless the operator set GOGC or GOMEMLIMIT (Go's own variables
// win, as documented in the README).
func tuneGC(log *slog.Logger) {
	percent, limit := gcSettings(os.Getenv, host.Detect().MemoryBytes)
	if percent > 0 {
		debug.SetGCPercent(percent)
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	log.Debug("garbage collector", "gcPercent", percent, "memoryLimit", limit)
}

// gcSettings returns the GC percent and memory limit to set, 0 for each
// left as the environment has it. memory is what the process may use in
// bytes, 0 when unknown.
func gcSettings(getenv func(string) string, memory uint64) (percent int, limit int64) {
	if getenv("GOGC") == "" {
		percent = serverGCPercent
	}
	if getenv("GOMEMLIMIT") == "" && memory > 0 {
		limit = int64(memory / serverMemoryShare)
	}
	return percent, limit
}
