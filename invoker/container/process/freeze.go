package process

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flurryfn/flurry/invoker/container"
)

var _ container.Freezer = (*Runtime)(nil)

// Freeze stops the proxy and every descendant with SIGSTOP (there is no
// cgroup to freeze). A process forked while the tree is being walked is
// caught by walking it again until no new one shows up. A tree member
// that is killed by SIGKILL dies stopped or not, so Remove needs no thaw.
func (r *Runtime) Freeze(ctx context.Context, id string) error {
	pid, err := r.livePID(id)
	if err != nil {
		return fmt.Errorf("freeze %s: %w", id, err)
	}
	stopped := map[int]bool{}
	for {
		fresh := 0
		for _, p := range append([]int{pid}, descendants(pid)...) {
			if !stopped[p] {
				_ = syscall.Kill(p, syscall.SIGSTOP)
				stopped[p] = true
				fresh++
			}
		}
		if fresh == 0 {
			break
		}
	}
	// SIGSTOP is delivered asynchronously: wait until each is stopped.
	for p := range stopped {
		for delay := 50 * time.Microsecond; !stoppedOrGone(p); delay = min(2*delay, 10*time.Millisecond) {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("freeze %s: %w", id, ctx.Err())
			case <-t.C:
			}
		}
	}
	return nil
}

// Thaw continues the proxy and every descendant.
func (r *Runtime) Thaw(_ context.Context, id string) error {
	pid, err := r.livePID(id)
	if err != nil {
		return fmt.Errorf("thaw %s: %w", id, err)
	}
	for _, p := range append([]int{pid}, descendants(pid)...) {
		_ = syscall.Kill(p, syscall.SIGCONT)
	}
	return nil
}

// livePID is the pid of the proxy this Runtime started as id, while it runs.
func (r *Runtime) livePID(id string) (int, error) {
	r.mu.Lock()
	p := r.procs[id]
	r.mu.Unlock()
	if p == nil {
		return 0, container.ErrNotFound
	}
	select {
	case <-p.exited:
		return 0, container.ErrNotFound
	default:
	}
	return p.cmd.Process.Pid, nil
}

// stoppedOrGone reports whether pid is stopped (state T), a zombie, or gone.
func stoppedOrGone(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return true
	}
	switch s[i+2] {
	case 'T', 't', 'Z', 'X':
		return true
	}
	return false
}
