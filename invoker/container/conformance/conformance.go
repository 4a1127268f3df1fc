package conformance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/invoker/container"
)

// Timeouts generous enough for a loaded 2-core machine.
const (
	startTimeout = 60 * time.Second
	readyTimeout = 30 * time.Second
	callTimeout  = 30 * time.Second
)

// labelTest marks the containers of one Run so List checks see only them.
const labelTest = "io.flurry.test"

// Run runs the suite against the runtime newRuntime returns, starting
// containers from image (ignored by runtimes without images).
func Run(t *testing.T, newRuntime func(t *testing.T) container.Runtime, image string) {
	dir := t.TempDir()
	echo, err := BuildEcho(dir)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(echo)
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{rt: newRuntime(t), image: image, code: base64.StdEncoding.EncodeToString(exe), run: randomID()}

	t.Run("InitRunLogs", s.testInitRunLogs)
	t.Run("DirectRun", s.testDirectRun)
	t.Run("SecondInitForbidden", s.testSecondInit)
	t.Run("Crash", s.testCrash)
	t.Run("RemoveUnknown", s.testRemoveUnknown)
	t.Run("List", s.testList)
	t.Run("ConcurrentStarts", s.testConcurrentStarts)
	t.Run("Freeze", s.testFreeze)
	t.Run("NetworkNone", s.testNetworkNone)
}

type suite struct {
	rt    container.Runtime
	image string
	code  string // base64 of the echo executable
	run   string // unique per Run, in labelTest
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// started is a running container with its client and log collector.
type started struct {
	*container.Container
	client *container.Client
	logs   *container.LogCollector
}

// Start starts a container, waits until its proxy answers and arranges its
// removal at the end of the test. It logs how long both steps took.
func (s *suite) start(t *testing.T, labels map[string]string) *started {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	all := map[string]string{labelTest: s.run}
	for k, v := range labels {
		all[k] = v
	}
	t0 := time.Now()
	c, err := s.rt.Start(ctx, container.Spec{
		Name:        "flurry-conf-" + randomID(),
		Image:       s.image,
		Kind:        entity.KindGo,
		MemoryBytes: 128 << 20,
		Labels:      all,
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	tStart := time.Since(t0)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		if err := s.rt.Remove(ctx, c.ID); err != nil && !errors.Is(err, container.ErrNotFound) {
			t.Errorf("cleanup remove %s: %v", c.ID, err)
		}
	})
	cl, logs := container.Connect(c)
	st := &started{Container: c, client: cl, logs: logs}
	t.Cleanup(st.client.Close)
	rctx, rcancel := context.WithTimeout(context.Background(), readyTimeout)
	defer rcancel()
	if err := st.client.WaitReady(rctx); err != nil {
		t.Fatalf("wait ready: %v", err)
	}
	t.Logf("%s: start %v, ready after %v more", s.rt.Name(), tStart.Round(time.Microsecond), (time.Since(t0) - tStart).Round(time.Microsecond))
	return st
}

func (s *suite) init(t *testing.T, c *started) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	err := c.client.Init(ctx, container.InitRequest{Name: "echo", Main: "main", Code: s.code, Binary: true,
		Env: map[string]string{"CONFORMANCE": "1"}})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
}

func run(t *testing.T, c *started, id string, value string) (container.RunResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return c.client.Run(ctx, container.RunRequest{
		Value: json.RawMessage(value), Namespace: "conformance", ActionName: "echo",
		ActionVersion: "0.0.1", ActivationID: id, Deadline: time.Now().Add(callTimeout).UnixMilli(),
	})
}

// checkEcho fails unless resp is a 200 whose body is {"echo": value}.
func checkEcho(t *testing.T, resp container.RunResponse, err error, value string) {
	t.Helper()
	if err := echoed(resp, err, value); err != nil {
		t.Fatal(err)
	}
}

func echoed(resp container.RunResponse, err error, value string) error {
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("run: status %d: %s", resp.StatusCode, resp.Body)
	}
	var got, want any
	if err := json.Unmarshal(resp.Body, &got); err != nil {
		return fmt.Errorf("run: body %s: %w", resp.Body, err)
	}
	_ = json.Unmarshal([]byte(`{"echo":`+value+`}`), &want)
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("run: got %s, want {\"echo\":%s}", resp.Body, value)
	}
	return nil
}

func (s *suite) collect(t *testing.T, c *started) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return c.logs.Collect(ctx, 1<<20)
}

// hasLine reports whether a log line ends with "<stream>: <text>".
func hasLine(lines []string, stream, text string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, " "+stream+": "+text) })
}

func (s *suite) testInitRunLogs(t *testing.T) {
	c := s.start(t, nil)
	s.init(t, c)
	for _, id := range []string{"act1", "act2"} {
		value := `{"hello":"world","id":"` + id + `"}`
		resp, err := run(t, c, id, value)
		checkEcho(t, resp, err, value)
		logs := s.collect(t, c)
		for _, stream := range []string{"stdout", "stderr"} {
			if !hasLine(logs, stream, stream+" of "+id) {
				t.Errorf("%s: logs lack the %s line: %q", id, stream, logs)
			}
		}
		if len(logs) != 2 {
			t.Errorf("%s: want exactly 2 log lines, got %q", id, logs)
		}
	}
}

