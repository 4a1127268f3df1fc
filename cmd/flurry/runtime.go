package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/flurryfn/flurry/actions/runtimes"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/invoker/container"
	"github.com/flurryfn/flurry/invoker/container/docker"
	"github.com/flurryfn/flurry/invoker/container/process"
)

// runtimeChoice is the --runtime flag: which container runtime an invoker uses.
type runtimeChoice string

const (
	runtimeAuto    runtimeChoice = "auto"
	runtimeDocker  runtimeChoice = "docker"
	runtimeProcess runtimeChoice = "process"
)

// containerAddr is the --container-addr flag: how the invoker reaches a
// Docker container's action proxy.
type containerAddr string

const (
	// containerAddrLoopback publishes port 8080 on 127.0.0.1 (through
	// docker-proxy): works wherever Docker does.
	containerAddrLoopback containerAddr = "loopback"
	// containerAddrBridge dials the container's IP on its bridge network
	// directly, saving the docker-proxy hop; the host must route to the
	// bridge (Linux with a local engine does, Docker Desktop does not).
	containerAddrBridge containerAddr = "bridge"
	// containerAddrUnix has the proxy of Flurry's own images listen on a
	// unix socket in a directory bind-mounted from the invoker's work dir,
	// and answer with each activation's logs (ADR 012): no docker-proxy,
	// no TCP, no log lines through the engine. Blackbox images use
	// loopback. The invoker must see the same paths as the engine.
	containerAddrUnix containerAddr = "unix"
)

// containerAddrUsage is the --container-addr flag's help.
const containerAddrUsage = "how the invoker reaches Docker containers: unix (a socket bind-mounted from the work dir; blackbox images use loopback), " +
	"loopback (a port published on 127.0.0.1, through docker-proxy) or bridge (the container's IP; needs a host that routes to the bridge)"

// parseContainerAddr checks the --container-addr flag.
func parseContainerAddr(s string) (containerAddr, error) {
	switch a := containerAddr(s); a {
	case containerAddrLoopback, containerAddrBridge, containerAddrUnix:
		return a, nil
	}
	return "", fmt.Errorf("--container-addr %q: want unix, loopback or bridge", s)
}

// socketDir is where a unix-addressed invoker keeps its containers'
// sockets: under workDir, or under the temp dir when workDir is too long
// for a unix socket path.
func socketDir(workDir string) string {
	dir := filepath.Join(workDir, "sockets")
	if len(dir) <= 60 {
		return dir
	}
	sum := sha256.Sum256([]byte(workDir))
	return filepath.Join(os.TempDir(), "flurry-sockets-"+hex.EncodeToString(sum[:6]))
}

// containerRuntime picks the container runtime for an invoker and makes sure
// the images of Flurry's own runtime kinds exist, building missing ones
// from this very executable (it is also the in-container action proxy).
// It returns the runtime and the image (or proxy) of each kind.
func containerRuntime(ctx context.Context, choice runtimeChoice, addr containerAddr, cf containFlags, invokerID, workDir string, progress io.Writer, log *slog.Logger) (container.Runtime, map[string]string, error) {
	exePath, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("locate own executable: %w", err)
	}
	if choice != runtimeProcess {
		dcfg := docker.Config{InvokerID: invokerID, ContainerIP: addr == containerAddrBridge}
		if addr == containerAddrUnix {
			dcfg.SocketDir = socketDir(workDir)
		}
		cf.applyDocker(&dcfg)
		rt, derr := docker.New(ctx, dcfg)
		if errors.Is(derr, docker.ErrSocketQuota) {
			fmt.Fprintf(progress, "WARNING: cannot mount the size-limited tmpfs of unix socket directories (%v);\n"+
				"  containers are reached over loopback TCP instead, and namespaces with network none cannot run (run as root for unix sockets)\n", derr)
			dcfg.SocketDir = ""
			rt, derr = docker.New(ctx, dcfg)
		}
		if errors.Is(derr, docker.ErrMetadataRule) {
			return nil, nil, fmt.Errorf("%w (run as root, or pass --allow-metadata where containers may reach link-local addresses)", derr)
		}
		if derr == nil {
			images, err := ensureImages(ctx, rt, exePath, progress)
			if err != nil {
				return nil, nil, err
			}
			return rt, images, nil
		}
		if choice == runtimeDocker {
			return nil, nil, fmt.Errorf("docker runtime requested: %w", derr)
		}
		log.Warn("no Docker engine reachable; using the process runtime (actions run as local processes, without isolation or memory limits)", "err", derr)
	}
	rt, err := process.New(process.Config{
		Command:   []string{exePath, "proxy"},
		BaseDir:   filepath.Join(workDir, "containers"),
		InvokerID: invokerID,
	})
	if err != nil {
		return nil, nil, err
	}
	return rt, map[string]string{entity.KindGo: exePath}, nil
}

