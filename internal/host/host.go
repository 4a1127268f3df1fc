package host

import (
	"bufio"
	"bytes"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Host is what this process may use of its machine: memory (its
// cgroup's limit, else the machine's) and CPUs.
type Host struct {
	// MemoryBytes is the memory this process may use, 0 when unknown.
	MemoryBytes uint64
	// MemorySource says where MemoryBytes came from.
	MemorySource string
	// CPUs is the CPUs this process may use: the online CPUs it is allowed
	// on, lowered to its cgroup's CPU quota (fractional).
	CPUs float64
}

// Where the host's figures are read (under a root, "/" on a live system).
const (
	procSelfCgroup = "proc/self/cgroup"
	procMeminfo    = "proc/meminfo"
	cgroupRoot     = "sys/fs/cgroup"
)

// Detect reads the host's figures once per process: they do not change
// while it runs.
var Detect = sync.OnceValue(func() Host {
	return detect(os.DirFS("/").(fs.ReadFileFS), runtime.NumCPU())
})

// detect reads the figures under root; cpus is the number of CPUs
// the process may run on (runtime.NumCPU).
func detect(root fs.ReadFileFS, cpus int) Host {
	h := Host{CPUs: float64(cpus)}
	if b, err := root.ReadFile(procMeminfo); err == nil {
		if n := parseMemTotal(bytes.NewReader(b)); n > 0 {
			h.MemoryBytes, h.MemorySource = n, "/proc/meminfo MemTotal"
		}
	}
	self, err := root.ReadFile(procSelfCgroup)
	if err != nil {
		return h
	}
	v2, v1mem, v1cpu := parseSelfCgroup(string(self))
	type limit struct {
		dir, file, source string
	}
	var memFiles []limit
	if v2 != "" {
		memFiles = append(memFiles, limit{path.Join(cgroupRoot, v2), "memory.max", "cgroup v2 memory.max"})
	}
	if v1mem != "" {
		memFiles = append(memFiles, limit{path.Join(cgroupRoot, "memory", v1mem), "memory.limit_in_bytes", "cgroup v1 memory.limit_in_bytes"})
	}
	for _, l := range memFiles {
		// A limit anywhere up the hierarchy bounds the process.
		for _, dir := range ancestors(l.dir, cgroupRoot) {
			b, err := root.ReadFile(path.Join(dir, l.file))
			if err != nil {
				continue
			}
			if n, ok := parseMemoryLimit(string(b)); ok && (h.MemoryBytes == 0 || n < h.MemoryBytes) {
				h.MemoryBytes, h.MemorySource = n, l.source
			}
		}
	}
	if q, ok := cgroupCPUQuota(root, v2, v1cpu); ok && q < h.CPUs {
		h.CPUs = q
	}
	return h
}

// parseSelfCgroup returns the process's cgroup paths from
// /proc/self/cgroup: the v2 one ("0::/path"), and the v1 ones of the
// memory and cpu controllers ("4:memory:/path", "1:cpu,cpuacct:/path").
// A hierarchy the process is not in comes back "".
func parseSelfCgroup(s string) (v2, v1mem, v1cpu string) {
	for line := range strings.Lines(s) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
			continue
		}
		for ctl := range strings.SplitSeq(parts[1], ",") {
			switch ctl {
			case "memory":
				v1mem = parts[2]
			case "cpu":
				v1cpu = parts[2]
			}
		}
	}
	return v2, v1mem, v1cpu
}

// ancestors returns dir and its parents up to and including top.
func ancestors(dir, top string) []string {
	var out []string
	for {
		out = append(out, dir)
		if dir == top || !strings.HasPrefix(dir, top+"/") {
			return out
		}
		dir = path.Dir(dir)
	}
}

// parseMemoryLimit reads a cgroup memory limit: bytes, or "max" (v2) or
// a figure near the largest int64 (v1) for none.
func parseMemoryLimit(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n >= math.MaxInt64/2 {
		return 0, false
	}
	return n, true
}

// parseMemTotal returns MemTotal of /proc/meminfo in bytes, 0 if absent
// or malformed.
func parseMemTotal(r io.Reader) uint64 {
	s := bufio.NewScanner(r)
	for s.Scan() {
		// MemTotal:       24589372 kB
		rest, ok := bytes.CutPrefix(s.Bytes(), []byte("MemTotal:"))
		if !ok {
			continue
		}
		kb, ok := bytes.CutSuffix(bytes.TrimSpace(rest), []byte(" kB"))
		if !ok {
			return 0
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(kb)), 10, 64)
		if err != nil || n > math.MaxUint64>>10 {
			return 0
		}
		return n << 10
	}
	return 0
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
