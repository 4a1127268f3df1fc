//go:build !linux

package e2e

import "testing"

// setFileLimit needs Linux's prlimit(2); the e2e tests run on Linux.
func setFileLimit(t *testing.T, pid int, n uint64) {
	t.Helper()
	t.Fatalf("setting another process's descriptor limit needs Linux")
}
