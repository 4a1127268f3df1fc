package entity_test

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/flurryfn/flurry/internal/entity"
)

// elfHeader is the start of an ELF64 little-endian file of type typ.
func elfHeader(typ byte) []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	b[16] = typ
	return b
}

type entry struct {
	name, content string
	mode          fs.FileMode
	size          int64 // zero bytes appended to content
}

func zipOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(e.mode | 0o644)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e.content)
		if e.size > 0 {
			io.Copy(w, io.LimitReader(zeroReader{}, e.size))
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestValidateCode(t *testing.T) {
	exec := string(elfHeader(2))
	main := entry{name: "__main__.py", content: "def main(a): return a"}
	many := []entry{main}
	for i := range entity.MaxZipEntries {
		many = append(many, entry{name: fmt.Sprintf("f%d", i)})
	}
	cases := []struct {
		name string
		kind string
		code []byte
		ok   bool
	}{
		{"go executable", "go", elfHeader(2), true},
		{"go static-pie", "go", elfHeader(3), true},
		{"go relocatable object", "go", elfHeader(1), false},
		{"go text", "go", []byte("#!/bin/sh\necho hi\n"), false},
		{"go zeros", "go", make([]byte, 4096), false},
		{"go empty", "go", nil, false},
		{"go zip with exec", "go", zipOf(t, entry{name: "exec", content: exec}), true},
		{"go zip without exec", "go", zipOf(t, entry{name: "main", content: exec}), false},
		{"go zip with text exec", "go", zipOf(t, entry{name: "exec", content: "echo"}), false},
		{"go zip with symlink", "go", zipOf(t, entry{name: "exec", content: exec}, entry{name: "l", content: "exec", mode: fs.ModeSymlink}), false},
		{"python zip", "python:3", zipOf(t, main), true},
		{"python empty zip", "python:3", zipOf(t), false},
		{"python zip of directories only", "python:3", zipOf(t, entry{name: "d/", mode: fs.ModeDir}), false},
		{"python zip traversal", "python:3", zipOf(t, main, entry{name: "../x.py"}), false},
		{"python zip traversal inside", "python:3", zipOf(t, main, entry{name: "a/../../x.py"}), false},
		{"python zip absolute", "python:3", zipOf(t, main, entry{name: "/etc/x"}), false},
		{"python zip backslash", "python:3", zipOf(t, main, entry{name: "..\\x"}), false},
		{"python zip symlink inside", "python:3", zipOf(t, main, entry{name: "node_modules/.bin/x", content: "../x/cli.js", mode: fs.ModeSymlink}), true},
		{"python zip symlink escaping", "python:3", zipOf(t, main, entry{name: "l", content: "../../etc/passwd", mode: fs.ModeSymlink}), false},
		{"python zip symlink absolute", "python:3", zipOf(t, main, entry{name: "l", content: "/etc/passwd", mode: fs.ModeSymlink}), false},
		{"python zip bomb", "python:3", zipOf(t, main, entry{name: "big", size: entity.MaxUnzippedBytes}), false},
		{"python zip too many entries", "python:3", zipOf(t, many...), false},
		{"python zip not a zip", "python:3", []byte("PK\x03\x04garbage"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := []byte(base64.StdEncoding.EncodeToString(c.code))
			err := entity.ValidateCode(entity.Exec{Kind: c.kind, Binary: true}, code)
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok && !errors.Is(err, entity.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	if err := entity.ValidateCode(entity.Exec{Kind: "go", Binary: true}, []byte("not base64!")); !errors.Is(err, entity.ErrInvalid) {
		t.Errorf("bad base64: %v", err)
	}
	if err := entity.ValidateCode(entity.Exec{Kind: "python:3"}, []byte("def main(a): return a")); err != nil {
		t.Errorf("source code: %v", err)
	}
}

func TestValidateParameters(t *testing.T) {
	small := []entity.KeyValue{{Key: "a", Value: []byte(`1`)}}
	big := []entity.KeyValue{{Key: "a", Value: []byte(`"` + strings.Repeat("x", entity.MaxPayloadBytes) + `"`)}}
	if err := entity.ValidateParameters(small); err != nil {
		t.Errorf("small: %v", err)
	}
	if err := entity.ValidateParameters(big); !errors.Is(err, entity.ErrInvalid) {
		t.Errorf("over 1 MiB: %v", err)
	}
}

func TestParseAuthBounds(t *testing.T) {
	for _, c := range []struct {
		auth string
		ok   bool
	}{
		{"u:k", true},
		{strings.Repeat("u", entity.MaxKeyUUIDBytes) + ":" + strings.Repeat("k", entity.MaxKeySecretBytes), true},
		{strings.Repeat("u", entity.MaxKeyUUIDBytes+1) + ":k", false},
		{"u:" + strings.Repeat("k", entity.MaxKeySecretBytes+1), false},
		{"u", false},
	} {
		if _, _, err := entity.ParseAuth(c.auth); (err == nil) != c.ok {
			t.Errorf("ParseAuth(%.20q…): %v, want ok=%v", c.auth, err, c.ok)
		}
	}
}
