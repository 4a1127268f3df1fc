package host

import (
	"strings"
	"testing"
	"testing/fstest"
)

const meminfo16G = "MemTotal:       16384000 kB\nMemFree:        12000000 kB\n"

func TestDetect(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name   string
		files  fstest.MapFS
		cpus   int
		mem    uint64
		source string
		wantCP float64
	}{
		{"meminfo only", fstest.MapFS{"proc/meminfo": file(meminfo16G)}, 8,
			16384000 << 10, "/proc/meminfo MemTotal", 8},
		{"nothing readable", fstest.MapFS{}, 2, 0, "", 2},
		{"cgroup v2 limit on the process's cgroup", fstest.MapFS{
			"proc/meminfo":     file(meminfo16G),
			"proc/self/cgroup": file("0::/system.slice/flurry.service\n"),
			"sys/fs/cgroup/system.slice/flurry.service/memory.max": file("4294967296\n"),
			"sys/fs/cgroup/system.slice/flurry.service/cpu.max":    file("150000 100000\n"),
		}, 8, 4 << 30, "cgroup v2 memory.max", 1.5},
		{"cgroup v2 limit on an ancestor, none below", fstest.MapFS{
			"proc/meminfo":     file(meminfo16G),
			"proc/self/cgroup": file("0::/kubepods/pod1/ctr\n"),
			"sys/fs/cgroup/kubepods/pod1/ctr/memory.max": file("max\n"),
			"sys/fs/cgroup/kubepods/pod1/memory.max":     file("2147483648\n"),
			"sys/fs/cgroup/kubepods/memory.max":          file("8589934592\n"),
			"sys/fs/cgroup/kubepods/pod1/ctr/cpu.max":    file("max 100000\n"),
		}, 4, 2 << 30, "cgroup v2 memory.max", 4},
		{"cgroup v2 limit above the machine", fstest.MapFS{
			"proc/meminfo":                 file(meminfo16G),
			"proc/self/cgroup":             file("0::/big\n"),
			"sys/fs/cgroup/big/memory.max": file("68719476736\n"),
		}, 4, 16384000 << 10, "/proc/meminfo MemTotal", 4},
		{"cgroup v1, unlimited (a figure near MaxInt64)", fstest.MapFS{
			"proc/meminfo":     file(meminfo16G),
			"proc/self/cgroup": file("4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/\n"),
			"sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes": file("9223372036854771712\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes":                 file("9223372036854771712\n"),
			"sys/fs/cgroup/cpu/cpu.cfs_quota_us":                         file("-1\n"),
			"sys/fs/cgroup/cpu/cpu.cfs_period_us":                        file("100000\n"),
		}, 2, 16384000 << 10, "/proc/meminfo MemTotal", 2},
		{"cgroup v1 limits", fstest.MapFS{
			"proc/meminfo":     file(meminfo16G),
			"proc/self/cgroup": file("11:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n"),
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": file("1073741824\n"),
			"sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us":         file("50000\n"),
			"sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us":        file("100000\n"),
		}, 4, 1 << 30, "cgroup v1 memory.limit_in_bytes", 0.5},
		{"garbage in every file", fstest.MapFS{
			"proc/meminfo":                  file("MemTotal: lots\n"),
			"proc/self/cgroup":              file("0::/x\nnot a line\n"),
			"sys/fs/cgroup/x/memory.max":    file("-5\n"),
			"sys/fs/cgroup/x/cpu.max":       file("half 100000\n"),
			"sys/fs/cgroup/memory.max":      file(""),
			"sys/fs/cgroup/cpu.max":         file("100000 0\n"),
			"sys/fs/cgroup/x/memory.high":   file("1\n"),
			"sys/fs/cgroup/x/cgroup.procs":  file("1\n"),
			"sys/fs/cgroup/x/memory.events": file("oom 3\n"),
		}, 2, 0, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := detect(tt.files, tt.cpus)
			if h.MemoryBytes != tt.mem || h.MemorySource != tt.source || h.CPUs != tt.wantCP {
				t.Fatalf("detectHost = %+v, want memory %d from %q, %g CPUs", h, tt.mem, tt.source, tt.wantCP)
			}
		})
	}
}

func TestParseSelfCgroup(t *testing.T) {
	v2, mem, cpu := parseSelfCgroup(strings.Join([]string{
		"12:pids:/a", "4:memory:/process_api/abc", "2:cpu,cpuacct:/c", "1:name=systemd:/", "0::/unified", "",
	}, "\n"))
	if v2 != "/unified" || mem != "/process_api/abc" || cpu != "/c" {
		t.Fatalf("parseSelfCgroup = %q %q %q", v2, mem, cpu)
	}
}

// The live system is readable wherever the tests run (Linux): the
// defaults there come from it, not from the fixed fallback.
func TestDetectLive(t *testing.T) {
	h := Detect()
	if h.MemoryBytes == 0 || h.CPUs <= 0 {
		t.Fatalf("Detect() = %+v: memory or CPUs unknown", h)
	}
}

func TestParseMemTotal(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
	}{
		{"MemTotal:       24589372 kB\nMemFree:         1000 kB\n", 24589372 << 10},
		{"MemFree:         1000 kB\nMemTotal: 2048 kB\n", 2048 << 10},
		{"MemFree:         1000 kB\n", 0},
		{"MemTotal:       lots kB\n", 0},
		{"MemTotal:       2048 MB\n", 0},
		{"", 0},
	}
	for _, c := range cases {
		if got := parseMemTotal(strings.NewReader(c.in)); got != c.want {
			t.Errorf("parseMemTotal(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}
