package invoker

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
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

// cgroupCPUQuota returns the tightest CPU quota, in CPUs, on the
// process's cgroup or its ancestors: v2 cpu.max ("150000 100000"; "max
// 100000" is none) under v2, v1 cpu.cfs_quota_us / cpu.cfs_period_us
// (-1: none) under v1cpu. ok is false when no quota is set.
func cgroupCPUQuota(root fs.ReadFileFS, v2, v1cpu string) (cpus float64, ok bool) {
	take := func(q float64) {
		if q > 0 && (!ok || q < cpus) {
			cpus, ok = q, true
		}
	}
	if v2 != "" {
		for _, dir := range ancestors(path.Join(cgroupRoot, v2), cgroupRoot) {
			if b, err := root.ReadFile(path.Join(dir, "cpu.max")); err == nil {
				quota, period, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
				take(parseQuota(quota, period))
			}
		}
	}
	if v1cpu != "" {
		top := path.Join(cgroupRoot, "cpu")
		for _, dir := range ancestors(path.Join(top, v1cpu), top) {
			q, errQ := root.ReadFile(path.Join(dir, "cpu.cfs_quota_us"))
			p, errP := root.ReadFile(path.Join(dir, "cpu.cfs_period_us"))
			if errQ == nil && errP == nil {
				take(parseQuota(strings.TrimSpace(string(q)), strings.TrimSpace(string(p))))
			}
		}
	}
	return cpus, ok
}

// parseQuota returns quota/period in CPUs, 0 for none ("max", "-1") or
// malformed figures.
func parseQuota(quota, period string) float64 {
	q, errQ := strconv.ParseInt(quota, 10, 64)
	p, errP := strconv.ParseInt(period, 10, 64)
	if errQ != nil || errP != nil || q <= 0 || p <= 0 {
		return 0
	}
	return float64(q) / float64(p)
}
