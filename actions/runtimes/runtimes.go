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
	entity.KindGo:     "flurry/runtime-go",
	entity.KindPython: "flurry/runtime-python",
	entity.KindNodejs: "flurry/runtime-nodejs",
}

// Kinds lists the kinds whose images this package builds: the kind
// table's built-in kinds.
func Kinds() []string { return entity.BuiltinKinds() }

// Image returns the tag of kind's image built from exe, the flurry
// executable: the repository plus the first 12 hex digits of a sha256 of
// everything the image is made of. For go that is exe alone; for the
// language kinds it is exe and the Dockerfile, which names the base
// image by its recipe's hash, so a new binary or a new recipe gets a new
// tag and nothing else does.
func Image(kind string, exe []byte) (string, error) {
	repo, ok := images[kind]
	if !ok {
		return "", fmt.Errorf("runtime image for kind %q: %w", kind, ErrUnknownKind)
	}
	h := sha256.New()
	h.Write(exe)
	if kind != entity.KindGo {
		h.Write([]byte(runtimeDockerfile(kind)))
	}
	return repo + ":" + hex.EncodeToString(h.Sum(nil))[:12], nil
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

// runtimeDockerfile is a language kind's image: its base (the Debian root
// file system with the interpreter) plus the flurry executable as proxy,
// which carries the language's launcher. HOME is the writable /tmp since
// the root file system is read-only in a container.
func runtimeDockerfile(kind string) string {
	b := bases[kind]
	return fmt.Sprintf(`FROM %s
COPY flurry /flurry
ENV %s
EXPOSE 8080
USER 65534
ENTRYPOINT ["/flurry","proxy","--listen",":8080","--dir","/tmp/action","--language","%s"]
`, b.tag(), b.env, b.language)
}

// BuildContext returns a Docker build context (an uncompressed tar) for
// kind's image: a Dockerfile and exe, the static flurry executable, which
// the image runs as its proxy. A language kind's context builds on its
// base image (BaseImage), which must exist first.
func BuildContext(kind string, exe []byte) (io.Reader, error) {
	if _, ok := images[kind]; !ok {
		return nil, fmt.Errorf("runtime build context for kind %q: %w", kind, ErrUnknownKind)
	}
	entries := []tarEntry{
		{name: "Dockerfile", mode: 0o644, data: []byte(dockerfile)},
		{name: "flurry", mode: 0o755, data: exe},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "tmp/action/", mode: 0o755, dir: true},
	}
	if kind != entity.KindGo {
		entries = []tarEntry{
			{name: "Dockerfile", mode: 0o644, data: []byte(runtimeDockerfile(kind))},
			{name: "flurry", mode: 0o755, data: exe},
		}
	}
	var buf bytes.Buffer
	if err := writeTar(&buf, entries); err != nil {
		return nil, fmt.Errorf("runtime build context: %w", err)
	}
	return &buf, nil
}

type tarEntry struct {
	name string
	mode int64
	data []byte
	dir  bool
}

// writeTar writes entries as a tar stream. A fixed time keeps the
// context, and so the build cache, stable.
func writeTar(w io.Writer, entries []tarEntry) error {
	tw := tar.NewWriter(w)
	mtime := time.Unix(0, 0)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.data)), ModTime: mtime, Typeflag: tar.TypeReg}
		if e.dir {
			h.Typeflag = tar.TypeDir
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	return tw.Close()
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
