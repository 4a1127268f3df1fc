package conformance

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/flurryfn/flurry/actions/gowrap"
)

// repoRoot is the module root, found from this file's location so the
// suite works from any package's test binary.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("conformance: cannot locate source")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Build compiles the package at pkg (relative to the module root, e.g.
// "./cmd/flurry") as a static binary (CGO_ENABLED=0) at out.
func Build(pkg, out string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// BuildFlurry builds cmd/flurry into dir and returns the binary's path;
// "flurry proxy --listen ADDR --dir DIR" is the action proxy.
func BuildFlurry(dir string) (string, error) {
	out := filepath.Join(dir, "flurry")
	return out, Build("./cmd/flurry", out)
}

// BuildEcho builds the suite's echo action into dir and returns its path.
func BuildEcho(dir string) (string, error) {
	out := filepath.Join(dir, "echo")
	return out, Build("./invoker/container/conformance/testdata/echo", out)
}

// buildHello compiles actions/examples/hello with gowrap, so it carries
// the launcher and its direct run, and returns it as base64 code.
func buildHello(ctx context.Context) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	exe, err := gowrap.Build(ctx, filepath.Join(root, "actions", "examples", "hello"), "")
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(exe), nil
}
