package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types"
	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/flurryfn/flurry/invoker/container"
)

var (
	_ container.Runtime      = (*Runtime)(nil)
	_ container.ImageEnsurer = (*Runtime)(nil)
)

// cleanupTimeout bounds removing a half-started container after Start failed.
const cleanupTimeout = 10 * time.Second

// Runtime starts action containers on a Docker engine. It is safe for
// concurrent use.
type Runtime struct {
	cfg Config
	cli *client.Client

	sockSeq atomic.Int64  // names socket directories (Config.SocketDir)
	netOps  chan struct{} // Config.NetworkOps tokens

	mu       sync.Mutex
	attached map[string]*types.HijackedResponse // by container id
	images   map[string]imageInfo               // by image reference
	sockDirs map[string]string                  // container id -> its socket directory
	frozen   map[string]freezeMethod            // containers Freeze froze, by id
}

// imageInfo is what Start needs to know of an image, cached per reference.
type imageInfo struct {
	owner string // tmpfs options that give /tmp to the image's user
	// flurryProxy is true when the image runs Flurry's own proxy, which
	// takes --listen unix:... and --inline-logs.
	flurryProxy bool
}

// New connects to the engine named by the standard DOCKER_* environment
// (the client reads it; Flurry's code does not) and pings it, so a missing
// engine fails here and not at the first activation.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker engine not reachable at %s: %w", cli.DaemonHost(), err)
	}
	r := &Runtime{cfg: cfg, cli: cli, netOps: make(chan struct{}, cfg.NetworkOps), attached: map[string]*types.HijackedResponse{},
		images: map[string]imageInfo{}, sockDirs: map[string]string{}, frozen: map[string]freezeMethod{}}
	if err := r.prepare(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	return r, nil
}

// prepare readies the host for containers: the socket directories, the
// network and its metadata rules.
func (r *Runtime) prepare(ctx context.Context) error {
	if r.cfg.SocketDir != "" {
		if err := prepareSocketRoot(r.cfg.SocketDir, !r.cfg.UnquotedSocketDirs); err != nil {
			return err
		}
	}
	bridge, err := r.ensureNetwork(ctx)
	if err != nil {
		return err
	}
	if r.cfg.AllowMetadata {
		return nil
	}
	return blockMetadata(ctx, bridge)
}

// Name is "docker".
func (r *Runtime) Name() string { return "docker" }

// Close closes the client and every attach stream still open.
func (r *Runtime) Close() error {
	r.mu.Lock()
	for id, h := range r.attached {
		h.Close()
		delete(r.attached, id)
	}
	r.mu.Unlock()
	return r.cli.Close()
}

