package process

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// killTree SIGKILLs pid, its process group, and every descendant with their
// groups. Descendants are found through /proc before anything is killed:
// once a parent dies its children are re-parented and the link is lost.
func killTree(pid int) {
	pids := append([]int{pid}, descendants(pid)...)
	for _, p := range pids {
		_ = syscall.Kill(-p, syscall.SIGKILL) // its group, if it leads one
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// descendants walks /proc's parent links down from pid.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := parentOf(p); ok {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// parentOf reads the ppid from /proc/<pid>/stat ("pid (comm) state ppid ...";
// comm may hold spaces and parentheses, so parse after the last ')').
func parentOf(pid int) (int, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}
