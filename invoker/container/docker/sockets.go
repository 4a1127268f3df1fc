package docker

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrSocketQuota is wrapped by New when the per-container tmpfs of the
// socket directories cannot be mounted (the invoker is not root): without
// it an action could fill the host's disk through its socket directory.
// Callers may fall back to TCP addressing or set UnquotedSocketDirs.
var ErrSocketQuota = errors.New("cannot mount a size-limited tmpfs for socket directories")

// A container's socket directory is shared with the host: the proxy
// inside creates its sockets there, the invoker connects from outside.
// Shared and writable, a plain directory would let the action write the
// host's disk without limit; each is therefore a tmpfs of its own,
// DefaultSocketDirSize and DefaultSocketDirInodes large, owned by the
// image's user with mode 0700, mounted before the container starts and
// unmounted when it is removed. Mounting needs root (CAP_SYS_ADMIN).

// prepareSocketRoot clears what an earlier run left under root (tmpfs
// mounts of containers it did not remove, then the directories) and
// makes root afresh. With quota it checks that a tmpfs can be mounted.
func prepareSocketRoot(root string, quota bool) error {
	if err := unmountUnder(root); err != nil {
		return fmt.Errorf("clear socket directory: %w", err)
	}
	// Directories of an earlier run's containers (removed by the
	// invoker's sweep of leftovers) would only accumulate.
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("clear socket directory: %w", err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	if !quota {
		return nil
	}
	probe := filepath.Join(root, "probe")
	if err := mountSocketDir(probe, ""); err != nil {
		return err
	}
	return unmountSocketDir(probe)
}

// mountSocketDir makes dir and mounts a small tmpfs on it that owner
// ("uid=U,gid=G," or "" for root) may write.
func mountSocketDir(dir, owner string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	opts := owner + "mode=0700,size=" + strconv.Itoa(DefaultSocketDirSize) + ",nr_inodes=" + strconv.Itoa(DefaultSocketDirInodes)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		_ = os.Remove(dir)
		return fmt.Errorf("%w: mount tmpfs on %s: %w", ErrSocketQuota, dir, err)
	}
	return nil
}

// unmountSocketDir unmounts dir's tmpfs (lazily: the container may hold
// it a moment longer) and removes dir.
func unmountSocketDir(dir string) error {
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount socket directory %s: %w", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove socket directory %s: %w", dir, err)
	}
	return nil
}

// unmountUnder detaches every mount at or below root, deepest first, as
// /proc/self/mountinfo lists them.
func unmountUnder(root string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	prefix := filepath.Clean(root) + "/"
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "id parent major:minor root mountpoint options ..."; the mount
		// point escapes blanks as octal.
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == filepath.Clean(root) || strings.HasPrefix(mp, prefix) {
			points = append(points, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	var errs []error
	for i := len(points) - 1; i >= 0; i-- {
		if err := unix.Unmount(points[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", points[i], err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMountinfo decodes the \NNN octal escapes of mountinfo fields.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
