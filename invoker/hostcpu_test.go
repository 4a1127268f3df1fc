package invoker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
)

func TestReadCPUStat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// user nice system idle iowait irq softirq steal guest guest_nice
	write("cpu  100 0 50 800 50 0 0 0 40 0\ncpu0 1 2 3 4\n")
	busy, total, ok := readCPUStat(path)
	if !ok || busy != 150 || total != 1000 {
		t.Fatalf("readCPUStat = %d, %d, %v; want 150, 1000, true", busy, total, ok)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu  1 x 3 4\n", "cpu  1 2\n"} {
		write(bad)
		if _, _, ok := readCPUStat(path); ok {
			t.Errorf("readCPUStat(%q) ok, want not", bad)
		}
	}
	if _, _, ok := readCPUStat(filepath.Join(t.TempDir(), "missing")); ok {
		t.Error("missing file read ok")
	}
}

func TestHostCPUContended(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	h := newHostCPU(path)
	if h.contended() {
		t.Fatal("contended before any sample")
	}
	// Samples 95 % busy: contended; then idle: not.
	busy, idle := 0, 0
	step := func(b, i int) {
		busy, idle = busy+b, idle+i
		if err := os.WriteFile(path, fmt.Appendf(nil, "cpu  %d 0 0 %d 0 0 0 0 0 0\n", busy, idle), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	step(0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.run(ctx)
	stop := time.Now().Add(10 * time.Second)
	for !h.contended() && time.Now().Before(stop) {
		step(95, 5)
		time.Sleep(cpuSampleEvery / 2)
	}
	if !h.contended() {
		t.Fatal("never contended at 95 % busy")
	}
	testutil.CheckFor(t, 10*time.Second, cpuSampleEvery/2, func() error {
		step(5, 95)
		if h.contended() {
			return fmt.Errorf("still contended at 5 %% busy")
		}
		return nil
	})
}
