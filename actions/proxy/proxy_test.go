package proxy

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
	"github.com/flurryfn/flurry/invoker/container"
)

// loopExe is the testdata/loop action, built once for all tests.
var loopExe []byte

func TestMain(m *testing.M) {
	os.Exit(buildLoopAndRun(m))
}

func buildLoopAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "proxy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "loop")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./testdata/loop")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testdata/loop: %v\n%s", err, b)
		return 1
	}
	if loopExe, err = os.ReadFile(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

type testProxy struct {
	url            string
	dir            string
	stdout, stderr *testutil.Buffer
	cancel         context.CancelFunc
	done           chan error
}

func startProxy(t *testing.T, env ...string) *testProxy {
	t.Helper()
	return startProxyConfig(t, Config{Env: env})
}

// startProxyConfig serves cfg with the test's dir, stdout and stderr.
func startProxyConfig(t *testing.T, cfg Config) *testProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &testProxy{
		url:    "http://" + ln.Addr().String(),
		dir:    filepath.Join(t.TempDir(), "action"),
		stdout: &testutil.Buffer{},
		stderr: &testutil.Buffer{},
		cancel: cancel,
		done:   make(chan error, 1),
	}
	cfg.Dir, cfg.Stdout, cfg.Stderr = p.dir, p.stdout, p.stderr
	go func() { p.done <- Serve(ctx, ln, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-p.done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return p
}

func (p *testProxy) post(t *testing.T, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	resp, err := http.Post(p.url+path, "application/json", rd)
	if err != nil {
		t.Fatalf("post %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("post %s: status %d, body %q is not a JSON object", path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func initBody(code []byte, env map[string]any) map[string]any {
	return map[string]any{"value": map[string]any{
		"name": "/guest/loop", "main": "main", "binary": true,
		"code": base64.StdEncoding.EncodeToString(code), "env": env,
	}}
}

func (p *testProxy) init(t *testing.T, code []byte, env map[string]any) {
	t.Helper()
	if st, body := p.post(t, "/init", initBody(code, env)); st != http.StatusOK {
		t.Fatalf("init: status %d, %v", st, body)
	}
}

func runBody(value map[string]any) map[string]any {
	return map[string]any{
		"value": value, "namespace": "guest", "action_name": "loop",
		"action_version": "0.0.1", "activation_id": "a1b2", "deadline": "1700000000000",
	}
}

func makeZip(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func errorOf(body map[string]any) string {
	s, _ := body["error"].(string)
	return s
}

func TestInitAndRun(t *testing.T) {
	p := startProxy(t)
	p.init(t, loopExe, nil)

	st, body := p.post(t, "/run", runBody(map[string]any{"name": "Ada"}))
	if st != http.StatusOK {
		t.Fatalf("run: status %d, %v", st, body)
	}
	echo, _ := body["echo"].(map[string]any)
	if echo["activation_id"] != "a1b2" || echo["namespace"] != "guest" || echo["deadline"] != "1700000000000" {
		t.Errorf("run line lost fields: %v", echo)
	}
	if v, _ := echo["value"].(map[string]any); v["name"] != "Ada" {
		t.Errorf("value = %v, want name Ada", echo["value"])
	}

	st, body = p.post(t, "/init", initBody(loopExe, nil))
	if st != http.StatusForbidden || errorOf(body) != "Cannot initialize the action more than once." {
		t.Errorf("second init: status %d, %v; want 403", st, body)
	}
	// Still serving after the refused init.
	if st, body := p.post(t, "/run", runBody(nil)); st != http.StatusOK {
		t.Errorf("run after second init: status %d, %v", st, body)
	}
}

func TestInitZip(t *testing.T) {
	p := startProxy(t)
	code := makeZip(t, map[string]string{"exec": string(loopExe), "data/file.txt": "payload"})
	p.init(t, code, nil)
	st, body := p.post(t, "/run", runBody(map[string]any{"do": "cwd"}))
	if st != http.StatusOK {
		t.Fatalf("run: status %d, %v", st, body)
	}
	if body["cwd"] != p.dir || body["data"] != "payload" {
		t.Errorf("got %v, want cwd %s and data payload", body, p.dir)
	}
	fi, err := os.Stat(filepath.Join(p.dir, ExecName))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("exec mode: %v %v, want 0755", fi.Mode(), err)
	}
}

func TestInitErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   any
		status int
		want   string // part of the error message
	}{
		{"malformed json", `{"value":`, http.StatusBadRequest, "malformed init request"},
		{"no value", `{}`, http.StatusBadGateway, "no value"},
		{"no code", map[string]any{"value": map[string]any{"binary": true}}, http.StatusBadGateway, "no code"},
		{"text code", map[string]any{"value": map[string]any{"code": "package main"}}, http.StatusBadGateway, "native executables only"},
		{"bad base64", map[string]any{"value": map[string]any{"code": "!!!", "binary": true}}, http.StatusBadGateway, "base64"},
		{"not an executable", initBody([]byte("just some bytes"), nil), http.StatusBadGateway, "start action executable"},
		{"zip without exec", initBody(makeZip(t, map[string]string{"main": "x"}), nil), http.StatusBadGateway, "no executable file named \"exec\""},
		{"zip with exec in a folder", initBody(makeZip(t, map[string]string{"bin/exec": "x"}), nil), http.StatusBadGateway, "no executable file named \"exec\""},
		{"zip traversal", initBody(makeZip(t, map[string]string{"../evil": "x", "exec": "x"}), nil), http.StatusBadGateway, "escapes"},
		{"zip absolute", initBody(makeZip(t, map[string]string{"/etc/evil": "x", "exec": "x"}), nil), http.StatusBadGateway, "escapes"},
		{"bad env name", initBody(loopExe, map[string]any{"A=B": "x"}), http.StatusBadGateway, "invalid environment variable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startProxy(t)
			st, body := p.post(t, "/init", tt.body)
			if st != tt.status || !strings.Contains(errorOf(body), tt.want) {
				t.Errorf("status %d, %v; want %d with %q", st, body, tt.status, tt.want)
			}
			// A failed init leaves nothing to run.
			if st, body := p.post(t, "/run", runBody(nil)); st < 400 {
				t.Errorf("run after failed init: status %d, %v", st, body)
			}
		})
	}
}

func TestUnzipSizeCap(t *testing.T) {
	code := makeZip(t, map[string]string{"exec": strings.Repeat("a", 600), "b": strings.Repeat("b", 600)})
	err := unzip(code, t.TempDir(), 1000)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("unzip over the cap: %v, want size error", err)
	}
	if err := unzip(code, t.TempDir(), 1200); err != nil {
		t.Errorf("unzip at the cap: %v", err)
	}
}

