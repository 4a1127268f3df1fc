package benchsys

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ClockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat: 100 on every Linux architecture Go supports.
const ClockTicks = 100

// ProcStat is what the benches read of /proc/<pid>/stat.
type ProcStat struct {
	Comm  string
	PPID  int
	Ticks int64 // utime + stime, in ClockTicks
}

// ReadProcStat reads /proc/<pid>/stat; ok is false when the process is
// gone or the file cannot be parsed.
func ReadProcStat(pid int) (s ProcStat, ok bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, false
	}
	open, close := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || close < open {
		return s, false
	}
	// After "(comm) ": state is field 3, ppid 4; utime and stime are 14 and 15.
	f := strings.Fields(string(stat[close+1:]))
	if len(f) < 13 {
		return s, false
	}
	s.Comm = string(stat[open+1 : close])
	s.PPID, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.Ticks = ut + st
	return s, true
}
