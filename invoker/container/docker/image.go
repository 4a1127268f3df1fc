package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
)

// ErrNoImage is wrapped by EnsureImage when an image is missing and cannot
// be built (no registry is reachable, so nothing is pulled).
var ErrNoImage = errors.New("image not present")

// ImageExists reports whether the engine has image ref.
func (r *Runtime) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := r.cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case client.IsErrNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("inspect image %q: %w", ref, err)
	}
}

// EnsureImage returns nil when image is present, else builds it through
// Config.BuildContext; without one it wraps ErrNoImage.
func (r *Runtime) EnsureImage(ctx context.Context, image string) error {
	ok, err := r.ImageExists(ctx, image)
	if err != nil || ok {
		return err
	}
	if r.cfg.BuildContext == nil {
		return fmt.Errorf("image %q: %w", image, ErrNoImage)
	}
	bc, err := r.cfg.BuildContext(ctx, image)
	if err != nil {
		return fmt.Errorf("image %q: %w: %w", image, ErrNoImage, err)
	}
	return r.BuildImage(ctx, image, bc, io.Discard)
}

// BuildImage builds buildContext (a tar stream with a Dockerfile at its
// root) as tag, writing the build's text output to progress (may be nil).
// A build step's failure is returned as an error.
func (r *Runtime) BuildImage(ctx context.Context, tag string, buildContext io.Reader, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	resp, err := r.cli.ImageBuild(ctx, buildContext, build.ImageBuildOptions{
		Tags:        []string{tag},
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		return fmt.Errorf("build image %q: %w", tag, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg buildMessage
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("build image %q: read output: %w", tag, err)
		}
		if msg.Error != nil {
			return fmt.Errorf("build image %q: %s", tag, msg.Error.Message)
		}
		if msg.ErrorMessage != "" {
			return fmt.Errorf("build image %q: %s", tag, msg.ErrorMessage)
		}
		if msg.Stream != "" {
			_, _ = io.WriteString(progress, msg.Stream)
		}
	}
}

// buildMessage is the part of the engine's JSON build stream Flurry reads
// (the client's jsonmessage package would pull in terminal libraries).
type buildMessage struct {
	Stream string `json:"stream"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	ErrorMessage string `json:"error"` // older engines set only this
}
