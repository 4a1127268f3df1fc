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
	DefaultNetwork     = "bridge"
	DefaultPidsLimit   = 256
	DefaultTmpSize     = "64m"
	DefaultMemoryBytes = 256 << 20
	DefaultLogDriver   = "none"
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
	// Network is the Docker network containers join. Default "bridge".
	Network string
	// PidsLimit bounds the processes of one container. Default 256.
	PidsLimit int64
	// TmpSize is the size of the tmpfs on /tmp (docker syntax, e.g. "64m").
	TmpSize string
	// CPUShares is the relative CPU weight; 0 leaves Docker's default.
	CPUShares int64
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
	if c.LogDriver == "" {
		c.LogDriver = DefaultLogDriver
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.PidsLimit < 0:
		return fmt.Errorf("docker config: pids limit %d is negative", c.PidsLimit)
	case c.CPUShares < 0:
		return fmt.Errorf("docker config: cpu shares %d is negative", c.CPUShares)
	case len(c.SocketDir) > maxSocketDir:
		return fmt.Errorf("docker config: socket directory %q is longer than %d bytes (unix socket paths are short)", c.SocketDir, maxSocketDir)
	case c.DefaultMemoryBytes < 6<<20:
		return errors.New("docker config: default memory below Docker's 6 MiB minimum")
	}
	return nil
}
