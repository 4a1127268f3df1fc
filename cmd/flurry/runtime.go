package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

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

// containerRuntime picks the container runtime for an invoker and makes sure
// the images of Flurry's own runtime kinds exist, building missing ones
// from this very executable (it is also the in-container action proxy).
// It returns the runtime and the image (or proxy) of each kind.
func containerRuntime(ctx context.Context, choice runtimeChoice, invokerID, workDir string, progress io.Writer, log *slog.Logger) (container.Runtime, map[string]string, error) {
	exePath, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("locate own executable: %w", err)
	}
	if choice != runtimeProcess {
		rt, derr := docker.New(ctx, docker.Config{InvokerID: invokerID})
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
// from this executable, tagged by its content, so a rebuild happens only
// when the binary changed.
func ensureImages(ctx context.Context, rt *docker.Runtime, exePath string, progress io.Writer) (map[string]string, error) {
	exe, err := os.ReadFile(exePath)
	if err != nil {
		return nil, fmt.Errorf("read own executable: %w", err)
	}
	static, err := runtimes.IsStatic(exe)
	if err != nil {
		return nil, fmt.Errorf("inspect own executable: %w", err)
	}
	if !static {
		return nil, fmt.Errorf("%s is dynamically linked and cannot serve as the in-container proxy of a scratch image; build it with CGO_ENABLED=0 (make build)", exePath)
	}
	images := map[string]string{}
	for _, kind := range []string{entity.KindGo} {
		tag, err := runtimes.Image(kind, exe)
		if err != nil {
			return nil, err
		}
		images[kind] = tag
		ok, err := rt.ImageExists(ctx, tag)
		if err != nil {
			return nil, err
		}
		if ok {
			fmt.Fprintf(progress, "runtime image %s present\n", tag)
			continue
		}
		fmt.Fprintf(progress, "building runtime image %s ...\n", tag)
		bctx, err := runtimes.BuildContext(kind, exe)
		if err != nil {
			return nil, err
		}
		if err := rt.BuildImage(ctx, tag, bctx, progress); err != nil {
			return nil, fmt.Errorf("build image %s: %w", tag, err)
		}
		fmt.Fprintf(progress, "built runtime image %s\n", tag)
	}
	return images, nil
}
