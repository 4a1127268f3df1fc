package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Defaults for Config.
const (
	// DefaultNetwork is Flurry's own bridge network, created at New,
	// whose interface the metadata rules name (network.go).
	DefaultNetwork     = "flurry"
	DefaultBridge      = "flurry0"
	DefaultPidsLimit   = 256
	DefaultTmpSize     = "64m"
	DefaultMemoryBytes = 256 << 20
	DefaultLogDriver   = "none"
	// DefaultCPUSharesPerGiB gives a container of 1 GiB Docker's default
	// weight of 1024: CPU under contention is shared in proportion to
	// memory, as OpenWhisk and Lambda share it.
	DefaultCPUSharesPerGiB = 1024
	// DefaultSocketDirSize bounds the tmpfs of one container's socket
	// directory: two sockets need no bytes, a few inodes.
	DefaultSocketDirSize   = 64 << 10
	DefaultSocketDirInodes = 16
	// DefaultNetworkOps bounds the container starts and removals in
	// flight at once (Config.NetworkOps).
	DefaultNetworkOps = 4
	// ProxyPort is the port of the action proxy inside the container.
	ProxyPort = 8080
	// SocketMount is where a container's socket directory is mounted, and
	// SocketName the proxy's socket in it (Config.SocketDir).
	SocketMount = "/run/flurry"
	SocketName  = "proxy.sock"
	// LabelSocket carries the host path of a container's proxy socket, so
	// tools (the benchmarks' direct baseline) can find it.
	LabelSocket = "io.flurry.socket"
	// maxSocketDir keeps SocketDir/c<n>/proxy.sock inside the 108 bytes
	// of a unix socket address.
	maxSocketDir = 80
)

// Config configures a Runtime. The zero value is usable: Validate fills
// the defaults.
type Config struct {
	// Network is the Docker network containers join. Default "flurry", a
	// bridge network New creates with the interface DefaultBridge.
	Network string
	// AllowMetadata turns off the rules New installs so that containers
	// cannot reach link-local addresses (169.254.0.0/16, where clouds
	// serve instance metadata and credentials, and fd00:ec2::254). Off,
	// New fails when it cannot install them.
	AllowMetadata bool
	// PidsLimit bounds the processes of one container. Default 256.
	PidsLimit int64
	// TmpSize is the size of the tmpfs on /tmp (docker syntax, e.g. "64m").
	TmpSize string
	// CPUSharesPerGiB is the relative CPU weight of a container per GiB
	// of its memory limit (Docker's minimum of 2 at least). Default
	// DefaultCPUSharesPerGiB.
	CPUSharesPerGiB int64
	// CPULimitPerGiB, when positive, is a hard CPU limit in cores per GiB
	// of a container's memory limit (0.5: a 256 MiB container gets an
	// eighth of a core, at least a hundredth); 0 sets no limit, so an
	// idle host lends its CPU to whoever runs.
	CPULimitPerGiB float64
	// DefaultMemoryBytes is the memory limit when Spec.MemoryBytes is 0.
	// Default 256 MiB.
	DefaultMemoryBytes int64
	// LogDriver is the engine's log driver for action containers. Default
	// "none": Flurry reads output through attach.
	LogDriver string
	// ContainerIP addresses the proxy on the container's own IP on Network
	// instead of publishing port 8080 on 127.0.0.1 (the default). It saves
	// the docker-proxy hop, but sends traffic to a private-range address,
	// which our shared machines forbid; opt in only where that is allowed
	// and the host routes to the bridge.
	ContainerIP bool
	// SocketDir, when set, makes containers of Flurry's own runtime images
	// (whose entrypoint is "/flurry proxy") serve the action protocol on a
	// unix socket instead of a port: each container gets a directory
	// SocketDir/<container name>, bind-mounted at /run/flurry, and its
	// proxy listens on proxy.sock there and returns each activation's logs
	// in its answers. No port is published, so neither docker-proxy nor
	// TCP is on the activation path (ADR 012). Other images (blackbox)
	// keep the TCP addressing above. The directory must be on the engine's
	// host, so an invoker that runs in a container of its own needs it
	// bind-mounted at the same path, or leaves this unset.
	SocketDir string
	// UnquotedSocketDirs leaves SocketDir's per-container directories
	// plain directories of the host's disk instead of a tmpfs of
	// DefaultSocketDirSize each, for invokers that cannot mount (not
	// root): then an action can fill the disk under SocketDir.
	UnquotedSocketDirs bool
	// NetworkOps bounds the container starts and removals in flight at
	// once. Each sets up or tears down a network sandbox, and Docker
	// 20.10's libnetwork can deadlock when dozens do at once on a
	// user-defined network (every later start, and `docker info`, hang
	// until the daemon restarts). The engine serialises much of that work
	// anyway, so a small bound costs little. Default DefaultNetworkOps.
	NetworkOps int
	// InvokerID is put in the LabelInvoker label of every container.
	InvokerID string
	// BuildContext, when set, lets EnsureImage build a missing image: it
	// returns the tar build context for image, or an error when the image
	// is not one Flurry can build.
	BuildContext func(ctx context.Context, image string) (io.Reader, error)
	// Logger receives start timings at debug level. Default: discard.
	Logger *slog.Logger
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if c.PidsLimit == 0 {
		c.PidsLimit = DefaultPidsLimit
	}
	if c.TmpSize == "" {
		c.TmpSize = DefaultTmpSize
	}
	if c.DefaultMemoryBytes == 0 {
		c.DefaultMemoryBytes = DefaultMemoryBytes
	}
	if c.CPUSharesPerGiB == 0 {
		c.CPUSharesPerGiB = DefaultCPUSharesPerGiB
	}
	if c.LogDriver == "" {
		c.LogDriver = DefaultLogDriver
	}
	if c.NetworkOps == 0 {
		c.NetworkOps = DefaultNetworkOps
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.NetworkOps < 0:
		return fmt.Errorf("docker config: network ops %d is negative", c.NetworkOps)
	case c.PidsLimit < 0:
		return fmt.Errorf("docker config: pids limit %d is negative", c.PidsLimit)
	case c.CPUSharesPerGiB < 0:
		return fmt.Errorf("docker config: cpu shares per GiB %d is negative", c.CPUSharesPerGiB)
	case c.CPULimitPerGiB < 0:
		return fmt.Errorf("docker config: cpu limit per GiB %g is negative", c.CPULimitPerGiB)
	case len(c.SocketDir) > maxSocketDir:
		return fmt.Errorf("docker config: socket directory %q is longer than %d bytes (unix socket paths are short)", c.SocketDir, maxSocketDir)
	case c.DefaultMemoryBytes < 6<<20:
		return errors.New("docker config: default memory below Docker's 6 MiB minimum")
	}
	return nil
}
