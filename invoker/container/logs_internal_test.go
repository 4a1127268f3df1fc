package container

import (
	"testing"
	"time"
)

func TestFormatMergesInTimeOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	out := []logLine{{t0, "o1"}, {t0.Add(2 * time.Millisecond), "o2"}}
	errs := []logLine{{t0, "e1"}, {t0.Add(time.Millisecond), "e2"}}
	got := format(out, errs, 0, 0, "")
	want := []string{
		"2026-01-02T03:04:05.000000006Z stdout: o1",
		"2026-01-02T03:04:05.000000006Z stderr: e1",
		"2026-01-02T03:04:05.001000006Z stderr: e2",
		"2026-01-02T03:04:05.002000006Z stdout: o2",
	}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
}
