package docker_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/flurryfn/flurry/actions/runtimes"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/invoker/container"
	"github.com/flurryfn/flurry/invoker/container/conformance"
	"github.com/flurryfn/flurry/invoker/container/docker"
)

var (
	// image is the go runtime image built from this tree's flurry binary.
	image string
	// echo is the conformance echo action's executable.
	echo []byte
	// noEngine says why Docker tests skip; empty when the engine answers.
	noEngine string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		if err := setup(); err != nil {
			fmt.Fprintln(os.Stderr, "docker tests:", err)
			return 1
		}
		return m.Run()
	}())
}

// setup builds the flurry binary and, when an engine answers, the runtime
// image from it (if that exact image is not there yet).
func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rt, err := docker.New(ctx, docker.Config{})
	if err != nil {
		noEngine = err.Error()
		return nil
	}
	defer rt.Close()
	dir, err := os.MkdirTemp("", "flurry-docker-test")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := conformance.BuildFlurry(dir)
	if err != nil {
		return err
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	if image, err = runtimes.Image(entity.KindGo, exe); err != nil {
		return err
	}
	if ok, err := rt.ImageExists(ctx, image); err != nil || !ok {
		bc, err := runtimes.BuildContext(entity.KindGo, exe)
		if err != nil {
			return err
		}
		if err := rt.BuildImage(ctx, image, bc, nil); err != nil {
			return err
		}
	}
	echoBin, err := conformance.BuildEcho(dir)
	if err != nil {
		return err
	}
	echo, err = os.ReadFile(echoBin)
	return err
}

func newRuntime(t testing.TB, cfg docker.Config) *docker.Runtime {
	t.Helper()
	if noEngine != "" {
		t.Skip("no Docker engine:", noEngine)
	}
	if cfg.InvokerID == "" {
		cfg.InvokerID = "docker-test"
	}
	rt, err := docker.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	return rt
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) container.Runtime { return newRuntime(t, docker.Config{}) }, image)
}

// The same suite over unix sockets with inline logs (ADR 012).
func TestConformanceUnix(t *testing.T) {
	conformance.Run(t, func(t *testing.T) container.Runtime {
		return newRuntime(t, docker.Config{SocketDir: shortTempDir(t)})
	}, image)
}

// shortTempDir is a temp dir short enough for unix socket paths (t.TempDir
// nests the test's name).
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}

// bothStreams reports whether logs are exactly the echo action's two lines
// for activation id.
func bothStreams(logs []string, id string) bool {
	has := func(stream string) bool {
		return slices.ContainsFunc(logs, func(l string) bool { return strings.HasSuffix(l, " "+stream+": "+stream+" of "+id) })
	}
	return len(logs) == 2 && has("stdout") && has("stderr")
}

// A unix-addressed container publishes no port, answers on its socket with
// the activation's logs, and its directory goes with it. A request that
// does not ask for the logs (a direct /run) gets them printed instead, so
// they reach the attach stream as before.
func TestUnixSocket(t *testing.T) {
	dir := shortTempDir(t)
	rt := newRuntime(t, docker.Config{SocketDir: dir})
	c, cl, logs := start(t, rt, container.Spec{})
	sock := filepath.Join(dir, "c1", docker.SocketName)
	if c.Addr != "unix:"+sock || !c.InlineLogs {
		t.Fatalf("addr %q inline %v, want unix:%s inline", c.Addr, c.InlineLogs, sock)
	}
	out, err := exec.Command("docker", "inspect", "--format", "{{json .HostConfig.PortBindings}} {{index .Config.Labels \""+docker.LabelSocket+"\"}}", c.ID).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "null "+sock {
		t.Errorf("port bindings and socket label: %q, want none and %s", got, sock)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range []string{"one", "two"} {
		resp, err := cl.Run(ctx, container.RunRequest{Value: json.RawMessage(`{"n":1}`), ActivationID: id})
		if err != nil || resp.StatusCode != 200 || string(resp.Body) != `{"echo":{"n":1}}` {
			t.Fatalf("run %s: %d %s %v", id, resp.StatusCode, resp.Body, err)
		}
		// Fed before Run returned: no waiting.
		lctx, lcancel := context.WithTimeout(ctx, time.Millisecond)
		got := logs.Collect(lctx, 0)
		lcancel()
		if !bothStreams(got, id) {
			t.Errorf("inline logs of %s: %q", id, got)
		}
	}

	raw := container.NewClient(c.Addr)
	defer raw.Close()
	resp, err := raw.Run(ctx, container.RunRequest{Value: json.RawMessage(`{"n":2}`), ActivationID: "direct"})
	if err != nil || string(resp.Body) != `{"echo":{"n":2}}` {
		t.Fatalf("direct run: %s %v", resp.Body, err)
	}
	got := logs.Collect(ctx, 0)
	if !bothStreams(got, "direct") {
		t.Errorf("printed logs of a direct run: %q", got)
	}

	if err := rt.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(sock)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket directory after Remove: %v", err)
	}
}

