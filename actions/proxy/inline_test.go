package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/invoker/container"
)

// inlineRun posts a run asking for inline logs and returns the status, the
// result part and the two log parts.
func (p *testProxy) inlineRun(t *testing.T, value map[string]any) (int, map[string]any, string, string) {
	t.Helper()
	body, _ := json.Marshal(runBody(value))
	req, _ := http.NewRequest(http.MethodPost, p.url+"/run", bytes.NewReader(body))
	req.Header.Set(container.InlineLogsHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var n [3]int
	if _, err := fmt.Sscanf(resp.Header.Get(container.InlineLogsHeader), "%d %d %d", &n[0], &n[1], &n[2]); err != nil {
		t.Fatalf("header %q: %v", resp.Header.Get(container.InlineLogsHeader), err)
	}
	if n[0]+n[1]+n[2] != len(raw) {
		t.Fatalf("parts %v do not add up to the body's %d bytes", n, len(raw))
	}
	var res map[string]any
	if err := json.Unmarshal(raw[:n[0]], &res); err != nil {
		t.Fatalf("result part %q: %v", raw[:n[0]], err)
	}
	return resp.StatusCode, res, string(raw[n[0] : n[0]+n[1]]), string(raw[n[0]+n[1]:])
}

// text drops the timestamps of inline log lines, checking each is a time
// not before since.
func text(t *testing.T, part string, since time.Time) string {
	t.Helper()
	var b strings.Builder
	for line := range strings.Lines(part) {
		stamp, rest, ok := strings.Cut(line, " ")
		ns, err := strconv.ParseInt(stamp, 10, 64)
		if !ok || err != nil || time.Unix(0, ns).Before(since) {
			t.Fatalf("line %q has no timestamp since %v", line, since)
		}
		b.WriteString(rest)
	}
	return b.String()
}

func TestInlineLogs(t *testing.T) {
	p := startProxyConfig(t, Config{InlineLogs: true})
	p.init(t, loopExe, nil)
	for range 3 {
		since := time.Now()
		st, res, out, errs := p.inlineRun(t, map[string]any{"do": "log"})
		if st != http.StatusOK || res["logged"] != true {
			t.Fatalf("run: %d %v", st, res)
		}
		var wantOut, wantErr strings.Builder
		for i := range 200 {
			fmt.Fprintf(&wantOut, "out %d %s\n", i, strings.Repeat("x", 100))
			fmt.Fprintf(&wantErr, "err %d\n", i)
		}
		wantOut.WriteString("no newline\n" + container.EndMarker + "\n")
		wantErr.WriteString(container.EndMarker + "\n")
		if got := text(t, out, since); got != wantOut.String() {
			t.Errorf("stdout part: %d bytes, want %d; tail %q", len(got), wantOut.Len(), got[max(0, len(got)-120):])
		}
		if got := text(t, errs, since); got != wantErr.String() {
			t.Errorf("stderr part: %q", got)
		}
	}
	if p.stdout.String() != "" || p.stderr.String() != "" {
		t.Errorf("printed %q / %q, want nothing", p.stdout.String(), p.stderr.String())
	}

	// A run that does not ask prints its logs as a proxy without
	// InlineLogs does.
	p.post(t, "/run", runBody(map[string]any{"do": "exit"}))
	if got, want := p.stdout.String(), "exiting\n"+container.EndMarker+"\n"; got != want {
		t.Errorf("stdout of a run without the header: %q, want %q", got, want)
	}
}

// A failed run's logs come with its 502; so do a failed /init's.
func TestInlineLogsOfFailures(t *testing.T) {
	p := startProxyConfig(t, Config{InlineLogs: true})
	p.init(t, loopExe, nil)
	st, res, out, _ := p.inlineRun(t, map[string]any{"do": "exit"})
	if st != http.StatusBadGateway || !strings.Contains(errorOf(res), "exited with status 3") {
		t.Errorf("run: %d %v", st, res)
	}
	if got := text(t, out, time.Time{}); got != "exiting\n"+container.EndMarker+"\n" {
		t.Errorf("stdout part: %q", got)
	}
}

// A client that gives up before the answer does not lose the logs: they
// are printed, with the marker, for the attach stream to deliver.
func TestInlineLogsOfAbandonedRun(t *testing.T) {
	p := startProxyConfig(t, Config{InlineLogs: true})
	p.init(t, loopExe, nil)
	body, _ := json.Marshal(runBody(map[string]any{"do": "sleep"}))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/run", bytes.NewReader(body))
	req.Header.Set(container.InlineLogsHeader, "1")
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run: %v, want the deadline", err)
	}
	want := "sleeping\n" + container.EndMarker + "\n"
	deadline := time.Now().Add(5 * time.Second)
	for p.stdout.String() != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.stdout.String(); got != want {
		t.Errorf("stdout: %q, want %q", got, want)
	}
}

func TestLogBuffer(t *testing.T) {
	var tick int64
	b := &logBuffer{now: func() time.Time { tick++; return time.Unix(0, tick) }}
	if b.take() != nil {
		t.Fatal("take before any marker")
	}
	write := func(s string) { _, _ = b.Write([]byte(s)) }
	write("one\ntw")
	write("o\nthr")
	write("ee\n")
	write(container.EndMarker + "\n")
	write("next\n")
	if got, want := string(b.take()), "1 one\n2 two\n3 three\n4 "+container.EndMarker+"\n"; got != want {
		t.Errorf("take = %q, want %q", got, want)
	}
	if b.take() != nil {
		t.Error("second take without a second marker")
	}
	// A second marker before a take ends the next activation.
	write(container.EndMarker + "\n")
	write(container.EndMarker + "\n")
	if got, want := string(b.take()), "5 next\n6 "+container.EndMarker+"\n"; got != want {
		t.Errorf("take = %q, want %q", got, want)
	}
	if got, want := string(b.take()), "7 "+container.EndMarker+"\n"; got != want {
		t.Errorf("queued marker: take = %q, want %q", got, want)
	}
}

func TestLogBufferCap(t *testing.T) {
	b := newLogBuffer()
	line := strings.Repeat("x", 1<<20) + "\n"
	for range 16 {
		_, _ = b.Write([]byte(line))
	}
	_, _ = b.Write([]byte(strings.Repeat("y", 1<<20-30) + "\n"))
	_, _ = b.Write([]byte(container.EndMarker + "\n"))
	seg := b.take()
	if len(seg) > maxInlineBytes+200 || !strings.Contains(string(seg), "dropped lines") || !strings.HasSuffix(string(seg), container.EndMarker+"\n") {
		t.Errorf("capped take: %d bytes, suffix %q", len(seg), seg[max(0, len(seg)-60):])
	}
}
