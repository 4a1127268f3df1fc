package container_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/invoker/container"
)

// inlineProxy serves /run on a unix socket the way a proxy with
// --inline-logs does: the result, then the stdout and stderr parts, their
// lengths in the header. header overrides the header's value when set.
func inlineProxy(t *testing.T, result, stdout, stderr, header string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "proxy.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get(container.InlineLogsHeader) == "" {
			_, _ = io.WriteString(w, result)
			return
		}
		h := header
		if h == "" {
			h = strings.Join([]string{itoa(len(result)), itoa(len(stdout)), itoa(len(stderr))}, " ")
		}
		w.Header().Set(container.InlineLogsHeader, h)
		_, _ = io.WriteString(w, result+stdout+stderr)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "unix:" + sock
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestClientInlineLogs(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 5, time.UTC)
	ns := strconv.FormatInt(at.UnixNano(), 10)
	addr := inlineProxy(t, `{"ok":1}`,
		ns+" out one\n"+ns+" partial"+container.EndMarker+"\n",
		ns+" err one\n"+ns+" "+container.EndMarker+"\n", "")
	l := container.NewLogCollector(nil, nil)
	cl := container.NewClient(addr)
	defer cl.Close()
	cl.InlineLogs(l.Feed)
	resp, err := cl.Run(context.Background(), container.RunRequest{Value: json.RawMessage(`{}`)})
	if err != nil || resp.StatusCode != 200 || string(resp.Body) != `{"ok":1}` {
		t.Fatalf("run: %+v %v", resp, err)
	}
	// Both markers came with the answer: Collect does not wait.
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	got := l.Collect(ctx, 0)
	want := []string{
		"2026-12-04T10:00:00.000000005Z stdout: out one",
		"2026-12-04T10:00:00.000000005Z stdout: partial",
		"2026-12-04T10:00:00.000000005Z stderr: err one",
	}
	equal(t, got, want)
}

// A client that does not ask gets the plain body, as from any proxy.
func TestClientWithoutInlineLogs(t *testing.T) {
	addr := inlineProxy(t, `{"ok":1}`, "1 x\n", "", "")
	cl := container.NewClient(addr)
	defer cl.Close()
	resp, err := cl.Run(context.Background(), container.RunRequest{})
	if err != nil || string(resp.Body) != `{"ok":1}` {
		t.Fatalf("run: %s %v", resp.Body, err)
	}
}

func TestClientInlineLogsMalformed(t *testing.T) {
	for _, h := range []string{"8", "a b c", "8 -1 0", "8 1 1 1"} {
		addr := inlineProxy(t, `{"ok":1}`, "", "", h)
		cl := container.NewClient(addr)
		cl.InlineLogs(func(_, _ []byte) { t.Errorf("%q: logs fed", h) })
		_, err := cl.Run(context.Background(), container.RunRequest{})
		if err == nil || !strings.Contains(err.Error(), "malformed Flurry-Logs header") {
			t.Errorf("header %q: err %v", h, err)
		}
		cl.Close()
	}
}

// An oversized result is still cut at the platform's limit, and the logs
// after it still arrive.
func TestClientInlineLogsBigResult(t *testing.T) {
	big := `{"x":"` + strings.Repeat("a", entity.MaxPayloadBytes+10) + `"}`
	addr := inlineProxy(t, big, "1 "+container.EndMarker+"\n", "1 "+container.EndMarker+"\n", "")
	var fed int
	cl := container.NewClient(addr)
	defer cl.Close()
	cl.InlineLogs(func(out, errs []byte) { fed = len(out) + len(errs) })
	resp, err := cl.Run(context.Background(), container.RunRequest{})
	if err != nil || !resp.Truncated || resp.Size != int64(len(big)) {
		t.Fatalf("run: truncated %v size %d err %v", resp.Truncated, resp.Size, err)
	}
	if fed != 2*len("1 "+container.EndMarker+"\n") {
		t.Errorf("fed %d bytes of logs", fed)
	}
}
