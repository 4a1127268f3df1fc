package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// An idle warm container must not wake: with hundreds of them on a host,
// a wake-up a second each is CPU spent on nothing. The proxy once woke
// every second for nats-server's CPU sampler, which every process linking
// nats-server runs (cmd/flurry's quietSampler). The proxy here runs as a
// process, as the process runtime runs it; in a container it is the same
// binary and code.
func TestIdleProxySleeps(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "proxy.sock")
	cmd := exec.Command(buildFlurry(t), "proxy", "--listen", "unix:"+sock, "--dir", filepath.Join(dir, "code"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the proxy did not listen within 10 s")
		}
	}
	time.Sleep(2 * time.Second) // past the start's own work and the sampler's first tick
	before := voluntarySwitches(t, cmd.Process.Pid)
	time.Sleep(4 * time.Second)
	// Woken every second, the proxy went to sleep again 15–22 times in
	// 4 s on our machines; asleep, none.
	if n := voluntarySwitches(t, cmd.Process.Pid) - before; n > 2 {
		t.Errorf("an idle proxy went back to sleep %d times in 4 s: something wakes it", n)
	}
}

// voluntarySwitches sums the times the threads of process pid went to
// sleep.
func voluntarySwitches(t *testing.T, pid int) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "status"))
	if err != nil || len(files) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	sum := 0
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue // a thread that ended
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "voluntary_ctxt_switches:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				sum += n
			}
		}
		f.Close()
	}
	return sum
}
