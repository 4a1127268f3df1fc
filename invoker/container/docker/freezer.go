package docker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/flurryfn/flurry/invoker/container"
)

var _ container.Freezer = (*Runtime)(nil)

// cgroupRoot is where the host's cgroup file systems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// freezeMethod is how a container was frozen, so that Thaw and Remove undo
// it the same way.
type freezeMethod int

const (
	thawed       freezeMethod = iota
	frozenCgroup              // through the cgroup's freezer file
	frozenPause               // through the engine's pause API
)

// Freeze stops every process of container id. It writes the cgroup
// freezer directly (cgroup v1 freezer.state, v2 cgroup.freeze), which
// costs far less than the engine's pause, a round trip through containerd
// and runc; where neither file is found (another cgroup driver or layout)
// it falls back to the engine's pause.
func (r *Runtime) Freeze(ctx context.Context, id string) error {
	r.mu.Lock()
	m := r.frozen[id]
	r.mu.Unlock()
	if m != thawed {
		return nil
	}
	if cg := r.cgroup(id); cg != nil {
		if err := cg.set(ctx, true); err != nil {
			return fmt.Errorf("freeze container %s: %w", id, err)
		}
		m = frozenCgroup
	} else {
		if err := r.cli.ContainerPause(ctx, id); err != nil {
			return fmt.Errorf("freeze container %s: %w", id, engineErr(err))
		}
		m = frozenPause
	}
	r.mu.Lock()
	r.frozen[id] = m
	r.mu.Unlock()
	return nil
}

// Thaw lets the processes of container id run again.
func (r *Runtime) Thaw(ctx context.Context, id string) error {
	r.mu.Lock()
	m := r.frozen[id]
	r.mu.Unlock()
	var err error
	switch m {
	case thawed:
		if !r.known(id) {
			return fmt.Errorf("thaw container %s: %w", id, container.ErrNotFound)
		}
		return nil
	case frozenCgroup:
		if cg := r.cgroup(id); cg != nil {
			err = cg.set(ctx, false)
		} else {
			err = container.ErrNotFound
		}
	case frozenPause:
		err = engineErr(r.cli.ContainerUnpause(ctx, id))
	}
	if err != nil {
		return fmt.Errorf("thaw container %s: %w", id, err)
	}
	r.mu.Lock()
	delete(r.frozen, id)
	r.mu.Unlock()
	return nil
}

// known reports whether this runtime started id and has not removed it.
func (r *Runtime) known(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.attached[id]
	return ok
}

func engineErr(err error) error {
	if client.IsErrNotFound(err) {
		return container.ErrNotFound
	}
	return err
}

// freezer is one container's cgroup freezer file.
type freezer struct {
	path string
	v2   bool
}

// cgroup finds container id's freezer file: the cgroupfs driver's paths
// under cgroup v1 and v2, and the systemd driver's under v2. Nil when
// none exists (another layout, or id unknown).
func (r *Runtime) cgroup(id string) *freezer {
	if strings.ContainsAny(id, `/\.`) || id == "" {
		return nil
	}
	for _, f := range []freezer{
		{filepath.Join(cgroupRoot, "freezer", "docker", id, "freezer.state"), false},
		{filepath.Join(cgroupRoot, "docker", id, "cgroup.freeze"), true},
		{filepath.Join(cgroupRoot, "system.slice", "docker-"+id+".scope", "cgroup.freeze"), true},
	} {
		if _, err := os.Stat(f.path); err == nil {
			return &f
		}
	}
	return nil
}

// set freezes or thaws the cgroup and waits until the kernel reports the
// new state: a freeze is not done while a task may still run.
func (f *freezer) set(ctx context.Context, frozen bool) error {
	want, done, state := "THAWED", "THAWED", f.path
	if frozen {
		want, done = "FROZEN", "FROZEN"
	}
	if f.v2 {
		want, done = "0", "frozen 0"
		if frozen {
			want, done = "1", "frozen 1"
		}
		state = filepath.Join(filepath.Dir(f.path), "cgroup.events")
	}
	for delay := 50 * time.Microsecond; ; delay = min(2*delay, 10*time.Millisecond) {
		if err := os.WriteFile(f.path, []byte(want), 0); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return container.ErrNotFound
			}
			return err
		}
		b, err := os.ReadFile(state)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), done) {
			return nil
		}
		// A v1 freeze reads FREEZING while tasks are still being stopped;
		// writing FROZEN again retries them, as runc does.
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