func TestUnzipRejectsSymlink(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "exec"}
	h.SetMode(os.ModeSymlink | 0o777)
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(w, "/bin/sh")
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := unzip(buf.Bytes(), t.TempDir(), maxUnpacked); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("unzip symlink: %v, want rejection", err)
	}
}

func TestRunBeforeInit(t *testing.T) {
	p := startProxy(t)
	st, body := p.post(t, "/run", runBody(nil))
	if st != http.StatusForbidden || errorOf(body) == "" {
		t.Errorf("status %d, %v; want 403 with error", st, body)
	}
	for name, s := range map[string]*testutil.Buffer{"stdout": p.stdout, "stderr": p.stderr} {
		if got := s.String(); got != container.EndMarker+"\n" {
			t.Errorf("%s = %q, want the marker", name, got)
		}
	}
}

func TestRunMalformed(t *testing.T) {
	p := startProxy(t)
	p.init(t, loopExe, nil)
	for _, body := range []string{`{"value":`, `[1]`, `"x"`} {
		if st, resp := p.post(t, "/run", body); st != http.StatusBadRequest {
			t.Errorf("run %s: status %d, %v; want 400", body, st, resp)
		}
	}
	// A malformed request does not break the action.
	if st, body := p.post(t, "/run", runBody(nil)); st != http.StatusOK {
		t.Errorf("run after malformed: status %d, %v", st, body)
	}
}

