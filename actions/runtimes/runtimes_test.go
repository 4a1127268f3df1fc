package runtimes

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestImage(t *testing.T) {
	tests := []struct {
		name string
		kind string
		exe  []byte
		want string
		err  error
	}{
		// sha256("") = e3b0c44298fc1c149afbf4c8996fb924...
		{"go empty", "go", nil, "flurry/runtime-go:e3b0c44298fc", nil},
		{"go abc", "go", []byte("abc"), "flurry/runtime-go:ba7816bf8f01", nil},
		{"unknown", "cobol", []byte("abc"), "", ErrUnknownKind},
		{"blackbox", "blackbox", []byte("abc"), "", ErrUnknownKind},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Image(tt.kind, tt.exe)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("Image(%q) = %q, %v; want %q, %v", tt.kind, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestBuildContext(t *testing.T) {
	exe := []byte("\x7fELF fake executable")
	r, err := BuildContext("go", exe)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*tar.Header{}
	data := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], data[h.Name] = h, b
	}
	if h := files["flurry"]; h == nil || h.Mode != 0o755 || !bytes.Equal(data["flurry"], exe) {
		t.Errorf("flurry entry = %+v, want the executable with mode 0755", h)
	}
	if h := files["tmp/"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode != 0o1777 {
		t.Errorf("tmp/ entry = %+v, want a sticky world-writable dir", h)
	}
	df := string(data["Dockerfile"])
	for _, want := range []string{
		"FROM scratch\n",
		"COPY flurry /flurry\n",
		"EXPOSE 8080\n",
		"USER 65534\n",
		`ENTRYPOINT ["/flurry","proxy","--listen",":8080","--dir","/tmp/action"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, df)
		}
	}
	if _, err := BuildContext("cobol", exe); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("BuildContext(cobol) error = %v, want ErrUnknownKind", err)
	}
}

func TestIsStatic(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	// os/user and net resolve through libc when cgo is on, so this
	// program links dynamically with CGO_ENABLED=1.
	prog := "package main\nimport (\"net\"; \"os/user\")\nfunc main() { _, _ = user.Current(); _, _ = net.LookupHost(\"localhost\") }\n"
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(cgo string) []byte {
		t.Helper()
		out := filepath.Join(dir, "prog-cgo"+cgo)
		cmd := exec.Command("go", "build", "-o", out, src)
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo, "GOOS=linux", "GOFLAGS=")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build CGO_ENABLED=%s: %v\n%s", cgo, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if ok, err := IsStatic(build("0")); err != nil || !ok {
		t.Errorf("static build: IsStatic = %v, %v; want true", ok, err)
	}
	if _, err := exec.LookPath("gcc"); err == nil {
		if ok, err := IsStatic(build("1")); err != nil || ok {
			t.Errorf("cgo build: IsStatic = %v, %v; want false", ok, err)
		}
	} else {
		t.Log("no C compiler: dynamic case checked with /bin/sh only")
	}
	if sh, err := os.ReadFile("/bin/sh"); err == nil {
		if ok, err := IsStatic(sh); err != nil || ok {
			t.Errorf("/bin/sh: IsStatic = %v, %v; want false", ok, err)
		}
	}
	if _, err := IsStatic([]byte("#!/bin/sh\n")); err == nil {
		t.Error("IsStatic accepted a non-ELF file")
	}
}

func TestImageTagIsValidDockerReference(t *testing.T) {
	tag, err := Image("go", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^flurry/runtime-go:[0-9a-f]{12}$`).MatchString(tag) {
		t.Errorf("tag %q", tag)
	}
}