// start starts one container, removed when the test ends, and waits until
// its proxy answers.
func start(t testing.TB, rt *docker.Runtime, spec container.Spec) (*container.Container, *container.Client, *container.LogCollector) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if spec.Name == "" {
		spec.Name = fmt.Sprintf("flurry-test-%d", time.Now().UnixNano())
	}
	spec.Image, spec.Kind = image, entity.KindGo
	c, err := rt.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rt.Remove(ctx, c.ID); err != nil && !errors.Is(err, container.ErrNotFound) {
			t.Errorf("remove: %v", err)
		}
	})
	cl, logs := container.Connect(c)
	t.Cleanup(cl.Close)
	if err := cl.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.Init(ctx, container.InitRequest{Name: "echo", Main: "main", Binary: true,
		Code: base64.StdEncoding.EncodeToString(echo)}); err != nil {
		t.Fatal(err)
	}
	return c, cl, logs
}

func TestPublishLoopback(t *testing.T) {
	rt := newRuntime(t, docker.Config{})
	c, cl, _ := start(t, rt, container.Spec{})
	if !strings.HasPrefix(c.Addr, "127.0.0.1:") {
		t.Fatalf("addr %s is not on loopback", c.Addr)
	}
	resp, err := cl.Run(context.Background(), container.RunRequest{Value: json.RawMessage(`{"a":1}`)})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("run: %+v %v", resp, err)
	}
}

