package container_test

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/invoker/container"
)

const marker = container.EndMarker + "\n"

var lineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr): (.*)$`)

// texts strips the timestamps, keeping "stream: text".
func texts(t *testing.T, lines []string) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			out = append(out, l)
			continue
		}
		out = append(out, m[1]+": "+m[2])
	}
	return out
}

func pipes(t *testing.T) (*container.LogCollector, *io.PipeWriter, *io.PipeWriter) {
	t.Helper()
	or, ow := io.Pipe()
	er, ew := io.Pipe()
	t.Cleanup(func() { ow.Close(); ew.Close() })
	return container.NewLogCollector(or, er), ow, ew
}

func write(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func collect(t *testing.T, l *container.LogCollector, limit int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return texts(t, l.Collect(ctx, limit))
}

func TestLogsPerActivation(t *testing.T) {
	l, ow, ew := pipes(t)
	write(t, ow, "one\r\ntwo\n"+marker+"three\n"+marker)
	write(t, ew, "err1\n"+marker+"err2 no newline"+marker)

	got := collect(t, l, 0)
	if len(got) != 3 {
		t.Fatalf("got %q", got)
	}
	var out, errs []string
	for _, g := range got {
		if strings.HasPrefix(g, "stdout") {
			out = append(out, g)
		} else {
			errs = append(errs, g)
		}
	}
	equal(t, out, []string{"stdout: one", "stdout: two"})
	equal(t, errs, []string{"stderr: err1"})

	got = collect(t, l, 0)
	if len(got) != 2 || !contains(got, "stdout: three") || !contains(got, "stderr: err2 no newline") {
		t.Fatalf("second activation: %q", got)
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

func TestLogsEOFCountsAsDone(t *testing.T) {
	l, ow, ew := pipes(t)
	write(t, ow, "last words\n")
	ow.Close()
	ew.Close()
	equal(t, collect(t, l, 0), []string{"stdout: last words"})
	equal(t, collect(t, l, 0), nil)
}

func TestLogsNilStreams(t *testing.T) {
	l := container.NewLogCollector(nil, nil)
	equal(t, collect(t, l, 0), nil)
}

func TestLogsIncompleteThenLateMarker(t *testing.T) {
	l, ow, ew := pipes(t)
	write(t, ow, "a\n"+marker)
	write(t, ew, "b\n")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	got := texts(t, l.Collect(ctx, 0))
	if len(got) != 3 || !contains(got, "stdout: a") || !contains(got, "stderr: b") ||
		got[2] != "... logs incomplete: context deadline exceeded" {
		t.Fatalf("got %q", got)
	}

	// The late marker and what precedes it belong to the given-up activation.
	write(t, ew, "late\n"+marker)
	write(t, ow, "next\n"+marker)
	write(t, ew, "next err\n"+marker)
	got = collect(t, l, 0)
	if len(got) != 2 || !contains(got, "stdout: next") || !contains(got, "stderr: next err") {
		t.Fatalf("next activation: %q", got)
	}
}

func TestLogsLimit(t *testing.T) {
	l, ow, ew := pipes(t)
	write(t, ow, "0123456789\n0123456789\n"+marker)
	write(t, ew, marker)
	// One formatted line is 30+8+10 = 48 bytes; the limit admits one.
	equal(t, collect(t, l, 60), []string{
		"stdout: 0123456789",
		"Logs were truncated because the total bytes size exceeds the limit of 60 bytes.",
	})
}

func TestLogsLongLineIsSplit(t *testing.T) {
	l, ow, ew := pipes(t)
	long := strings.Repeat("x", 1<<20+5)
	go func() {
		_, _ = io.WriteString(ow, long+"\n"+marker)
		_, _ = io.WriteString(ew, marker)
	}()
	got := collect(t, l, 0)
	if len(got) != 2 || len(got[0]) != len("stdout: ")+1<<20 || got[1] != "stdout: xxxxx" {
		t.Fatalf("got %d lines", len(got))
	}
}
