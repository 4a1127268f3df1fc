package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/flurryfn/flurry/actions/proxy"
)

func init() {
	register("proxy", "run the in-container action proxy", true, runProxy)
}

// runProxy serves the action protocol inside a runtime container (or a
// process-runtime sandbox) until the process is told to stop.
func runProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address to serve /init and /run on")
	dir := fs.String("dir", proxy.DefaultDir, "directory to unpack the action's code into")
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
	cfg := proxy.Config{Dir: *dir, Language: lang, Stdout: os.Stdout, Stderr: os.Stderr, Env: os.Environ()}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	return proxy.Serve(ctx, ln, cfg)
}