// Start creates the container, attaches to its output, starts it and
// finds its address. On any failure the container is removed.
func (r *Runtime) Start(ctx context.Context, spec container.Spec) (_ *container.Container, err error) {
	t0 := time.Now()
	labels := map[string]string{
		container.LabelManaged: "true",
		container.LabelInvoker: r.cfg.InvokerID,
		container.LabelKind:    spec.Kind,
	}
	maps.Copy(labels, spec.Labels)
	mem := spec.MemoryBytes
	if mem == 0 {
		mem = r.cfg.DefaultMemoryBytes
	}
	img, err := r.imageInfo(ctx, spec.Image)
	if err != nil {
		return nil, err
	}
	onSocket := r.cfg.SocketDir != "" && img.flurryProxy
	netMode := r.cfg.Network
	switch spec.Network {
	case "", container.NetworkDefault:
	case container.NetworkNone:
		if !onSocket {
			// Reached over TCP, a container without network is unreachable.
			return nil, fmt.Errorf("container %q: no network needs Flurry's proxy on a unix socket (SocketDir), not TCP: %w", spec.Name, container.ErrNetworkPolicy)
		}
		netMode = "none"
	default:
		return nil, fmt.Errorf("container %q: network %q: %w", spec.Name, spec.Network, container.ErrNetworkPolicy)
	}
	port := nat.Port(strconv.Itoa(ProxyPort) + "/tcp")

	cfg := &dcontainer.Config{
		Image:  spec.Image,
		Labels: labels,
		Env:    spec.Env,
	}
	host := &dcontainer.HostConfig{
		NetworkMode:    dcontainer.NetworkMode(netMode),
		LogConfig:      dcontainer.LogConfig{Type: r.cfg.LogDriver},
		Resources:      r.resources(mem),
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: true,
		Tmpfs:          map[string]string{"/tmp": "rw,exec,nosuid,nodev," + img.owner + "size=" + r.cfg.TmpSize},
	}
	var sockDir string
	switch {
	case onSocket:
		if sockDir, err = r.socketDir(img.owner); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				_ = r.removeSocketDir(sockDir)
			}
		}()
		host.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: sockDir, Target: SocketMount}}
		// Appended to the image's entrypoint; the last --listen wins.
		cfg.Cmd = []string{"--listen", "unix:" + SocketMount + "/" + SocketName, "--inline-logs"}
		labels[LabelSocket] = filepath.Join(sockDir, SocketName)
	case !r.cfg.ContainerIP:
		cfg.ExposedPorts = nat.PortSet{port: {}}
		host.PortBindings = nat.PortMap{port: {{HostIP: "127.0.0.1", HostPort: "0"}}}
	}

	created, err := r.cli.ContainerCreate(ctx, cfg, host, nil, nil, spec.Name)
	if err != nil {
		return nil, fmt.Errorf("create container %q from %q: %w", spec.Name, spec.Image, err)
	}
	id := created.ID
	if sockDir != "" {
		r.mu.Lock()
		r.sockDirs[id] = sockDir
		r.mu.Unlock()
	}
	defer func() {
		if err != nil {
			r.cleanup(id)
		}
	}()
	tCreate := time.Now()

	// Attach before start so not even the first line is lost.
	hj, err := r.cli.ContainerAttach(ctx, id, dcontainer.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, fmt.Errorf("attach container %s: %w", id, err)
	}
	r.mu.Lock()
	r.attached[id] = &hj
	r.mu.Unlock()
	stdout, stderr := demux(&hj)
	defer func() {
		if err != nil {
			stdout.Close()
			stderr.Close()
		}
	}()
	tAttach := time.Now()

	if err := r.networkOp(ctx, func() error { return r.cli.ContainerStart(ctx, id, dcontainer.StartOptions{}) }); err != nil {
		return nil, fmt.Errorf("start container %s: %w", id, err)
	}
	tStart := time.Now()

	c := &container.Container{ID: id, Stdout: stdout, Stderr: stderr}
	if sockDir != "" {
		c.Addr, c.InlineLogs = "unix:"+filepath.Join(sockDir, SocketName), true
	} else {
		info, err := r.cli.ContainerInspect(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("inspect container %s: %w", id, err)
		}
		if c.Addr, err = r.address(info); err != nil {
			return nil, fmt.Errorf("container %s: %w", id, err)
		}
	}
	r.cfg.Logger.Debug("container started", "id", id[:12], "name", spec.Name, "image", spec.Image,
		"create", tCreate.Sub(t0), "attach", tAttach.Sub(tCreate), "start", tStart.Sub(tAttach),
		"inspect", time.Since(tStart), "total", time.Since(t0))
	return c, nil
}

// socketDir makes a fresh directory for one container's proxy socket,
// which the container's user (owner: tmpfs options, "" for root) creates
// in it: a tmpfs of its own (sockets.go), or with UnquotedSocketDirs a
// plain directory anyone may write. SocketDir itself stays private.
func (r *Runtime) socketDir(owner string) (string, error) {
	dir := filepath.Join(r.cfg.SocketDir, "c"+strconv.FormatInt(r.sockSeq.Add(1), 10))
	if !r.cfg.UnquotedSocketDirs {
		return dir, mountSocketDir(dir, owner)
	}
	if err := os.Mkdir(dir, 0o777); err != nil {
		return "", fmt.Errorf("socket directory: %w", err)
	}
	// Mkdir's mode is cut by the umask.
	if err := os.Chmod(dir, 0o777); err != nil {
		_ = os.Remove(dir)
		return "", fmt.Errorf("socket directory: %w", err)
	}
	return dir, nil
}

// removeSocketDir unmounts and removes one container's socket directory.
func (r *Runtime) removeSocketDir(dir string) error {
	if r.cfg.UnquotedSocketDirs {
		return os.RemoveAll(dir)
	}
	return unmountSocketDir(dir)
}

// imageInfo inspects image once per reference. The tmpfs options
// ("uid=U,gid=G,") make /tmp belong to the image's user: the engine copies
// the ownership and mode of the image's own /tmp onto the tmpfs (ignoring
// mode=), so without them a non-root user cannot write to /tmp unless the
// image's /tmp is world-writable. Named users cannot be resolved without
// the image's /etc/passwd and get no options.
func (r *Runtime) imageInfo(ctx context.Context, image string) (imageInfo, error) {
	r.mu.Lock()
	ii, ok := r.images[image]
	r.mu.Unlock()
	if ok {
		return ii, nil
	}
	info, err := r.cli.ImageInspect(ctx, image)
	if err != nil {
		return imageInfo{}, fmt.Errorf("inspect image %q: %w", image, err)
	}
	if c := info.Config; c != nil {
		ii.owner = ownerOptions(c.User)
		ii.flurryProxy = len(c.Entrypoint) >= 2 && c.Entrypoint[0] == "/flurry" && c.Entrypoint[1] == "proxy"
	}
	r.mu.Lock()
	r.images[image] = ii
	r.mu.Unlock()
	return ii, nil
}

