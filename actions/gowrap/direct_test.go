package gowrap

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/actions/gowrap/launch"
	"github.com/flurryfn/flurry/actions/proxy"
	"github.com/flurryfn/flurry/invoker/container"
)

// The launcher cannot import the invoker's constants; they must agree.
func TestLaunchSpeaksTheProxysFormat(t *testing.T) {
	if launch.EndMarker != container.EndMarker || launch.LogsHeader != container.InlineLogsHeader {
		t.Errorf("launch has %q, %q; the invoker %q, %q",
			launch.EndMarker, launch.LogsHeader, container.EndMarker, container.InlineLogsHeader)
	}
}

// directProxy serves a proxy on a unix socket with inline logs and a run
// socket next to it, as in a runtime container (ADR 014), initializes exe
// in it and returns a client that asks for inline logs, the logs it got,
// and the socket directory.
type directProxy struct {
	client *container.Client
	dir    string
	stdout *lockedBuffer // the proxy's (the container's) stdout
	stderr *lockedBuffer

	mu   sync.Mutex
	logs []string // stdout and stderr parts of each answer, in turn
}

func startDirect(t *testing.T, exe []byte) *directProxy {
	t.Helper()
	return startDirectAt(t, exe, "")
}

// startDirectAt is startDirect with the run socket at runSocket ("" for
// run.sock next to the proxy's socket).
func startDirectAt(t *testing.T, exe []byte, runSocket string) *directProxy {
	t.Helper()
	// Unix socket paths are short: not under t.TempDir's long name.
	dir, err := os.MkdirTemp("", "gw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "proxy.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	p := &directProxy{dir: dir, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	if runSocket == "" {
		runSocket = filepath.Join(dir, "run.sock")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- proxy.Serve(ctx, ln, proxy.Config{Dir: filepath.Join(dir, "a"), Stdout: p.stdout,
			Stderr: p.stderr, InlineLogs: true, RunSocket: runSocket})
	}()
	p.client = container.NewClient("unix:" + sock)
	p.client.InlineLogs(func(stdout, stderr []byte) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.logs = append(p.logs, string(stdout), string(stderr))
	})
	t.Cleanup(func() {
		p.client.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	ictx, icancel := context.WithTimeout(ctx, 30*time.Second)
	defer icancel()
	if err := p.client.WaitReady(ictx); err != nil {
		t.Fatal(err)
	}
	if err := p.client.Init(ictx, container.InitRequest{Name: "a", Main: "main", Binary: true,
		Code: base64.StdEncoding.EncodeToString(exe)}); err != nil {
		t.Fatalf("init: %v", err)
	}
	return p
}

func (p *directProxy) run(t *testing.T, params string) (container.RunResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.client.Run(ctx, container.RunRequest{Value: json.RawMessage(params), Namespace: "guest",
		ActionName: "/guest/a", ActivationID: "act1", Deadline: 1700000000123})
}

// post sends body to path on the unix socket name in the proxy's dir.
func (p *directProxy) post(t *testing.T, name, method, path, body string) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(p.dir, name))
	}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest(method, "http://x"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// text strips the arrival stamps from inline log lines.
func text(stamped string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(stamped, "\n") {
		if _, rest, ok := strings.Cut(line, " "); ok {
			b.WriteString(rest)
		}
	}
	return b.String()
}

func TestDirectRun(t *testing.T) {
	t.Parallel()
	p := startDirect(t, build(t, filepath.Join("..", "examples", "hello"), ""))
	if _, err := os.Stat(filepath.Join(p.dir, "run.sock")); err != nil {
		t.Fatalf("no run socket after init: %v", err)
	}
	for _, name := range []string{"Ada", "Bob"} {
		resp, err := p.run(t, `{"name":"`+name+`"}`)
		if err != nil || resp.StatusCode != 200 || string(resp.Body) != `{"greeting":"Hello, `+name+`!"}` {
			t.Fatalf("run: %+v, %v", resp, err)
		}
	}
	p.mu.Lock()
	logs := p.logs
	p.mu.Unlock()
	want := []string{"greeting Ada\n" + container.EndMarker + "\n", container.EndMarker + "\n",
		"greeting Bob\n" + container.EndMarker + "\n", container.EndMarker + "\n"}
	if len(logs) != len(want) {
		t.Fatalf("inline logs %q, want %d parts", logs, len(want))
	}
	for i := range want {
		if got := text(logs[i]); got != want[i] {
			t.Errorf("log part %d = %q, want %q", i, got, want[i])
		}
	}

	// The proxy no longer answers /run; the action's socket does, and a
	// request that does not ask for the logs leaves them in the
	// container's output, marked as the proxy would.
	if st, body := p.post(t, "proxy.sock", "POST", "/run", `{"value":{}}`); st != http.StatusConflict || !strings.Contains(body, "run.sock") {
		t.Errorf("proxy /run: %d %s", st, body)
	}
	if st, body := p.post(t, "run.sock", "POST", "/run", `{"value":{"name":"Cy"}}`); st != 200 || body != `{"greeting":"Hello, Cy!"}` {
		t.Errorf("run without logs: %d %s", st, body)
	}
	// The proxy copies the action's pipes as output arrives, after the
	// answer perhaps, as the container engine would.
	for _, c := range []struct {
		buf  *lockedBuffer
		want string
	}{{p.stdout, "greeting Cy\n" + container.EndMarker + "\n"}, {p.stderr, container.EndMarker + "\n"}} {
		deadline := time.Now().Add(5 * time.Second)
		for c.buf.String() != c.want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := c.buf.String(); got != c.want {
			t.Errorf("container output %q, want %q", got, c.want)
		}
	}

	// Bad requests get a status and a message, and the action goes on.
	bad := []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/run", `not json`, http.StatusBadRequest},
		{"POST", "/run", `[1]`, http.StatusBadRequest},
		{"GET", "/run", ``, http.StatusMethodNotAllowed},
		{"POST", "/init", `{}`, http.StatusNotFound},
	}
	for _, b := range bad {
		st, body := p.post(t, "run.sock", b.method, b.path, b.body)
		var e struct{ Error string }
		if st != b.status || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("%s %s %q: %d %s, want %d with an error", b.method, b.path, b.body, st, body, b.status)
		}
	}
	if resp, err := p.run(t, `{}`); err != nil || string(resp.Body) != `{"greeting":"Hello, stranger!"}` {
		t.Errorf("run after bad requests: %+v, %v", resp, err)
	}
}

