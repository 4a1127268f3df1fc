package main

import (
	_ "unsafe" // for go:linkname

	_ "github.com/nats-io/nats-server/v2/server/pse" // the sampler quietSampler stops
)

// procStatFile is the file nats-server's pse package samples the
// process's CPU time from. The package's init reads it and schedules
// itself to read it again every second for as long as the process lives,
// in every process that links nats-server, which flurry does for
// standalone mode, and so in every `flurry proxy` too. Should a new
// nats-server rename it, the build fails at link time, naming it.
//
//go:linkname procStatFile github.com/nats-io/nats-server/v2/server/pse.procStatFile
var procStatFile string

// quietSampler stops that sampling in a process that runs no NATS server:
// the in-container proxy. Every idle warm container woke once a second for
// it, ≈ 0.6 ms of CPU each on our machines (docs/benchmarks.md, "Idle
// proxies"), which with 100 warm containers was 3 % of two cores.
//
// The sampler reschedules itself only after a read that succeeds; a path
// with a NUL byte fails at once (EINVAL), so it stops at its next tick.
// The new path has the old one's length: the sampler's goroutine may read
// the variable while it is written, and then sees a whole string of that length, the old or the new.
func quietSampler() {
	if n := len(procStatFile); n > 0 {
		procStatFile = procStatFile[:n-1] + "\x00"
	}
}