// An action that allocates past its container's memory limit is killed by
// the kernel and the activation fails. (The engine's State.OOMKilled is not
// asserted: Docker 20.10 sets it only when the container's main process,
// the proxy, is the one killed.)
func TestMemoryLimitOOMKills(t *testing.T) {
	rt := newRuntime(t, docker.Config{})
	_, cl, _ := start(t, rt, container.Spec{MemoryBytes: 48 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Within the limit it works.
	resp, err := cl.Run(ctx, container.RunRequest{Value: json.RawMessage(`{"alloc_mb":8}`)})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("small allocation: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	resp, err = cl.Run(ctx, container.RunRequest{Value: json.RawMessage(`{"alloc_mb":200}`)})
	if err == nil && resp.StatusCode == 200 {
		t.Fatalf("200 MiB in a 48 MiB container succeeded: %s", resp.Body)
	}
	t.Logf("over the limit: status %d body %s err %v", resp.StatusCode, resp.Body, err)
}

// The container's lock-down as the engine sees it.
func TestLockdown(t *testing.T) {
	rt := newRuntime(t, docker.Config{PidsLimit: 64, CPULimitPerGiB: 2})
	c, cl, logs := start(t, rt, container.Spec{MemoryBytes: 64 << 20, Env: []string{"FLURRY_TEST=1"},
		Labels: map[string]string{"extra": "yes"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := cl.Run(ctx, container.RunRequest{Value: json.RawMessage(`{}`), ActivationID: "lock"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("run: %+v %v", resp, err)
	}
	if got := logs.Collect(ctx, 1<<20); !slices.ContainsFunc(got, func(l string) bool { return strings.HasSuffix(l, "stdout: stdout of lock") }) {
		t.Fatalf("logs: %q", got)
	}

	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	info, err := cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	h := info.HostConfig
	checks := []struct {
		name string
		ok   bool
	}{
		{"memory 64 MiB", h.Memory == 64<<20},
		{"no swap", h.MemorySwap == h.Memory},
		{"pids limit 64", h.PidsLimit != nil && *h.PidsLimit == 64},
		{"cpu shares 64 (1024 per GiB)", h.CPUShares == 64},
		{"cpu limit 1/8 core (2 per GiB)", h.NanoCPUs == 125_000_000},
		{"network flurry", string(h.NetworkMode) == docker.DefaultNetwork},
		{"all capabilities dropped", slices.Equal(h.CapDrop, []string{"ALL"})},
		{"no-new-privileges", slices.Contains(h.SecurityOpt, "no-new-privileges")},
		{"read-only root", h.ReadonlyRootfs},
		{"tmpfs /tmp", strings.Contains(h.Tmpfs["/tmp"], "size=64m")},
		{"env", slices.Contains(info.Config.Env, "FLURRY_TEST=1")},
		{"labels", info.Config.Labels[container.LabelManaged] == "true" &&
			info.Config.Labels[container.LabelInvoker] == "docker-test" &&
			info.Config.Labels[container.LabelKind] == entity.KindGo && info.Config.Labels["extra"] == "yes"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not so (host config %+v)", c.name, h.Resources)
		}
	}
}

func TestNewFailsWithoutEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := docker.New(ctx, docker.Config{})
	if err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("got %v, want an unreachable-engine error", err)
	}
}

func TestBuildImageFailure(t *testing.T) {
	rt := newRuntime(t, docker.Config{})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	df := []byte("FROM scratch\nCOPY missing /missing\n")
	_ = tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))})
	_, _ = tw.Write(df)
	_ = tw.Close()
	var progress bytes.Buffer
	err := rt.BuildImage(context.Background(), "flurry-test/broken:1", &buf, &progress)
	if err == nil {
		t.Fatal("broken build succeeded")
	}
	if !strings.Contains(progress.String(), "Step 1/2") {
		t.Errorf("no progress written: %q", progress.String())
	}
	if ok, err := rt.ImageExists(context.Background(), "flurry-test/broken:1"); ok || err != nil {
		t.Fatalf("ImageExists = %v, %v", ok, err)
	}
}

func TestEnsureImage(t *testing.T) {
	rt := newRuntime(t, docker.Config{})
	ctx := context.Background()
	if err := rt.EnsureImage(ctx, image); err != nil {
		t.Fatal(err)
	}
	if err := rt.EnsureImage(ctx, "flurry-test/absent:1"); !errors.Is(err, docker.ErrNoImage) {
		t.Fatalf("got %v, want ErrNoImage", err)
	}
}

// TestStartTimings measures the cold path: Start (create, attach, start,
// inspect) and then the wait until the proxy answers.
func TestStartTimings(t *testing.T) {
	rt := newRuntime(t, docker.Config{Logger: slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	const n = 8
	var starts, readies []time.Duration
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		t0 := time.Now()
		c, err := rt.Start(ctx, container.Spec{Name: fmt.Sprintf("flurry-timing-%d-%d", time.Now().UnixNano(), i), Image: image, Kind: entity.KindGo})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		t1 := time.Now()
		_ = container.NewLogCollector(c.Stdout, c.Stderr)
		cl := container.NewClient(c.Addr)
		err = cl.WaitReady(ctx)
		t2 := time.Now()
		cl.Close()
		if rerr := rt.Remove(ctx, c.ID); rerr != nil {
			t.Error(rerr)
		}
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		starts, readies = append(starts, t1.Sub(t0)), append(readies, t2.Sub(t1))
	}
	slices.Sort(starts)
	slices.Sort(readies)
	t.Logf("docker Start over %d runs: min %v p50 %v max %v", n, starts[0], starts[n/2], starts[n-1])
	t.Logf("then ready after: min %v p50 %v max %v", readies[0], readies[n/2], readies[n-1])
}

// tWriter sends a logger's lines to the test log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
