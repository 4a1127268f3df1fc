package docker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/flurryfn/flurry/invoker/container"
	"github.com/flurryfn/flurry/invoker/container/docker"
)

// Freeze writes the cgroup freezer (v1 here) rather than going through the
// engine: the container's freezer state follows Freeze and Thaw.
func TestFreezeCgroup(t *testing.T) {
	rt := newRuntime(t, docker.Config{SocketDir: shortTempDir(t)})
	c, _, _ := start(t, rt, container.Spec{})
	state := freezerState(t, c.ID)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 3 {
		if err := rt.Freeze(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(state); strings.TrimSpace(string(b)) != "FROZEN" {
			t.Fatalf("freezer state after Freeze: %q", b)
		}
		if err := rt.Thaw(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(state); strings.TrimSpace(string(b)) != "THAWED" {
			t.Fatalf("freezer state after Thaw: %q", b)
		}
	}
}

// freezerState is the cgroup v1 freezer state file of container id; the
// test skips where there is none (the fallback is the engine's pause).
func freezerState(t testing.TB, id string) string {
	t.Helper()
	state := filepath.Join("/sys/fs/cgroup/freezer/docker", id, "freezer.state")
	if _, err := os.Stat(state); err != nil {
		t.Skipf("no cgroup v1 freezer for the container (%v)", err)
	}
	return state
}

// BenchmarkFreeze is what one freeze and one thaw cost, through the cgroup
// freezer (what Runtime does) and through the engine's pause and unpause
// (the fallback), for ADR 021:
//
//	go test -run '^$' -bench BenchmarkFreeze -benchtime 20x ./invoker/container/docker/
func BenchmarkFreeze(b *testing.B) {
	rt := newRuntime(b, docker.Config{SocketDir: shortTempDir(b)})
	c, _, _ := start(b, rt, container.Spec{})
	freezerState(b, c.ID)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	for _, m := range []struct {
		name         string
		freeze, thaw func(context.Context, string) error
	}{
		{"cgroup", rt.Freeze, rt.Thaw},
		{"engine", func(ctx context.Context, id string) error { return cli.ContainerPause(ctx, id) },
			func(ctx context.Context, id string) error { return cli.ContainerUnpause(ctx, id) }},
	} {
		b.Run(m.name, func(b *testing.B) {
			var frozen, thawed time.Duration
			for range b.N {
				t0 := time.Now()
				if err := m.freeze(ctx, c.ID); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := m.thaw(ctx, c.ID); err != nil {
					b.Fatal(err)
				}
				frozen, thawed = frozen+t1.Sub(t0), thawed+time.Since(t1)
			}
			b.ReportMetric(float64(frozen.Microseconds())/float64(b.N), "freeze-µs/op")
			b.ReportMetric(float64(thawed.Microseconds())/float64(b.N), "thaw-µs/op")
		})
	}
}

// Each unix-addressed container's socket directory is a tmpfs of its own
// of DefaultSocketDirSize, owned by the image's user, gone with the
// container; a fresh Runtime unmounts what an earlier one left.
func TestSocketDirTmpfs(t *testing.T) {
	dir := shortTempDir(t)
	rt := newRuntime(t, docker.Config{SocketDir: dir})
	c, _, _ := start(t, rt, container.Spec{})
	sockDir := filepath.Join(dir, "c1")
	m := mountOf(t, sockDir)
	if !strings.Contains(m, " tmpfs ") || !strings.Contains(m, "size=64k") || !strings.Contains(m, "uid=65534") {
		t.Errorf("socket directory mount: %q, want a 64k tmpfs of uid 65534", m)
	}
	// A new Runtime over the same directory (an invoker restarted while
	// its containers ran) unmounts the leftover.
	newRuntime(t, docker.Config{SocketDir: dir})
	if m := mountOf(t, sockDir); m != "" {
		t.Errorf("leftover mount after a new Runtime: %q", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rt.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	c2, _, _ := start(t, rt, container.Spec{})
	sock2 := filepath.Join(dir, "c2")
	if mountOf(t, sock2) == "" {
		t.Fatal("second container's socket directory not mounted")
	}
	if err := rt.Remove(ctx, c2.ID); err != nil {
		t.Fatal(err)
	}
	if m := mountOf(t, sock2); m != "" {
		t.Errorf("mount after Remove: %q", m)
	}
}

// mountOf is the /proc/self/mounts line of the mount at dir, "" if none.
func mountOf(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == dir {
			return l
		}
	}
	return ""
}

// BenchmarkSocketDir is the cost of a socket directory's tmpfs: its mount
// is on a container start's path, its unmount on a removal's.
func BenchmarkSocketDir(b *testing.B) {
	dir, err := os.MkdirTemp("", "flb")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, phase := range []string{"mount", "unmount"} {
		b.Run(phase, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if phase == "unmount" {
					b.StopTimer()
				}
				unmount, err := docker.MountSocketDirForBench(filepath.Join(dir, fmt.Sprint(phase, i)))
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if phase == "unmount" {
					b.StartTimer()
				}
				err = unmount()
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
