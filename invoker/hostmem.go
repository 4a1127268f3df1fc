package invoker

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

// Host is what the invoker's default memory budget and slots are sized
// from: the memory this process may use (its cgroup's limit, else the
// machine's) and the CPUs it may run on.
type Host struct {
	// MemoryBytes is the memory this process may use, 0 when unknown.
	MemoryBytes uint64
	// MemorySource says where MemoryBytes came from.
	MemorySource string
	// CPUs is the CPUs this process may use: the online CPUs it is allowed
	// on, lowered to its cgroup's CPU quota (fractional).
	CPUs float64
}

// Sizing of the defaults from the host (docs/adr/024-memory-pressure.md).
const (
	// hostReserveFraction of the host's memory is left to everything but
	// the containers: the Flurry server itself (its Go soft memory limit
	// is a quarter of the same figure, ADR 017), the container engine and
	// the operating system's page cache.
	hostReserveFraction = 4
	// hostReserveMinMB is the least reserve, for small hosts: the engine,
	// the OS and a Flurry server at rest need about this much.
	hostReserveMinMB = 1024
	// minHostMemoryMB is the least auto budget: one stem cell and one
	// action of the default memory.
	minHostMemoryMB = 512
	// slotsPerCPU caps the auto slots: short actions saturate a CPU well
	// below this many at once, and a slot held by a waiting activation is
	// one a warm one could have used.
	slotsPerCPU = 32
)

// Where the host's figures are read (under a root, "/" on a live system).
const (
	procSelfCgroup = "proc/self/cgroup"
	procMeminfo    = "proc/meminfo"
	cgroupRoot     = "sys/fs/cgroup"
)

// DetectHost reads the host's figures once per process: they bound every
// invoker in it and do not change while it runs.
var DetectHost = sync.OnceValue(func() Host {
	return detectHost(os.DirFS("/").(fs.ReadFileFS), runtime.NumCPU())
})

// MemoryBudgetMB is the container memory budget for h: its memory less a
// reserve of a quarter (at least hostReserveMinMB), never under
// minHostMemoryMB; DefaultMemoryMB when the memory is unknown.
func (h Host) MemoryBudgetMB() int64 {
	if h.MemoryBytes == 0 {
		return DefaultMemoryMB
	}
	total := int64(h.MemoryBytes >> 20)
	reserve := max(total/hostReserveFraction, hostReserveMinMB)
	return max(total-reserve, minHostMemoryMB)
}

// Slots is the default number of activations run at once with a budget
// of memoryMB: one per slotMemoryMB (the default action memory), at
// least minSlots, at most slotsPerCPU per CPU of h.
func (h Host) Slots(memoryMB int64) int {
	slots := max(int(memoryMB/slotMemoryMB), minSlots)
	if h.CPUs > 0 {
		slots = min(slots, max(int(math.Ceil(h.CPUs))*slotsPerCPU, minSlots))
	}
	return slots
}

// detectHost reads the figures under root; cpus is the number of CPUs
// the process may run on (runtime.NumCPU).
func detectHost(root fs.ReadFileFS, cpus int) Host {
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