// ownerOptions turns a Dockerfile USER ("uid", "uid:gid") into tmpfs
// options; anything not numeric gives none.
func ownerOptions(user string) string {
	uid, gid, hasGID := strings.Cut(user, ":")
	if _, err := strconv.ParseUint(uid, 10, 32); err != nil {
		return ""
	}
	if !hasGID {
		gid = uid
	}
	if _, err := strconv.ParseUint(gid, 10, 32); err != nil {
		return "uid=" + uid + ","
	}
	return "uid=" + uid + ",gid=" + gid + ","
}

// address is where the proxy of a started container listens.
func (r *Runtime) address(info dcontainer.InspectResponse) (string, error) {
	if info.NetworkSettings == nil {
		return "", errors.New("no network settings")
	}
	if !r.cfg.ContainerIP {
		port := nat.Port(strconv.Itoa(ProxyPort) + "/tcp")
		for _, b := range info.NetworkSettings.Ports[port] {
			if b.HostIP == "127.0.0.1" && b.HostPort != "" {
				return net.JoinHostPort(b.HostIP, b.HostPort), nil
			}
		}
		return "", fmt.Errorf("port %s is not published on 127.0.0.1", port)
	}
	if ep := info.NetworkSettings.Networks[r.cfg.Network]; ep != nil && ep.IPAddress != "" {
		return net.JoinHostPort(ep.IPAddress, strconv.Itoa(ProxyPort)), nil
	}
	return "", fmt.Errorf("no IP address on network %q", r.cfg.Network)
}

// demux splits the multiplexed attach stream into two pipes. Pipes block
// the copy when nobody reads, which is the Container contract: the caller
// must keep reading (a LogCollector does).
func demux(hj *types.HijackedResponse) (io.ReadCloser, io.ReadCloser) {
	or, ow := io.Pipe()
	er, ew := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(ow, ew, hj.Reader)
		hj.Close()
		ow.CloseWithError(err)
		ew.CloseWithError(err)
	}()
	return or, er
}

func (r *Runtime) cleanup(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_ = r.Remove(ctx, id)
}

// networkOp runs op, which starts or removes a container, holding one of
// Config.NetworkOps tokens.
func (r *Runtime) networkOp(ctx context.Context, op func() error) error {
	select {
	case r.netOps <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.netOps }()
	return op()
}

// Remove kills and removes the container with its anonymous volumes. It
// wraps container.ErrNotFound when the engine does not know id.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	// A frozen container's processes cannot die of the engine's SIGKILL
	// until thawed.
	if err := r.Thaw(ctx, id); err != nil && !errors.Is(err, container.ErrNotFound) {
		r.cfg.Logger.Warn("thaw before remove", "id", id, "err", err)
	}
	err := r.networkOp(ctx, func() error {
		return r.cli.ContainerRemove(ctx, id, dcontainer.RemoveOptions{Force: true, RemoveVolumes: true})
	})
	r.mu.Lock()
	delete(r.frozen, id)
	if h := r.attached[id]; h != nil {
		h.Close()
		delete(r.attached, id)
	}
	dir := r.sockDirs[id]
	delete(r.sockDirs, id)
	r.mu.Unlock()
	if dir != "" {
		if rerr := r.removeSocketDir(dir); rerr != nil {
			r.cfg.Logger.Warn("socket directory", "id", id, "err", rerr)
		}
	}
	if client.IsErrNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, container.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// List returns the containers, running or not, that carry all of labels.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]container.Info, error) {
	args := filters.NewArgs()
	for k, v := range labels {
		args.Add("label", k+"="+v)
	}
	list, err := r.cli.ContainerList(ctx, dcontainer.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]container.Info, 0, len(list))
	for _, c := range list {
		name := ""
		if len(c.Names) > 0 {
			name = c.Names[0]
			if name != "" && name[0] == '/' {
				name = name[1:]
			}
		}
		out = append(out, container.Info{ID: c.ID, Name: name, Labels: c.Labels})
	}
	return out, nil
}
