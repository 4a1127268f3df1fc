package proxy

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flurryfn/flurry/internal/entity"
)

// maxUnpacked caps the total size of an action's unpacked zip; the
// controller refuses larger zips when the action is created
// (entity.ValidateCode), this counts again as it writes.
const maxUnpacked = entity.MaxUnzippedBytes

func isZip(b []byte) bool {
	return bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06"))
}

// unzip extracts the zip in b into dir. Entries must stay inside dir
// (no absolute paths, no "..", no symlinks) and all of them together may
// hold at most max bytes, counted as written, not as the headers claim.
func unzip(b []byte, dir string, max int64) error {
	return unpackZip(b, dir, max, false)
}

// unpackZip is unzip; with skipLinks, symlink entries are left out
// instead of refused.
func unpackZip(b []byte, dir string, max int64, skipLinks bool) error {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return err
	}
	if len(zr.File) > entity.MaxZipEntries {
		return fmt.Errorf("zip has %d entries, over %d", len(zr.File), entity.MaxZipEntries)
	}
	left := max
	for _, f := range zr.File {
		name := filepath.FromSlash(f.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("entry %q escapes the action directory", f.Name)
		}
		dst := filepath.Join(dir, name)
		mode := f.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			continue
		case skipLinks && mode&os.ModeSymlink != 0:
			continue
		case !mode.IsRegular():
			return fmt.Errorf("entry %q is not a regular file or directory", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		n, err := extract(f, dst, mode.Perm()|0o600, left)
		if err != nil {
			return fmt.Errorf("entry %q: %w", f.Name, err)
		}
		left -= n
	}
	return nil
}

var errTooBig = errors.New("unpacked code is larger than 256 MiB")

func extract(f *zip.File, dst string, perm os.FileMode, left int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, io.LimitReader(rc, left+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	if n > left {
		return n, errTooBig
	}
	return n, nil
}
