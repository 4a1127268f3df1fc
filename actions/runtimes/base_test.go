package runtimes

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func readTar(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = b
	}
}

func TestLanguageImages(t *testing.T) {
	exe := []byte("\x7fELF fake")
	for kind, lang := range map[string]string{"python:3": "python", "nodejs": "nodejs"} {
		t.Run(kind, func(t *testing.T) {
			baseTag, ok := BaseImage(kind)
			if !ok || !regexp.MustCompile(`^flurry/base-(python|nodejs):[0-9a-f]{12}$`).MatchString(baseTag) {
				t.Fatalf("BaseImage = %q, %v", baseTag, ok)
			}
			tag, err := Image(kind, exe)
			if err != nil || !regexp.MustCompile(`^flurry/runtime-(python|nodejs):[0-9a-f]{12}$`).MatchString(tag) {
				t.Fatalf("Image = %q, %v", tag, err)
			}
			if other, _ := Image(kind, []byte("another binary")); other == tag {
				t.Errorf("a new binary kept tag %s", tag)
			}
			r, err := BuildContext(kind, exe)
			if err != nil {
				t.Fatal(err)
			}
			files := readTar(t, r)
			df := string(files["Dockerfile"])
			for _, want := range []string{"FROM " + baseTag + "\n", "COPY flurry /flurry\n", "USER 65534\n", `"--language","` + lang + `"]`} {
				if !strings.Contains(df, want) {
					t.Errorf("Dockerfile lacks %q:\n%s", want, df)
				}
			}
			if string(files["flurry"]) != string(exe) {
				t.Error("context lacks the executable")
			}
		})
	}
	if _, ok := BaseImage("go"); ok {
		t.Error("go has a base image")
	}
}

func TestBaseBuildContext(t *testing.T) {
	rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(rootfs, []byte("pretend tarball"), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := BaseBuildContext("python:3", rootfs)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := readTar(t, rc)
	if string(files["Dockerfile"]) != baseDockerfile || string(files["rootfs.tar"]) != "pretend tarball" {
		t.Errorf("context = %q", files)
	}
	if _, err := BaseBuildContext("go", rootfs); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("go: %v, want ErrUnknownKind", err)
	}
}

func TestRootfsCachedAndMissingTool(t *testing.T) {
	dir := t.TempDir()
	cfg := RootfsConfig{CacheDir: dir, Mmdebstrap: "flurry-no-such-mmdebstrap"}
	if _, err := Rootfs(t.Context(), "python:3", cfg); !errors.Is(err, ErrNoMmdebstrap) {
		t.Errorf("missing tool: %v, want ErrNoMmdebstrap", err)
	}
	// A cached tarball is used without the tool.
	b := bases["python:3"]
	cached := filepath.Join(dir, "rootfs-base-python-"+b.hash()+".tar")
	if err := os.WriteFile(cached, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Rootfs(t.Context(), "python:3", cfg); err != nil || got != cached {
		t.Errorf("cached: %q, %v; want %q", got, err, cached)
	}
	if _, err := Rootfs(t.Context(), "go", cfg); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("go: %v, want ErrUnknownKind", err)
	}
}

func TestRootfsReportsToolFailure(t *testing.T) {
	// A stand-in mmdebstrap that fails the way a missing network does.
	fake := filepath.Join(t.TempDir(), "mmdebstrap")
	script := "#!/bin/sh\necho 'E: Failed to fetch InRelease' >&2\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Rootfs(t.Context(), "nodejs", RootfsConfig{CacheDir: t.TempDir(), Mmdebstrap: fake})
	if err == nil || !strings.Contains(err.Error(), "Failed to fetch") {
		t.Errorf("err = %v, want mmdebstrap's message", err)
	}
}

func TestHostSources(t *testing.T) {
	etc := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(etc, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sources.list", "# deb http://example.invalid/debian bookworm main\n")
	write("sources.list.d/debian.sources", "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n")
	write("sources.list.d/other.list", "deb http://other.invalid/ubuntu jammy main\n")
	write("sources.list.d/sec.list", "deb http://sec.invalid/debian-security bookworm-security main\n")
	got := HostSources(etc)
	want := []string{filepath.Join(etc, "sources.list.d/sec.list"), filepath.Join(etc, "sources.list.d/debian.sources")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("HostSources = %v, want %v", got, want)
	}
}
