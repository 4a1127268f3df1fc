package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flurryfn/flurry/invoker/container"
)

var _ container.Runtime = (*Runtime)(nil)

// metaFile is the file in each container directory describing it.
const metaFile = "container.json"

// Config configures a Runtime.
type Config struct {
	// Command is the proxy program and its leading arguments, e.g.
	// ["/usr/local/bin/flurry", "proxy"]; Start appends
	// "--listen", addr, "--dir", dir. Required.
	Command []string
	// BaseDir holds one directory per container. Required.
	BaseDir string
	// InvokerID is put in the LabelInvoker label of every container.
	InvokerID string
	// Env is the base environment of every proxy ("K=V"); Spec.Env is
	// appended. Default: a PATH only.
	Env []string
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	switch {
	case len(c.Command) == 0 || c.Command[0] == "":
		return errors.New("process config: command is required")
	case c.BaseDir == "":
		return errors.New("process config: base dir is required")
	}
	if c.Env == nil {
		c.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	}
	return nil
}

// meta is what container.json holds.
type meta struct {
	Name    string            `json:"name"`
	PID     int               `json:"pid"`
	Addr    string            `json:"addr"`
	Labels  map[string]string `json:"labels"`
	Started time.Time         `json:"started"`
}

// Runtime runs action proxies as local processes. It is safe for
// concurrent use.
type Runtime struct {
	cfg Config

	mu    sync.Mutex
	procs map[string]*proc // started by this Runtime, by id
}

type proc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when Wait returned
}

// New returns a Runtime; it creates BaseDir.
func New(cfg Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.BaseDir, 0o755); err != nil {
		return nil, fmt.Errorf("process runtime: %w", err)
	}
	return &Runtime{cfg: cfg, procs: map[string]*proc{}}, nil
}

// Name is "process".
func (r *Runtime) Name() string { return "process" }

// Start runs the proxy on a free loopback port. The container's id is
// spec.Name, which must be a single path element.
func (r *Runtime) Start(ctx context.Context, spec container.Spec) (_ *container.Container, err error) {
	id := spec.Name
	if !validID(id) {
		return nil, fmt.Errorf("process runtime: invalid container name %q", id)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if spec.Network != "" && spec.Network != container.NetworkDefault {
		// A local process shares the host's network: nothing to take away.
		return nil, fmt.Errorf("start %s: network %q: the process runtime isolates nothing: %w", id, spec.Network, container.ErrNetworkPolicy)
	}
	dir := filepath.Join(r.cfg.BaseDir, id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	addr, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}

	// Our own pipes instead of cmd.StdoutPipe: the reader must outlive
	// Wait, which closes StdoutPipe's end.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	args := append(append([]string{}, r.cfg.Command[1:]...), "--listen", addr, "--dir", filepath.Join(dir, "action"))
	cmd := exec.Command(r.cfg.Command[0], args...)
	cmd.Dir = dir
	cmd.Env = append(append(append([]string{}, r.cfg.Env...), "TMPDIR="+dir, "HOME="+dir), spec.Env...)
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()

	labels := map[string]string{
		container.LabelManaged: "true",
		container.LabelInvoker: r.cfg.InvokerID,
		container.LabelKind:    spec.Kind,
	}
	maps.Copy(labels, spec.Labels)
	m := meta{Name: id, PID: cmd.Process.Pid, Addr: addr, Labels: labels, Started: time.Now().UTC()}
	if err := writeMeta(dir, m); err != nil {
		killTree(cmd.Process.Pid)
		<-p.exited
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	r.mu.Lock()
	r.procs[id] = p
	r.mu.Unlock()
	return &container.Container{ID: id, Addr: addr, Stdout: outR, Stderr: errR}, nil
}

// Remove kills the proxy and its descendants and deletes the container's
// directory. It also removes leftovers of a previous run found by List.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("remove %q: %w", id, container.ErrNotFound)
	}
	dir := filepath.Join(r.cfg.BaseDir, id)
	r.mu.Lock()
	p := r.procs[id]
	delete(r.procs, id)
	r.mu.Unlock()

	m, err := readMeta(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && p == nil:
		return fmt.Errorf("remove %s: %w", id, container.ErrNotFound)
	case err != nil && p == nil:
		// A directory without readable metadata: nothing to kill.
	case p != nil:
		select {
		case <-p.exited:
			// Already reaped: its pid may be reused, so kill nothing.
		default:
			killTree(p.cmd.Process.Pid)
		}
		select {
		case <-p.exited:
		case <-ctx.Done():
			return fmt.Errorf("remove %s: wait for exit: %w", id, ctx.Err())
		}
	case ownedBy(m.PID, dir):
		// A previous run's process (not our child: nothing to wait for).
		killTree(m.PID)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	return nil
}

// List returns the containers under BaseDir carrying all of labels,
// running or not.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]container.Info, error) {
	entries, err := os.ReadDir(r.cfg.BaseDir)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []container.Info
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		m, err := readMeta(filepath.Join(r.cfg.BaseDir, e.Name()))
		if err != nil {
			continue // being created or removed
		}
		if matches(m.Labels, labels) {
			out = append(out, container.Info{ID: e.Name(), Name: m.Name, Labels: m.Labels})
		}
	}
	return out, nil
}

func matches(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

func validID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`)
}

// freePort reserves a free loopback port by binding and releasing it. Another
// process could take it before the proxy binds; the proxy then fails and
// the caller's WaitReady times out, as for any proxy that does not start.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

func writeMeta(dir string, m meta) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, metaFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, metaFile))
}

func readMeta(dir string) (meta, error) {
	var m meta
	data, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(data, &m)
}

// ownedBy reports whether pid is still the proxy started for dir, so a
// recycled pid of an unrelated process is never killed.
func ownedBy(pid int, dir string) bool {
	if pid <= 0 {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && strings.Contains(string(cmdline), dir)
}
