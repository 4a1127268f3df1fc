package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/flurryfn/flurry/actions/proxy"
)

func init() {
	register("proxy", "run the in-container action proxy", true, runProxy)
}

// runProxy serves the action protocol inside a runtime container (or a
// process-runtime sandbox) until the process is told to stop.
func runProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address to serve /init and /run on: host:port, or unix:PATH for a unix socket")
	inlineLogs := fs.Bool("inline-logs", false, "return each activation's logs in the answer to a request that asks for them, instead of printing them")
	dir := fs.String("dir", proxy.DefaultDir, "directory to unpack the action's code into")
	directRun := fs.Bool("direct-run", true, "with a unix --listen socket and --inline-logs, let a Go action built by gowrap serve /run itself on run.sock next to it (ADR 014)")
	language := fs.String("language", "native", "code the proxy runs: native (executables), python or nodejs (source, run by an embedded launcher)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	lang, err := proxy.ParseLanguage(*language)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	cfg := proxy.Config{Dir: *dir, Language: lang, Stdout: os.Stdout, Stderr: os.Stderr, Env: os.Environ(), InlineLogs: *inlineLogs}
	if path, ok := strings.CutPrefix(*listen, "unix:"); ok && *directRun && *inlineLogs {
		cfg.RunSocket = filepath.Join(filepath.Dir(path), runSocketName)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	// The proxy relays one activation at a time: one P spares the
	// container the idle threads a P per host core spins and wakes.
	runtime.GOMAXPROCS(1)
	// Nor should an idle container wake once a second for a NATS server
	// it does not run.
	quietSampler()
	ln, err := listenProxy(*listen)
	if err != nil {
		return err
	}
	return proxy.Serve(ctx, ln, cfg)
}

// runSocketName is the socket a direct-run action serves /run on, next to
// the proxy's own socket.
const runSocketName = "run.sock"

// listenProxy listens on addr: host:port, or unix:PATH. The socket is made
// connectable by anyone who can reach its directory, since the invoker is
// not the container's user; the directory is what guards it.
func listenProxy(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	// A socket file left by an earlier proxy in the same directory would
	// make the listen fail.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