func TestRunFailures(t *testing.T) {
	tests := []struct {
		do   string
		want string
	}{
		{"garbage", "did not return a JSON object"},
		{"array", "did not return a JSON object"},
		{"exit", "exited with status 3"},
		{"close", "closed its result pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.do, func(t *testing.T) {
			t.Parallel()
			p := startProxy(t)
			p.init(t, loopExe, nil)
			st, body := p.post(t, "/run", runBody(map[string]any{"do": tt.do}))
			if st != http.StatusBadGateway || !strings.Contains(errorOf(body), tt.want) {
				t.Fatalf("status %d, %v; want 502 with %q", st, body, tt.want)
			}
			first := errorOf(body)
			// The proxy stays up and keeps failing: the invoker replaces it.
			st, body = p.post(t, "/run", runBody(nil))
			if st != http.StatusBadGateway || errorOf(body) != first {
				t.Errorf("later run: status %d, %v; want 502 %q", st, body, first)
			}
			if n := strings.Count(p.stdout.String(), container.EndMarker); n != 2 {
				t.Errorf("stdout has %d markers, want 2:\n%s", n, p.stdout.String())
			}
			if n := strings.Count(p.stderr.String(), container.EndMarker); n != 2 {
				t.Errorf("stderr has %d markers, want 2", n)
			}
		})
	}
}

func TestCrashLogsBeforeMarker(t *testing.T) {
	p := startProxy(t)
	p.init(t, loopExe, nil)
	p.post(t, "/run", runBody(map[string]any{"do": "exit"}))
	if got, want := p.stdout.String(), "exiting\n"+container.EndMarker+"\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestLogsAndMarkers(t *testing.T) {
	p := startProxy(t)
	p.init(t, loopExe, nil)
	const runs = 3
	for range runs {
		if st, body := p.post(t, "/run", runBody(map[string]any{"do": "log"})); st != http.StatusOK || body["logged"] != true {
			t.Fatalf("run: status %d, %v", st, body)
		}
	}
	var wantOut, wantErr strings.Builder
	for range runs {
		for i := range 200 {
			fmt.Fprintf(&wantOut, "out %d %s\n", i, strings.Repeat("x", 100))
			fmt.Fprintf(&wantErr, "err %d\n", i)
		}
		wantOut.WriteString("no newline\n" + container.EndMarker + "\n")
		wantErr.WriteString(container.EndMarker + "\n")
	}
	if got := p.stdout.String(); got != wantOut.String() {
		t.Errorf("stdout differs:\n got %d bytes\nwant %d bytes\n tail %q", len(got), wantOut.Len(), got[max(0, len(got)-200):])
	}
	if got := p.stderr.String(); got != wantErr.String() {
		t.Errorf("stderr differs:\n got %q\nwant %q", got, wantErr.String())
	}
}

func TestEnv(t *testing.T) {
	p := startProxy(t, "BASE=base", "GREETING=overridden")
	p.init(t, loopExe, map[string]any{"GREETING": "hi", "NUMBER": 42})
	st, body := p.post(t, "/run", runBody(map[string]any{"do": "env"}))
	if st != http.StatusOK {
		t.Fatalf("run: status %d, %v", st, body)
	}
	want := map[string]any{"__OW_ACTION_NAME": "/guest/loop", "GREETING": "hi", "NUMBER": "42", "BASE": "base", "GOMAXPROCS": "1"}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s = %v, want %v", k, body[k], v)
		}
	}
	// A GOMAXPROCS of the container's (or of /init's env) is kept.
	p = startProxy(t, "GOMAXPROCS=3")
	p.init(t, loopExe, nil)
	if _, body := p.post(t, "/run", runBody(map[string]any{"do": "env"})); body["GOMAXPROCS"] != "3" {
		t.Errorf("GOMAXPROCS = %v, want the container's 3", body["GOMAXPROCS"])
	}
}

func TestConcurrentRunsAreSerialized(t *testing.T) {
	p := startProxy(t)
	p.init(t, loopExe, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			st, body := p.post(t, "/run", runBody(map[string]any{"i": float64(i)}))
			echo, _ := body["echo"].(map[string]any)
			v, _ := echo["value"].(map[string]any)
			if st != http.StatusOK || v["i"] != float64(i) {
				t.Errorf("run %d: status %d, %v", i, st, body)
			}
		})
	}
	wg.Wait()
}

