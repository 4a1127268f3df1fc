package runtimes

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
)

// ErrUnknownKind is returned for a kind that has no Flurry runtime image.
var ErrUnknownKind = errors.New("unknown runtime kind")

// ProxyPath is where the flurry executable lives inside a runtime image.
const ProxyPath = "/flurry"

// Port is the action-protocol port a runtime image exposes.
const Port = 8080

// images maps each kind to its image repository.
var images = map[string]string{
	entity.KindGo: "flurry/runtime-go",
}

// Image returns the tag of kind's image built from exe, the flurry
// executable: the repository plus the first 12 hex digits of exe's sha256.
func Image(kind string, exe []byte) (string, error) {
	repo, ok := images[kind]
	if !ok {
		return "", fmt.Errorf("runtime image for kind %q: %w", kind, ErrUnknownKind)
	}
	sum := sha256.Sum256(exe)
	return repo + ":" + hex.EncodeToString(sum[:])[:12], nil
}

// dockerfile runs the proxy as nobody in an empty image. /tmp is created
// (owned by nobody, sticky and world-writable) because a scratch image has
// no file system to unpack the action into otherwise.
const dockerfile = `FROM scratch
COPY --chown=65534:65534 tmp /tmp
COPY flurry /flurry
EXPOSE 8080
USER 65534
ENTRYPOINT ["/flurry","proxy","--listen",":8080","--dir","/tmp/action"]
`

// BuildContext returns a Docker build context (an uncompressed tar) for
// kind's image: a Dockerfile and exe, the static flurry executable, which
// the image runs as its proxy.
func BuildContext(kind string, exe []byte) (io.Reader, error) {
	if _, ok := images[kind]; !ok {
		return nil, fmt.Errorf("runtime build context for kind %q: %w", kind, ErrUnknownKind)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed time keeps the context, and so the build cache, stable.
	mtime := time.Unix(0, 0)
	entries := []struct {
		name string
		mode int64
		data []byte
		dir  bool
	}{
		{name: "Dockerfile", mode: 0o644, data: []byte(dockerfile)},
		{name: "flurry", mode: 0o755, data: exe},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "tmp/action/", mode: 0o755, dir: true},
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.data)), ModTime: mtime, Typeflag: tar.TypeReg}
		if e.dir {
			h.Typeflag = tar.TypeDir
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("runtime build context: %w", err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("runtime build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("runtime build context: %w", err)
	}
	return &buf, nil
}

// IsStatic reports whether exe, an ELF executable, is statically linked:
// no program interpreter and no needed shared libraries. Only such an
// executable runs in a scratch image. It fails if exe is not ELF.
func IsStatic(exe []byte) (bool, error) {
	f, err := elf.NewFile(bytes.NewReader(exe))
	if err != nil {
		return false, fmt.Errorf("read executable: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return false, fmt.Errorf("read executable's dynamic section: %w", err)
	}
	return len(libs) == 0, nil
}
