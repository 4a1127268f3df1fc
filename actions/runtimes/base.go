package runtimes

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
)

// Suite is the Debian release the language kinds' root file systems come
// from (Python 3.11, Node.js 18).
const Suite = "bookworm"

// ErrNoMmdebstrap is wrapped when the root file system of a language kind
// must be made and mmdebstrap is not installed.
var ErrNoMmdebstrap = errors.New("mmdebstrap is not installed (Debian/Ubuntu: apt-get install mmdebstrap)")

// mmdebstrapOptions make a minimal root file system: Essential packages
// plus the kind's, without documentation, manuals or translations.
var mmdebstrapOptions = []string{
	"--variant=essential",
	"--dpkgopt=path-exclude=/usr/share/doc/*",
	"--dpkgopt=path-exclude=/usr/share/man/*",
	"--dpkgopt=path-exclude=/usr/share/info/*",
	"--dpkgopt=path-exclude=/usr/share/locale/*",
}

// base is the recipe of a language kind's base image.
type base struct {
	repo     string
	language string // the proxy's --language
	packages []string
	env      string // Dockerfile ENV of the runtime image
}

var bases = map[string]base{
	entity.KindPython: {repo: "flurry/base-python", language: "python", packages: []string{"python3", "python3-flask", "ca-certificates"},
		env: "HOME=/tmp PYTHONDONTWRITEBYTECODE=1"},
	entity.KindNodejs: {repo: "flurry/base-nodejs", language: "nodejs", packages: []string{"nodejs", "ca-certificates"},
		env: "HOME=/tmp"},
}

// baseDockerfile turns the root file system tarball into an image.
const baseDockerfile = "FROM scratch\nADD rootfs.tar /\n"

// recipe is everything that decides a base image's content.
func (b base) recipe() string {
	return fmt.Sprintf("suite=%s\npackages=%s\nmmdebstrap=%s\ndockerfile=%s",
		Suite, strings.Join(b.packages, ","), strings.Join(mmdebstrapOptions, " "), baseDockerfile)
}

func (b base) hash() string {
	sum := sha256.Sum256([]byte(b.recipe()))
	return hex.EncodeToString(sum[:])[:12]
}

func (b base) tag() string { return b.repo + ":" + b.hash() }

// BaseImage returns the tag of kind's base image (the Debian root file
// system with the kind's interpreter) and false for kinds without one
// (go is FROM scratch).
func BaseImage(kind string) (string, bool) {
	b, ok := bases[kind]
	if !ok {
		return "", false
	}
	return b.tag(), true
}

// RootfsConfig says how to make a root file system.
type RootfsConfig struct {
	// CacheDir keeps the tarballs, named by their recipe's hash, so that
	// a removed base image is rebuilt without downloading again. Required.
	CacheDir string
	// Sources are apt sources files (one-line or deb822) to fetch packages
	// from; empty means mmdebstrap's own default for Suite. HostSources
	// finds the host's.
	Sources []string
	// Mmdebstrap is the program (default "mmdebstrap" on PATH).
	Mmdebstrap string
	// Progress receives mmdebstrap's output (may be nil).
	Progress io.Writer
}

// Rootfs returns the path of kind's root file system tarball, making it
// with mmdebstrap when the cache does not hold it. The error wraps
// ErrNoMmdebstrap when the tool is missing, ErrUnknownKind for a kind
// without a base.
func Rootfs(ctx context.Context, kind string, cfg RootfsConfig) (string, error) {
	b, ok := bases[kind]
	if !ok {
		return "", fmt.Errorf("root file system for kind %q: %w", kind, ErrUnknownKind)
	}
	if cfg.CacheDir == "" {
		return "", errors.New("root file system: no cache dir")
	}
	out := filepath.Join(cfg.CacheDir, "rootfs-"+b.repo[strings.LastIndexByte(b.repo, '/')+1:]+"-"+b.hash()+".tar")
	if fi, err := os.Stat(out); err == nil && fi.Size() > 0 {
		return out, nil
	}
	prog := cfg.Mmdebstrap
	if prog == "" {
		prog = "mmdebstrap"
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		return "", fmt.Errorf("root file system for kind %q: %w", kind, ErrNoMmdebstrap)
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return "", fmt.Errorf("root file system: %w", err)
	}
	// mmdebstrap picks the output format by extension, so the partial
	// file ends in .tar too; the rename publishes only a complete one.
	partial := strings.TrimSuffix(out, ".tar") + fmt.Sprintf(".partial-%d.tar", os.Getpid())
	defer os.Remove(partial)
	args := append([]string{}, mmdebstrapOptions...)
	args = append(args, "--include="+strings.Join(b.packages, ","), Suite, partial)
	args = append(args, cfg.Sources...)
	cmd := exec.CommandContext(ctx, path, args...)
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	// mmdebstrap is chatty; the last lines say why it failed.
	tail := &tailWriter{max: 20}
	// One writer for both streams: exec then copies them in one goroutine.
	out2 := io.MultiWriter(progress, tail)
	cmd.Stdout, cmd.Stderr = out2, out2
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("root file system for kind %q: mmdebstrap: %w\n%s", kind, err, tail.String())
	}
	if err := os.Rename(partial, out); err != nil {
		return "", fmt.Errorf("root file system: %w", err)
	}
	return out, nil
}

// suiteWord finds Suite as a word in an apt sources file.
var suiteWord = regexp.MustCompile(`(^|[\s])` + Suite + `($|[\s/-])`)

// HostSources returns this machine's apt sources files (under etcApt,
// normally /etc/apt) that name Suite, so a root file system is fetched
// from the mirror this machine is configured for. None found means
// mmdebstrap's default mirror.
func HostSources(etcApt string) []string {
	var out []string
	cands := []string{filepath.Join(etcApt, "sources.list")}
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join(etcApt, "sources.list.d", pat))
		cands = append(cands, m...)
	}
	for _, p := range cands {
		if namesSuite(p) {
			out = append(out, p)
		}
	}
	return out
}

func namesSuite(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if suiteWord.MatchString(line) {
			return true
		}
	}
	return false
}

// BaseBuildContext returns the Docker build context of kind's base image:
// its Dockerfile and the root file system tarball at rootfs (from
// Rootfs), streamed, since it is a hundred megabytes or more. The caller
// must read it to the end or close it.
func BaseBuildContext(kind, rootfs string) (io.ReadCloser, error) {
	if _, ok := bases[kind]; !ok {
		return nil, fmt.Errorf("base build context for kind %q: %w", kind, ErrUnknownKind)
	}
	f, err := os.Open(rootfs)
	if err != nil {
		return nil, fmt.Errorf("base build context: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("base build context: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		defer f.Close()
		tw := tar.NewWriter(pw)
		mtime := time.Unix(0, 0)
		err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(baseDockerfile)), ModTime: mtime, Typeflag: tar.TypeReg})
		if err == nil {
			_, err = io.WriteString(tw, baseDockerfile)
		}
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Name: "rootfs.tar", Mode: 0o644, Size: fi.Size(), ModTime: mtime, Typeflag: tar.TypeReg})
		}
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// tailWriter keeps the last max lines written to it.
type tailWriter struct {
	max   int
	lines []string
	part  string
}

func (t *tailWriter) Write(p []byte) (int, error) {
	s := t.part + string(p)
	parts := strings.Split(s, "\n")
	t.part = parts[len(parts)-1]
	t.lines = append(t.lines, parts[:len(parts)-1]...)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	return strings.Join(append(append([]string{}, t.lines...), t.part), "\n")
}
