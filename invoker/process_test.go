package invoker

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/actions/gowrap"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/testutil"
	"github.com/flurryfn/flurry/invoker/container"
	"github.com/flurryfn/flurry/invoker/container/process"
)

// flurryBin is ./cmd/flurry built once for the process runtime (it runs
// `flurry proxy`); flurryErr says why it could not be built.
var (
	flurryBin string
	flurryErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "invoker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	flurryBin = filepath.Join(dir, "flurry")
	cmd := exec.Command("go", "build", "-o", flurryBin, "../cmd/flurry")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		flurryErr = fmt.Errorf("build ./cmd/flurry: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goAction builds example name with gowrap and stores it as a go action.
func (e *env) goAction(t *testing.T, example string, lim entity.Limits) entity.Action {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := gowrap.Build(ctx, filepath.Join("..", "actions", "examples", example), "Main")
	if err != nil {
		t.Fatalf("build example %s: %v", example, err)
	}
	a := e.action(t, example, entity.KindGo, base64.StdEncoding.EncodeToString(bin), lim)
	a.Exec.Binary = true
	return a
}

func TestProcessRuntime(t *testing.T) {
	if flurryErr != nil {
		t.Fatal(flurryErr)
	}
	rt, err := process.New(process.Config{Command: []string{flurryBin, "proxy"}, BaseDir: t.TempDir(), InvokerID: "proc-invoker"})
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, rt, Config{ID: "proc-invoker", Images: map[string]string{"go": "flurry/runtime-go"}, MemoryMB: 1024})
	live := func() int {
		infos, err := rt.List(context.Background(), map[string]string{container.LabelInvoker: "proc-invoker"})
		if err != nil {
			t.Fatal(err)
		}
		return len(infos)
	}

	hello := e.goAction(t, "hello", entity.Limits{Memory: 256})
	rec := e.invoke(t, hello, `{"name":"flurry"}`)
	if rec.Response.StatusCode != activation.StatusSuccess || string(rec.Response.Result) != `{"greeting":"Hello, flurry!"}` {
		t.Fatalf("hello: %+v", rec.Response)
	}
	if !strings.Contains(strings.Join(rec.Logs, "\n"), "stdout: greeting flurry") {
		t.Errorf("hello logs %q", rec.Logs)
	}
	if got := annotation(t, rec, activation.AnnotationStart); got != "prewarm" {
		t.Errorf("first hello start %v, want prewarm (a go stem cell of 256 MB)", got)
	}
	if annotation(t, rec, activation.AnnotationInitTime) == nil || annotation(t, rec, activation.AnnotationWaitTime) == nil {
		t.Errorf("annotations %+v", rec.Annotations)
	}
	rec = e.invoke(t, hello, `{}`)
	if got := annotation(t, rec, activation.AnnotationStart); got != "warm" || rec.Response.StatusCode != 0 {
		t.Errorf("second hello: start %v, response %+v", got, rec.Response)
	}

	appErr := e.goAction(t, "error", entity.Limits{Memory: 128})
	rec = e.invoke(t, appErr, `{}`)
	if rec.Response.StatusCode != activation.StatusApplicationError || resultError(t, rec) != "boom" {
		t.Errorf("error: %+v", rec.Response)
	}
	if got := annotation(t, rec, activation.AnnotationStart); got != "cold" {
		t.Errorf("error start %v, want cold (128 MB has no stem cell)", got)
	}

	before := live()
	sleep := e.goAction(t, "sleep", entity.Limits{Memory: 128, Timeout: 300})
	rec = e.invoke(t, sleep, `{"ms":10000}`)
	if rec.Response.StatusCode != activation.StatusDeveloperError ||
		resultError(t, rec) != "The action exceeded its time limits of 300 milliseconds." {
		t.Errorf("timeout: %+v", rec.Response)
	}
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := live(); n != before {
			return fmt.Errorf("%d containers, want %d: the timed-out one stays", n, before)
		}
		return nil
	})
	rec = e.invoke(t, sleep, `{"ms":10}`)
	if rec.Response.StatusCode != activation.StatusSuccess || annotation(t, rec, activation.AnnotationStart) != "cold" {
		t.Errorf("after timeout: %+v %+v", rec.Response, rec.Annotations)
	}

	crash := e.goAction(t, "crash", entity.Limits{Memory: 128})
	for range 2 {
		rec = e.invoke(t, crash, `{}`)
		if rec.Response.StatusCode != activation.StatusDeveloperError {
			t.Errorf("crash: %+v", rec.Response)
		}
		if annotation(t, rec, activation.AnnotationStart) != "cold" {
			t.Errorf("crash reused a container: %+v", rec.Annotations)
		}
	}
	t.Logf("crash result %s logs %q", rec.Response.Result, rec.Logs)

	rec = e.invoke(t, hello, `{"name":"again"}`)
	if rec.Response.StatusCode != activation.StatusSuccess {
		t.Errorf("hello after failures: %+v", rec.Response)
	}
	e.settled(t)
}