func TestDirectRunEnvAndPanic(t *testing.T) {
	t.Parallel()
	dir := writeSrc(t, map[string]string{"main.go": envAction})
	p := startDirect(t, build(t, filepath.Join(dir, "main.go"), ""))
	resp, err := p.run(t, `{}`)
	var got map[string]any
	if err != nil || json.Unmarshal(resp.Body, &got) != nil {
		t.Fatalf("run: %+v, %v", resp, err)
	}
	want := map[string]any{"json": "mine", "__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "/guest/a",
		"__OW_ACTIVATION_ID": "act1", "__OW_DEADLINE": "1700000000123"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	resp, err = p.run(t, `{"panic":true}`)
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(resp.Body), "action panicked: on purpose") {
		t.Fatalf("panic: %+v, %v", resp, err)
	}
	p.mu.Lock()
	stderr := text(p.logs[len(p.logs)-1])
	p.mu.Unlock()
	if !strings.HasPrefix(stderr, "panic: on purpose") || !strings.HasSuffix(stderr, container.EndMarker+"\n") {
		t.Errorf("stderr of the panic: %q", stderr)
	}
}

func TestDirectRunCrash(t *testing.T) {
	t.Parallel()
	p := startDirect(t, build(t, filepath.Join("..", "examples", "crash"), ""))
	_, err := p.run(t, `{}`)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run of a crashing action: %v, want a transport error at once", err)
	}
}

// An executable with its own main speaks actionloop: the proxy offers it
// nothing and answers /run itself.
func TestOwnMainGetsNoRunSocket(t *testing.T) {
	t.Parallel()
	p := startDirect(t, build(t, filepath.Join("..", "examples", "garbage"), ""))
	if _, err := os.Stat(filepath.Join(p.dir, "run.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run socket of an own-main action: %v", err)
	}
	resp, err := p.run(t, `{}`)
	if err != nil || resp.StatusCode != http.StatusBadGateway {
		t.Errorf("run: %+v, %v; want the proxy's 502", resp, err)
	}
}

// A launcher that cannot listen on the offered socket says why and speaks
// actionloop through the proxy: the action works, only slower.
func TestDirectRunUnavailable(t *testing.T) {
	t.Parallel()
	p := startDirectAt(t, build(t, filepath.Join("..", "examples", "hello"), ""), "/nonexistent/flurry/run.sock")
	resp, err := p.run(t, `{"name":"Ada"}`)
	if err != nil || resp.StatusCode != 200 || string(resp.Body) != `{"greeting":"Hello, Ada!"}` {
		t.Fatalf("run: %+v, %v", resp, err)
	}
	p.mu.Lock()
	logs := p.logs
	p.mu.Unlock()
	if len(logs) != 2 || text(logs[0]) != "greeting Ada\n"+container.EndMarker+"\n" {
		t.Errorf("inline logs %q", logs)
	}
	if !strings.Contains(text(logs[1]), "direct run unavailable, speaking actionloop") {
		t.Errorf("stderr %q does not say why direct run is off", logs[1])
	}
}

// The lines of an activation whose caller gave up (the invoker's timeout)
// go to the container's output, as the proxy's would.
func TestDirectRunTimeoutLogs(t *testing.T) {
	t.Parallel()
	p := startDirect(t, build(t, filepath.Join("..", "examples", "sleep"), ""))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.client.Run(ctx, container.RunRequest{Value: json.RawMessage(`{"ms":400}`)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run: %v, want a deadline error", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.stdout.String() != container.EndMarker+"\n" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.stdout.String(); got != container.EndMarker+"\n" {
		t.Errorf("container stdout %q, want the timed-out activation's marker", got)
	}
}
