package e2e

import (
	"syscall"
	"testing"
	"unsafe"
)

// setFileLimit sets the descriptor limit (soft and hard) of the running
// process pid, as prlimit(1) does.
func setFileLimit(t *testing.T, pid int, n uint64) {
	t.Helper()
	lim := syscall.Rlimit{Cur: n, Max: n}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_NOFILE,
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0); errno != 0 {
		t.Fatalf("prlimit %d nofile %d: %v", pid, n, errno)
	}
}
