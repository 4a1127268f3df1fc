package main

import (
	"context"
	"flag"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/flurryfn/flurry/actions/proxy"
)

func main() {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	listen := fs.String("listen", ":8080", "")
	dir := fs.String("dir", proxy.DefaultDir, "")
	fs.Parse(os.Args[2:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := proxy.Config{Dir: *dir, Stdout: os.Stdout, Stderr: os.Stderr, Env: os.Environ()}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		panic(err)
	}
	if err := proxy.Serve(ctx, ln, cfg); err != nil {
		panic(err)
	}
}
