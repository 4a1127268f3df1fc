package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat: 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuSample is the CPU time every process had used, in clock ticks, by
// pid, with the group the process is counted in.
type cpuSample struct {
	at    time.Time
	ticks map[int]procTicks
}

type procTicks struct {
	group string
	ticks int64
}

// sampleCPU reads /proc/*/stat. Processes are grouped by command name;
// flurry processes by role (standalone, invoker, or the in-container
// proxy), since they are all the same binary.
func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now(), ticks: map[int]procTicks{}}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		open, close := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || close < open {
			continue
		}
		comm := string(stat[open+1 : close])
		// After "(comm) ": state is field 3; utime and stime are 14 and 15.
		f := strings.Fields(string(stat[close+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		s.ticks[pid] = procTicks{group: groupOf(dir, comm), ticks: ut + st}
	}
	return s
}

func groupOf(dir, comm string) string {
	if comm != "flurry" {
		return comm
	}
	cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
	args := strings.Split(string(cmdline), "\x00")
	if len(args) > 1 {
		return "flurry " + args[1]
	}
	return comm
}

// cpuAccount is CPU per activation by group between two samples, largest
// first, as markdown rows; processes that started in between count from 0.
func cpuAccount(before, after cpuSample, activations int64) string {
	use := map[string]int64{}
	for pid, a := range after.ticks {
		use[a.group] += a.ticks - before.ticks[pid].ticks
	}
	groups := make([]string, 0, len(use))
	var total int64
	for g, t := range use {
		if t > 0 {
			groups = append(groups, g)
			total += t
		}
	}
	slices.SortFunc(groups, func(a, b string) int { return int(use[b] - use[a]) })
	per := func(t int64) string {
		if activations == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f µs", float64(t)*1e6/clockTicks/float64(activations))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CPU over %.1f s (%.2f cores) per activation, %d activations:\n\n| process | CPU per activation |\n|---|---|\n",
		after.at.Sub(before.at).Seconds(), float64(total)/clockTicks/after.at.Sub(before.at).Seconds(), activations)
	for _, g := range groups {
		if use[g]*100 < total { // under 1 %
			continue
		}
		fmt.Fprintf(&b, "| %s | %s |\n", g, per(use[g]))
	}
	fmt.Fprintf(&b, "| all | %s |\n", per(total))
	return b.String()
}
