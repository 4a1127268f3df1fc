package gowrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// DefaultMain is the action function's name when Build's main is "".
const DefaultMain = "Main"

// Errors Build wraps, so callers can tell a user's mistake from a broken
// build machine.
var (
	// ErrNoSource: src has no Go files, or they do not parse.
	ErrNoSource = errors.New("no valid Go source")
	// ErrNoMain: neither func main nor the action function is declared.
	ErrNoMain = errors.New("action function not found")
	// ErrSignature: the action function has the wrong type.
	ErrSignature = errors.New("action function has the wrong signature")
	// ErrCompile: the compiler rejected the code; the message holds its output.
	ErrCompile = errors.New("compile failed")
)

// launcherFile is the generated file; the name keeps clear of user files.
const launcherFile = "zz_flurry_launcher.go"

// Build compiles the Go action at src (a .go file or a directory of them)
// into a static linux/GOARCH executable speaking actionloop and returns its
// bytes. main names the action function (DefaultMain when empty); it is
// ignored when the package declares func main. The sources must be self-
// contained: the standard library plus what their own go.mod requires.
func Build(ctx context.Context, src string, main string) ([]byte, error) {
	if main == "" {
		main = DefaultMain
	}
	if !token.IsIdentifier(main) {
		return nil, fmt.Errorf("gowrap: action function name %q is not a Go identifier", main)
	}
	files, root, err := sources(src)
	if err != nil {
		return nil, fmt.Errorf("gowrap: %s: %w", src, err)
	}
	ownMain, err := check(root, files, main)
	if err != nil {
		return nil, fmt.Errorf("gowrap: %s: %w", src, err)
	}

	work, err := os.MkdirTemp("", "gowrap-")
	if err != nil {
		return nil, fmt.Errorf("gowrap: %w", err)
	}
	defer os.RemoveAll(work)
	pkg := filepath.Join(work, "src")
	if err := copySources(src, root, files, pkg); err != nil {
		return nil, fmt.Errorf("gowrap: copy sources: %w", err)
	}
	if _, err := os.Stat(filepath.Join(pkg, "go.mod")); errors.Is(err, fs.ErrNotExist) {
		ver, err := goVersion(ctx)
		if err != nil {
			return nil, err
		}
		mod := fmt.Sprintf("module action\n\ngo %s\n", ver)
		if err := os.WriteFile(filepath.Join(pkg, "go.mod"), []byte(mod), 0o644); err != nil {
			return nil, fmt.Errorf("gowrap: %w", err)
		}
	}

	if !ownMain {
		if err := addLauncher(pkg, main); err != nil {
			return nil, fmt.Errorf("gowrap: %w", err)
		}
	}

	out := filepath.Join(work, "exec")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, ".")
	cmd.Dir = pkg
	cmd.Env = buildEnv(cmd.Environ())
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("gowrap: build %s: %w", src, ctx.Err())
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return nil, fmt.Errorf("gowrap: run go build: %w", err)
		}
		return nil, fmt.Errorf("gowrap: %s: %w:\n%s", src, ErrCompile, strings.TrimSpace(output.String()))
	}
	exe, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("gowrap: %w", err)
	}
	return exe, nil
}

// buildEnv pins what makes the executable run in a scratch image on this
// machine's architecture, and keeps the go command from fetching toolchains
// or picking up a workspace around the temporary directory.
func buildEnv(env []string) []string {
	return append(env,
		"CGO_ENABLED=0",
		"GOOS=linux",
		"GOARCH="+runtime.GOARCH,
		"GOTOOLCHAIN=local",
		"GOWORK=off",
	)
}

// goVersion is the go command's language version ("1.26.8"), for go.mod.
func goVersion(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", "GOVERSION")
	cmd.Env = buildEnv(cmd.Environ())
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("gowrap: go env GOVERSION: %w", err)
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(b)), "go")
	// A development toolchain says "devel ..."; fall back to what this
	// program was built with.
	if v == "" || strings.HasPrefix(v, "devel") {
		v = strings.TrimPrefix(runtime.Version(), "go")
	}
	if i := strings.IndexAny(v, " -+"); i >= 0 {
		v = v[:i]
	}
	return v, nil
}

// sources lists the package's .go files (tests excluded), relative to root.
// For a directory, every regular file under it is copied later (embedded
// files, go.mod, sub-packages), but only its top-level .go files form the
// action's package.
func sources(src string) (files []string, root string, err error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, "", err
	}
	if !fi.IsDir() {
		if filepath.Ext(src) != ".go" {
			return nil, "", fmt.Errorf("%w: not a .go file or a directory", ErrNoSource)
		}
		return []string{filepath.Base(src)}, filepath.Dir(src), nil
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, "", err
	}
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") && n != launcherFile {
			files = append(files, n)
		}
	}
	if len(files) == 0 {
		return nil, "", fmt.Errorf("%w: no .go files", ErrNoSource)
	}
	sort.Strings(files)
	return files, src, nil
}
