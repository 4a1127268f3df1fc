package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flurryfn/flurry/e2e/internal/benchsys"
)

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
		st, ok := benchsys.ReadProcStat(pid)
		if !ok {
			continue // gone meanwhile
		}
		s.ticks[pid] = procTicks{group: groupOf(dir, st.Comm), ticks: st.Ticks}
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
		return fmt.Sprintf("%.0f µs", float64(t)*1e6/benchsys.ClockTicks/float64(activations))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CPU over %.1f s (%.2f cores) per activation, %d activations:\n\n| process | CPU per activation |\n|---|---|\n",
		after.at.Sub(before.at).Seconds(), float64(total)/benchsys.ClockTicks/after.at.Sub(before.at).Seconds(), activations)
	for _, g := range groups {
		if use[g]*100 < total { // under 1 %
			continue
		}
		fmt.Fprintf(&b, "| %s | %s |\n", g, per(use[g]))
	}
	fmt.Fprintf(&b, "| all | %s |\n", per(total))
	return b.String()
}
