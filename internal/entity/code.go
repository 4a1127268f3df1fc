package entity

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Bounds of an action's zip, checked when the action is stored so that
// code that could never be unpacked is refused with the reason instead of
// failing every activation. The invoker's proxy enforces them again as it
// unpacks (actions/proxy/unpack.go), counting bytes as written.
const (
	// MaxUnzippedBytes bounds the total uncompressed size of a zip.
	MaxUnzippedBytes = 256 << 20
	// MaxZipEntries bounds the number of entries of a zip.
	MaxZipEntries = 10000
	// maxLinkTarget bounds a symlink entry's target.
	maxLinkTarget = 4096
)

// ExecName is the executable a zip of kind KindGo must hold.
const ExecName = "exec"

// ValidateCode checks code (as /init receives it: base64 text when
// x.Binary) for kind x.Kind: a go action is a Linux executable (ELF) or a
// zip holding one as ExecName; any zip is non-empty, stays inside the
// action's directory (no absolute paths, no "..", no symlink leading out;
// go zips have no symlinks at all, as the proxy refuses them) and unpacks
// to at most MaxUnzippedBytes in at most MaxZipEntries entries. Errors
// wrap ErrInvalid.
func ValidateCode(x Exec, code []byte) error {
	if !x.Binary {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(string(code))
	if err != nil {
		return fmt.Errorf("%w: binary code is not base64: %v", ErrInvalid, err)
	}
	isGo := CanonicalKind(x.Kind) == KindGo
	switch {
	case len(b) == 0:
		return fmt.Errorf("%w: binary code is empty", ErrInvalid)
	case IsZip(b):
		return validateZip(b, isGo)
	case isGo:
		if err := validateELF(b); err != nil {
			return fmt.Errorf("%w: kind %q needs a Linux executable or a zip holding %q: %v", ErrInvalid, KindGo, ExecName, err)
		}
	}
	return nil
}

// IsZip reports whether b starts like a zip archive (a local file header,
// or the end record of an empty archive).
func IsZip(b []byte) bool {
	return bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06"))
}

// ELF header fields this check reads.
const (
	elfTypeOffset = 16
	elfExec       = 2 // ET_EXEC
	elfDyn        = 3 // ET_DYN (static-pie executables)
)

// validateELF checks that b is an ELF executable: a relocatable object,
// a core file, a script or text cannot be run in Flurry's go image, which
// has nothing but the executable.
func validateELF(b []byte) error {
	if len(b) < 52 || !bytes.HasPrefix(b, []byte("\x7fELF")) {
		return fmt.Errorf("not an ELF executable")
	}
	var order binary.ByteOrder
	switch b[5] {
	case 1:
		order = binary.LittleEndian
	case 2:
		order = binary.BigEndian
	default:
		return fmt.Errorf("ELF header has an unknown byte order %d", b[5])
	}
	if t := order.Uint16(b[elfTypeOffset:]); t != elfExec && t != elfDyn {
		return fmt.Errorf("ELF file of type %d is not an executable", t)
	}
	return nil
}

// validateZip checks a zip as ValidateCode describes, reading every entry
// to count its real size (headers may claim less).
func validateZip(b []byte, isGo bool) error {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return fmt.Errorf("%w: code is not a readable zip: %v", ErrInvalid, err)
	}
	if len(zr.File) > MaxZipEntries {
		return fmt.Errorf("%w: zip has %d entries, over %d", ErrInvalid, len(zr.File), MaxZipEntries)
	}
	left := int64(MaxUnzippedBytes)
	files := 0
	var exec *zip.File
	for _, f := range zr.File {
		name := f.Name
		if !localPath(name) {
			return fmt.Errorf("%w: zip entry %q leaves the action directory (absolute or \"..\")", ErrInvalid, name)
		}
		mode := f.Mode()
		switch {
		case mode.IsDir():
			continue
		case mode&fs.ModeSymlink != 0:
			if isGo {
				return fmt.Errorf("%w: zip entry %q is a symlink (kind %q takes regular files only)", ErrInvalid, name, KindGo)
			}
			target, err := readEntry(f, maxLinkTarget)
			if err != nil {
				return fmt.Errorf("%w: zip entry %q: %v", ErrInvalid, name, err)
			}
			if !localPath(path.Join(path.Dir(strings.TrimSuffix(name, "/")), string(target))) || path.IsAbs(string(target)) {
				return fmt.Errorf("%w: zip entry %q is a symlink to %q, outside the action directory", ErrInvalid, name, target)
			}
			continue
		case !mode.IsRegular():
			return fmt.Errorf("%w: zip entry %q is not a regular file, directory or symlink", ErrInvalid, name)
		}
		files++
		n, err := countEntry(f, left)
		if err != nil {
			return fmt.Errorf("%w: zip entry %q: %v", ErrInvalid, name, err)
		}
		if left -= n; left < 0 {
			return fmt.Errorf("%w: zip unpacks to more than %d bytes", ErrInvalid, MaxUnzippedBytes)
		}
		if path.Clean(name) == ExecName {
			exec = f
		}
	}
	if files == 0 {
		return fmt.Errorf("%w: zip holds no files", ErrInvalid)
	}
	if isGo {
		if exec == nil {
			return fmt.Errorf("%w: kind %q zip must hold the executable %q", ErrInvalid, KindGo, ExecName)
		}
		head, err := readEntry(exec, 64)
		if err == nil {
			err = validateELF(head)
		}
		if err != nil {
			return fmt.Errorf("%w: zip entry %q: %v", ErrInvalid, ExecName, err)
		}
	}
	return nil
}

// localPath reports whether a slash-separated zip name stays inside the
// directory it is unpacked in.
func localPath(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) {
		return false
	}
	c := path.Clean(name)
	return c != ".." && !strings.HasPrefix(c, "../")
}

// countEntry decompresses f and returns its size, stopping past left.
func countEntry(f *zip.File, left int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, io.LimitReader(rc, left+1))
}

// readEntry returns up to max bytes of f.
func readEntry(f *zip.File, max int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, max))
}
