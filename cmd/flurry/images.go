package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/flurryfn/flurry/actions/runtimes"
	"github.com/flurryfn/flurry/invoker/container/docker"
)

func init() {
	register("images", "build the runtime images (go, python:3, nodejs) on the local Docker engine", false, runImages)
}

// runImages builds the runtime images that are missing (all of them with
// --rebuild) through the same code path standalone and `flurry invoker`
// use at start; `make images` and CI call it.
func runImages(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	kinds := fs.String("kinds", strings.Join(runtimes.Kinds(), ","), "comma-separated kinds to build")
	rebuild := fs.Bool("rebuild", false, "rebuild the images (and base images) even when present; cached root file systems are reused")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	exePath, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locate own executable: %w", err)
	}
	// It builds images and starts no container: no firewall rules needed.
	rt, err := docker.New(ctx, docker.Config{InvokerID: "images", AllowMetadata: true})
	if err != nil {
		return fmt.Errorf("docker engine: %w", err)
	}
	defer rt.Close()
	b, err := newImageBuilder(rt, exePath, os.Stderr)
	if err != nil {
		return err
	}
	var failed []string
	for _, kind := range strings.Split(*kinds, ",") {
		kind = strings.TrimSpace(kind)
		if !slices.Contains(runtimes.Kinds(), kind) {
			return &exitError{code: 2, err: fmt.Errorf("--kinds: %q is not one of %s", kind, strings.Join(runtimes.Kinds(), ", "))}
		}
		t0 := time.Now()
		tag, err := b.ensure(ctx, kind, *rebuild)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kind %s: %v\n", kind, err)
			failed = append(failed, kind)
			continue
		}
		fmt.Printf("%s\t%s\t%.1fs\n", kind, tag, time.Since(t0).Seconds())
	}
	if len(failed) > 0 {
		return fmt.Errorf("no image for kinds %s", strings.Join(failed, ", "))
	}
	return nil
}