func TestServeStopsAction(t *testing.T) {
	p := startProxy(t)
	p.init(t, loopExe, nil)
	p.cancel()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
	if _, err := http.Post(p.url+"/run", "application/json", strings.NewReader("{}")); err == nil {
		t.Error("proxy still answers after cancel")
	}
}

func TestValidate(t *testing.T) {
	if err := (Config{Dir: "relative"}).Validate(); err == nil {
		t.Error("relative dir accepted")
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// decodeInit's fast path must agree with encoding/json on every body,
// including ones built to fool the byte search.
func TestDecodeInitAgreesWithJSON(t *testing.T) {
	bodies := []string{
		`{"value":{"name":"a","binary":true,"code":"QUJD"}}`,
		`{"value":{"name":"a","binary":true,"code":"QU\/JD"}}`,
		`{"value":{"name":"a","binary":true,"env":{"code":"x"},"code" : "QUJD"}}`,
		`{"value":{"name":"a","binary":true,"env":{"code":"QUJD"}}}`,
		`{"code":"QUJD","value":{"name":"a","binary":true}}`,
		`{"value":{"name":"\"code\":\"","binary":true,"code":"QUJD"}}`,
		`{"value":{"name":"a","binary":true,"code":"QUJD"}} trailing`,
		`{"value":{"name":"a","binary":true,"code":null}}`,
	}
	for _, b := range bodies {
		var want initRequest
		wantErr := json.Unmarshal([]byte(b), &want)
		var got initRequest
		r := httptest.NewRequest(http.MethodPost, "/init", strings.NewReader(b))
		gotErr := decodeInit(httptest.NewRecorder(), r, &got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("%s: error %v, encoding/json says %v", b, gotErr, wantErr)
		}
		if wantErr == nil && fmt.Sprintf("%+v %s", *got.Value, got.Value.Code) != fmt.Sprintf("%+v %s", *want.Value, want.Value.Code) {
			t.Fatalf("%s: got %+v, want %+v", b, *got.Value, *want.Value)
		}
	}
}

func TestDecodeBase64(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"QUJDRA==", "ABCD"},
		{"QUJDRA", "ABCD"},
		{"QUJD\nRA==\n", "ABCD"},
		{"QUJD\r\nRA==", "ABCD"},
		{" QUJD\tRA== ", "ABCD"},
		{"QU JD RA", "ABCD"},
		{"", ""},
	} {
		got, err := decodeBase64([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("decodeBase64(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"QUJD*A==", "QUJDRA===x", "Q"} {
		if got, err := decodeBase64([]byte(bad)); err == nil {
			t.Errorf("decodeBase64(%q) = %q, want an error", bad, got)
		}
	}
}

// A body shorter than its Content-Length, or longer than the limit, is an
// error, not a truncated /init.
func TestReadBody(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/init", strings.NewReader("abc"))
	r.ContentLength = 10
	if b, err := readBody(httptest.NewRecorder(), r, 100); err == nil {
		t.Errorf("short body read as %q", b)
	}
	r = httptest.NewRequest(http.MethodPost, "/init", strings.NewReader("abcdef"))
	if b, err := readBody(httptest.NewRecorder(), r, 4); err == nil {
		t.Errorf("body over the limit read as %q", b)
	}
	r = httptest.NewRequest(http.MethodPost, "/init", strings.NewReader("abcdef"))
	r.ContentLength = -1
	if b, err := readBody(httptest.NewRecorder(), r, 100); err != nil || string(b) != "abcdef" {
		t.Errorf("body of unknown length: %q, %v", b, err)
	}
}

// BenchmarkDecodeInit is the proxy's share of a cold start's /init for a
// 2.6 MB executable: read and cut the body, decode the base64.
func BenchmarkDecodeInit(b *testing.B) {
	exe := make([]byte, 2600<<10)
	for i := range exe {
		exe[i] = byte(i * 7919 >> 3)
	}
	body := []byte(`{"value":{"name":"noop","main":"main","binary":true,"code":"` + base64.StdEncoding.EncodeToString(exe) + `"}}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var req initRequest
		if err := decodeInit(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/init", bytes.NewReader(body)), &req); err != nil {
			b.Fatal(err)
		}
		if _, err := decodeBase64(req.Value.Code); err != nil {
			b.Fatal(err)
		}
	}
}
