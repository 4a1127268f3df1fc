package container

import (
	"context"
	"errors"
	"io"
)

// Labels Flurry sets on every container it starts, so that a restarted
// invoker can find and remove what a previous run left behind.
const (
	LabelManaged = "io.flurry.managed" // value "true"
	LabelInvoker = "io.flurry.invoker" // the invoker's id
	LabelKind    = "io.flurry.kind"    // runtime kind
)

// ErrNotFound is returned by Remove when the container is not known to the runtime.
var ErrNotFound = errors.New("container not found")

// Spec describes a container to start.
type Spec struct {
	// Name is a unique, human-readable name (used by Docker as the container name).
	Name string
	// Image is the runtime image (Docker) or the kind's proxy program
	// (process runtime resolves it through its own configuration).
	Image string
	// Kind is the runtime kind, for labels and logs.
	Kind string
	// MemoryBytes is the hard memory limit; 0 means the runtime's default.
	MemoryBytes int64
	// Env is extra environment, "K=V".
	Env []string
	// Labels are added to the runtime's own labels.
	Labels map[string]string
	// Network is the container's network policy: NetworkDefault (also
	// when empty) or NetworkNone. A runtime that cannot give it fails
	// Start with ErrNetworkPolicy rather than start a container with more
	// network than asked for.
	Network string
}

// Container is a started container. Addr serves the action protocol
// (/init, /run) over HTTP; Stdout and Stderr carry what the action prints,
// with the end-of-activation marker after each activation.
type Container struct {
	ID string
	// Addr is where the proxy listens: host:port, or unix:<path> for a
	// unix socket.
	Addr string
	// InlineLogs is true when the proxy was started with --inline-logs:
	// it answers with each activation's logs (Client.OnLogs) instead of
	// printing them, and Stdout and Stderr carry only what could not be
	// answered (a request given up on, the proxy's own failures).
	InlineLogs bool
	// Stdout and Stderr stream the container's output until it stops.
	// The caller must keep reading them (or close them) or the
	// container may block.
	Stdout io.ReadCloser
	Stderr io.ReadCloser
}

// Connect returns a client for c's proxy and the collector of c's logs,
// wired together when the proxy answers with the logs (InlineLogs).
func Connect(c *Container) (*Client, *LogCollector) {
	logs := NewLogCollector(c.Stdout, c.Stderr)
	cl := NewClient(c.Addr)
	if c.InlineLogs {
		cl.InlineLogs(logs.Feed)
	}
	return cl, logs
}

// Info describes a container found by List.
type Info struct {
	ID     string
	Name   string
	Labels map[string]string
}

// Runtime starts and removes action containers.
//
// Start returns once the container is running; it does not wait for the
// proxy inside to accept connections (see Client.WaitReady). Implementations
// must be safe for concurrent use. Errors from Start and Remove are platform
// errors, never an action's failure.
type Runtime interface {
	// Name is "docker" or "process", for logs and the start banner.
	Name() string
	// Start creates and starts a container from spec.
	Start(ctx context.Context, spec Spec) (*Container, error)
	// Remove kills and removes container id with its resources. It
	// returns ErrNotFound if id is unknown.
	Remove(ctx context.Context, id string) error
	// List returns the containers carrying all of labels.
	List(ctx context.Context, labels map[string]string) ([]Info, error)
}

// ImageEnsurer is the optional ability of a runtime to check an image is
// present (and build it when it is one of Flurry's own).
type ImageEnsurer interface {
	EnsureImage(ctx context.Context, image string) error
}

// EndMarker is what an OpenWhisk runtime prints on stdout and on stderr
// after each activation; the logs of one activation are the lines before it.
const EndMarker = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

// InlineLogsHeader on a request to a proxy started with --inline-logs asks
// for the activation's logs in the answer (ADR 012). On the answer it holds
// "<result> <stdout> <stderr>": the byte lengths of the body's three
// parts. Each log part is lines of "<unix nanoseconds> <text>\n", the last
// of them EndMarker.
const InlineLogsHeader = "Flurry-Logs"