// testDirectRun runs a Go action built by gowrap, which serves /run
// itself on a unix socket next to the proxy's (ADR 014) and through the
// proxy on other transports: the result and the logs are the same.
func (s *suite) testDirectRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code, err := buildHello(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := s.start(t, nil)
	ictx, icancel := context.WithTimeout(context.Background(), callTimeout)
	defer icancel()
	if err := c.client.Init(ictx, container.InitRequest{Name: "hello", Main: "main", Code: code, Binary: true}); err != nil {
		t.Fatalf("init: %v", err)
	}
	if sock, ok := strings.CutPrefix(c.Addr, "unix:"); ok && c.InlineLogs {
		if _, err := os.Stat(filepath.Join(filepath.Dir(sock), "run.sock")); err != nil {
			t.Errorf("no run socket next to %s after init: %v", sock, err)
		}
	}
	for _, name := range []string{"Ada", "Bob"} {
		resp, err := run(t, c, "act-"+name, `{"name":"`+name+`"}`)
		if err != nil || resp.StatusCode != 200 || string(resp.Body) != `{"greeting":"Hello, `+name+`!"}` {
			t.Fatalf("run: %+v, %v", resp, err)
		}
		if logs := s.collect(t, c); len(logs) != 1 || !hasLine(logs, "stdout", "greeting "+name) {
			t.Errorf("logs %q, want the one greeting line", logs)
		}
	}
}

func (s *suite) testSecondInit(t *testing.T) {
	c := s.start(t, nil)
	s.init(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	err := c.client.Init(ctx, container.InitRequest{Name: "echo", Main: "main", Code: s.code, Binary: true})
	var ae *container.ActionError
	if !errors.As(err, &ae) || ae.StatusCode != 403 {
		t.Fatalf("second init: got %v, want ActionError 403", err)
	}
	// The first init still serves.
	resp, err := run(t, c, "after", `{"n":1}`)
	checkEcho(t, resp, err, `{"n":1}`)
}

func (s *suite) testCrash(t *testing.T) {
	c := s.start(t, nil)
	s.init(t, c)
	resp, err := run(t, c, "crash", `{"crash":true}`)
	if err == nil && resp.StatusCode == 200 {
		t.Fatalf("crash: got 200 %s, want a failure", resp.Body)
	}
	t.Logf("crash answered: status %d body %s err %v", resp.StatusCode, resp.Body, err)
	// The crashing activation's own log lines still arrive.
	if logs := s.collect(t, c); !hasLine(logs, "stdout", "stdout of crash") {
		t.Errorf("crash logs lack the stdout line: %q", logs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.rt.Remove(ctx, c.ID); err != nil {
		t.Fatalf("remove after crash: %v", err)
	}
}

func (s *suite) testRemoveUnknown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	for _, id := range []string{"flurry-conf-unknown-" + randomID(), "../etc"} {
		if err := s.rt.Remove(ctx, id); !errors.Is(err, container.ErrNotFound) {
			t.Errorf("remove %q: got %v, want ErrNotFound", id, err)
		}
	}
}

func (s *suite) testList(t *testing.T) {
	mark := map[string]string{"io.flurry.test-list": randomID()}
	c := s.start(t, mark)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	want := map[string]string{container.LabelManaged: "true", container.LabelKind: entity.KindGo, labelTest: s.run}
	for k, v := range mark {
		want[k] = v
	}
	list, err := s.rt.List(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("list: got %+v, want only %s", list, c.ID)
	}
	for k, v := range want {
		if list[0].Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, list[0].Labels[k], v)
		}
	}
	if list[0].Name == "" {
		t.Error("list: empty name")
	}
	if err := s.rt.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if list, err = s.rt.List(ctx, mark); err != nil || len(list) != 0 {
		t.Fatalf("list after remove: %+v %v", list, err)
	}
	if err := s.rt.Remove(ctx, c.ID); !errors.Is(err, container.ErrNotFound) {
		t.Fatalf("second remove: got %v, want ErrNotFound", err)
	}
}

func (s *suite) testConcurrentStarts(t *testing.T) {
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.startInitRun(t, i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// startInitRun is the whole cold path without t.Fatal, for goroutines.
func (s *suite) startInitRun(t *testing.T, i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := s.rt.Start(ctx, container.Spec{
		Name: fmt.Sprintf("flurry-conf-%s-%d", randomID(), i), Image: s.image, Kind: entity.KindGo,
		MemoryBytes: 128 << 20, Labels: map[string]string{labelTest: s.run},
	})
	if err != nil {
		return fmt.Errorf("start %d: %w", i, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		_ = s.rt.Remove(ctx, c.ID)
	})
	cl, logs := container.Connect(c)
	defer cl.Close()
	if err := cl.WaitReady(ctx); err != nil {
		return fmt.Errorf("container %d: %w", i, err)
	}
	if err := cl.Init(ctx, container.InitRequest{Name: "echo", Main: "main", Code: s.code, Binary: true}); err != nil {
		return fmt.Errorf("container %d: init: %w", i, err)
	}
	value := fmt.Sprintf(`{"i":%d}`, i)
	resp, err := cl.Run(ctx, container.RunRequest{Value: json.RawMessage(value), ActivationID: fmt.Sprint("c", i)})
	if err := echoed(resp, err, value); err != nil {
		return fmt.Errorf("container %d: %w", i, err)
	}
	if l := logs.Collect(ctx, 1<<20); !hasLine(l, "stdout", fmt.Sprint("stdout of c", i)) {
		return fmt.Errorf("container %d: logs %q", i, l)
	}
	return nil
}
