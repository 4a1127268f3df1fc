package invoker

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// hostCPU follows how busy this host's CPUs are, from /proc/stat, so the
// pool can tell a backlog that more containers would clear from one that
// is the host running out of CPU (pool.Config.Contended, ADR 013).
type hostCPU struct {
	path string
	// busy is the smoothed busy fraction of all CPUs, as float64 bits;
	// NaN until two samples were taken (or when /proc/stat is unreadable).
	busy atomic.Uint64
}

// Contention thresholds: sampled every cpuSampleEvery, smoothed over a
// few samples; the host counts as contended from cpuContended busy.
const (
	cpuSampleEvery = 250 * time.Millisecond
	cpuContended   = 0.9
)

func newHostCPU(path string) *hostCPU {
	h := &hostCPU{path: path}
	h.busy.Store(math.Float64bits(math.NaN()))
	return h
}

// contended reports whether the host's CPUs were at least cpuContended
// busy lately; false while that is unknown.
func (h *hostCPU) contended() bool {
	return math.Float64frombits(h.busy.Load()) >= cpuContended
}

// run samples until ctx is done.
func (h *hostCPU) run(ctx context.Context) {
	t := time.NewTicker(cpuSampleEvery)
	defer t.Stop()
	prevBusy, prevTotal, ok := readCPUStat(h.path)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, tot, good := readCPUStat(h.path)
		if good && ok && tot > prevTotal && b >= prevBusy && b-prevBusy <= tot-prevTotal {
			sample := float64(b-prevBusy) / float64(tot-prevTotal)
			old := math.Float64frombits(h.busy.Load())
			if !math.IsNaN(old) {
				sample = (old + sample) / 2
			}
			h.busy.Store(math.Float64bits(sample))
		}
		prevBusy, prevTotal, ok = b, tot, good
	}
}

// readCPUStat reads the aggregate "cpu" line of /proc/stat: busy and
// total jiffies (idle and iowait are not busy; guest time is already in
// user and nice).
func readCPUStat(path string) (busy, total uint64, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(line, []byte("cpu ")) {
		return 0, 0, false
	}
	fields := bytes.Fields(line[4:])
	if len(fields) < 4 {
		return 0, 0, false
	}
	for k, f := range fields {
		if k >= 8 { // guest and guest_nice are counted in user and nice
			break
		}
		v, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if k != 3 && k != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total, true
}
