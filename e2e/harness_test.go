package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/actions/gowrap"
	"github.com/flurryfn/flurry/internal/testutil"
)

// guestAuth is the fixed guest key the e2e system runs with.
const guestAuth = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

var (
	flurryBin string // the static flurry binary under test
	repoRoot  string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	dir, err := os.MkdirTemp("", "flurry-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	flurryBin = filepath.Join(dir, "flurry")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildFlurry builds the static binary once per test run.
func buildFlurry(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-trimpath", "-o", flurryBin, "./cmd/flurry")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build flurry: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return flurryBin
}

// dockerReachable reports whether a Docker engine answers; on our machines
// and in CI it does, and then the e2e tests must use it. It asks once: an
// engine that is present but does not answer in time (a hung daemon) ends
// the run loudly rather than letting the tests fall back to processes.
func dockerReachable() bool {
	dockerOnce.Do(func() {
		if _, err := exec.LookPath("docker"); err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), dockerInfoTimeout)
		defer cancel()
		err := exec.CommandContext(ctx, "docker", "info").Run()
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "e2e: `docker info` did not answer within %v: the Docker engine is hung\n", dockerInfoTimeout)
			os.Exit(1)
		}
		dockerUp = err == nil
	})
	return dockerUp
}

// dockerInfoTimeout bounds dockerReachable's question.
const dockerInfoTimeout = time.Minute

var (
	dockerOnce sync.Once
	dockerUp   bool
)

// system is one running `flurry standalone`.
type system struct {
	t       *testing.T
	dataDir string
	api     string // http://host:port
	grpc    string // host:port
	nats    string // host:port
	cmd     *exec.Cmd
	output  *testutil.Buffer
	exited  chan struct{}
}

// freeAddrs returns n distinct free loopback addresses; the listeners are
// held until all are chosen so the kernel cannot hand out one port twice.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// startSystem starts standalone with a fresh data dir (or dataDir when
// not empty, to test restarts) and waits until its API answers.
func startSystem(t *testing.T, dataDir string, extra ...string) *system {
	t.Helper()
	bin := buildFlurry(t)
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	s := &system{t: t, dataDir: dataDir, output: &testutil.Buffer{}, exited: make(chan struct{})}
	a := freeAddrs(t, 3)
	apiAddr, grpcAddr, natsAddr := a[0], a[1], a[2]
	s.api, s.grpc, s.nats = "http://"+apiAddr, grpcAddr, natsAddr
	args := []string{"standalone", "--data-dir", dataDir, "--api-listen", apiAddr, "--grpc-listen", grpcAddr,
		"--nats-listen", natsAddr, "--guest-key", guestAuth}
	if !dockerReachable() {
		args = append(args, "--runtime", "process")
	} else {
		args = append(args, "--runtime", "docker")
	}
	args = append(args, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.stop)
	deadline := time.Now().Add(3 * time.Minute) // a first start may build the runtime image
	for {
		resp, err := http.Get(s.api + "/api/v1")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("flurry standalone exited early:\n%s", s.output.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("flurry standalone not up after 3m:\n%s", s.output.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startComponent runs `flurry ARGS...` until the test ends, then stops it
// with SIGINT; its output is returned.
func startComponent(t *testing.T, args ...string) *testutil.Buffer {
	t.Helper()
	out := &testutil.Buffer{}
	cmd := exec.Command(buildFlurry(t), args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("flurry %s did not stop on SIGINT:\n%s", args[0], out.String())
		}
	})
	return out
}

// stop sends SIGINT and waits for a clean exit. NATS refusing one of
// standalone's own components anything fails the test.
func (s *system) stop() {
	if out := s.output.String(); strings.Contains(out, roleViolation) {
		s.t.Errorf("NATS refused a component of standalone something:\n%s", out)
	}
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("standalone did not stop within 30s after SIGINT:\n%s", s.output.String())
	}
}

// response is an HTTP answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object (%v): %s", err, r.body)
	}
	return m
}

// do sends a request with Basic auth (auth "" sends none).
func (s *system) do(t *testing.T, method, path, auth string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, s.api+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		u, k, _ := strings.Cut(auth, ":")
		req.SetBasicAuth(u, k)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (s *system) doJSON(t *testing.T, method, path string, v any) response {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return s.do(t, method, path, guestAuth, bytes.NewReader(b))
}

// example compiles an example action from actions/examples once per run.
var (
	examplesMu sync.Mutex
	examples   = map[string][]byte{}
)

func example(t *testing.T, name string) []byte {
	t.Helper()
	examplesMu.Lock()
	defer examplesMu.Unlock()
	if b, ok := examples[name]; ok {
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := gowrap.Build(ctx, filepath.Join(repoRoot, "actions", "examples", name), "Main")
	if err != nil {
		t.Fatalf("build example %s: %v", name, err)
	}
	examples[name] = b
	return b
}

// createAction deploys example as action name with the given limits.
func (s *system) createAction(t *testing.T, name, exampleName string, limits map[string]any) {
	t.Helper()
	body := map[string]any{
		"exec": map[string]any{"kind": "go", "binary": true, "code": base64.StdEncoding.EncodeToString(example(t, exampleName))},
	}
	if limits != nil {
		body["limits"] = limits
	}
	r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", body)
	if r.status != http.StatusOK {
		t.Fatalf("create %s: %d %s", name, r.status, r.body)
	}
}

// invoke posts params to action name, blocking with result.
func (s *system) invoke(t *testing.T, name string, params any, query string) response {
	t.Helper()
	if query == "" {
		query = "blocking=true"
	}
	return s.doJSON(t, http.MethodPost, "/api/v1/namespaces/_/actions/"+name+"?"+query, params)
}

// flurryCLI runs the CLI against s and returns its stdout, failing on a
// non-zero exit unless allowFail.
func (s *system) cli(t *testing.T, allowFail bool, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(buildFlurry(t), args...)
	cmd.Dir = repoRoot
	// An empty config file, so that a developer's ~/.flurry/config cannot leak in.
	conf := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "FLURRY_API_HOST="+s.api, "FLURRY_AUTH="+guestAuth, "FLURRY_CONFIG="+conf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil && !allowFail {
		t.Fatalf("flurry %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// lines splits output into non-empty lines.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