// ensureImages builds the image of each of Flurry's runtime kinds that is
// missing locally. There is no registry to pull from: images are built
// from this executable, tagged by content, so a rebuild happens only when
// the binary or a kind's recipe changed. The go kind must build; a
// language kind that cannot (no mmdebstrap, no network) is left out with
// a warning, and its activations get an internal-error record.
func ensureImages(ctx context.Context, rt *docker.Runtime, exePath string, progress io.Writer) (map[string]string, error) {
	b, err := newImageBuilder(rt, exePath, progress)
	if err != nil {
		return nil, err
	}
	images := map[string]string{}
	for _, kind := range runtimes.Kinds() {
		tag, err := b.ensure(ctx, kind, false)
		switch {
		case err == nil:
			images[kind] = tag
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case kind == entity.KindGo:
			return nil, err
		default:
			fmt.Fprintf(progress, "WARNING: kind %s is unavailable: %v\n  (install mmdebstrap and run `make images` or `flurry images`, then restart)\n", kind, err)
		}
	}
	return images, nil
}

// imageBuilder builds Flurry's runtime images on a Docker engine: the go
// image from this executable alone; a language kind's image from its base
// image (a Debian root file system made with mmdebstrap, cached under
// cacheDir) plus this executable.
type imageBuilder struct {
	rt       *docker.Runtime
	exe      []byte
	exePath  string
	cacheDir string
	progress io.Writer
}

func newImageBuilder(rt *docker.Runtime, exePath string, progress io.Writer) (*imageBuilder, error) {
	exe, err := os.ReadFile(exePath)
	if err != nil {
		return nil, fmt.Errorf("read own executable: %w", err)
	}
	static, err := runtimes.IsStatic(exe)
	if err != nil {
		return nil, fmt.Errorf("inspect own executable: %w", err)
	}
	if !static {
		return nil, fmt.Errorf("%s is dynamically linked and cannot serve as the in-container proxy of a runtime image; build it with CGO_ENABLED=0 (make build)", exePath)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return &imageBuilder{rt: rt, exe: exe, exePath: exePath, cacheDir: filepath.Join(cache, "flurry"), progress: progress}, nil
}

// ensure returns the tag of kind's image, building it (and its base) when
// missing, or always with rebuild.
func (b *imageBuilder) ensure(ctx context.Context, kind string, rebuild bool) (string, error) {
	tag, err := runtimes.Image(kind, b.exe)
	if err != nil {
		return "", err
	}
	if !rebuild {
		ok, err := b.rt.ImageExists(ctx, tag)
		if err != nil {
			return "", err
		}
		if ok {
			fmt.Fprintf(b.progress, "runtime image %s present\n", tag)
			return tag, nil
		}
	}
	if baseTag, ok := runtimes.BaseImage(kind); ok {
		if err := b.ensureBase(ctx, kind, baseTag, rebuild); err != nil {
			return "", err
		}
	}
	t0 := time.Now()
	fmt.Fprintf(b.progress, "building runtime image %s ...\n", tag)
	bctx, err := runtimes.BuildContext(kind, b.exe)
	if err != nil {
		return "", err
	}
	if err := b.rt.BuildImage(ctx, tag, bctx, b.progress); err != nil {
		return "", fmt.Errorf("build image %s: %w", tag, err)
	}
	fmt.Fprintf(b.progress, "built runtime image %s in %.1fs\n", tag, time.Since(t0).Seconds())
	return tag, nil
}

// ensureBase builds a language kind's base image from its root file
// system, which mmdebstrap makes from Debian's packages when it is not
// cached yet.
func (b *imageBuilder) ensureBase(ctx context.Context, kind, baseTag string, rebuild bool) error {
	if !rebuild {
		ok, err := b.rt.ImageExists(ctx, baseTag)
		if err != nil || ok {
			return err
		}
	}
	t0 := time.Now()
	fmt.Fprintf(b.progress, "making the Debian %s root file system of kind %s with mmdebstrap (cached in %s; first time only) ...\n", runtimes.Suite, kind, b.cacheDir)
	rootfs, err := runtimes.Rootfs(ctx, kind, runtimes.RootfsConfig{
		CacheDir: b.cacheDir,
		Sources:  runtimes.HostSources("/etc/apt"),
		Progress: b.progress,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(b.progress, "root file system %s ready after %.1fs; building base image %s ...\n", rootfs, time.Since(t0).Seconds(), baseTag)
	bctx, err := runtimes.BaseBuildContext(kind, rootfs)
	if err != nil {
		return err
	}
	defer bctx.Close()
	if err := b.rt.BuildImage(ctx, baseTag, bctx, b.progress); err != nil {
		return fmt.Errorf("build image %s: %w", baseTag, err)
	}
	fmt.Fprintf(b.progress, "built base image %s in %.1fs\n", baseTag, time.Since(t0).Seconds())
	return nil
}
