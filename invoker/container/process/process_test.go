package process_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flurryfn/flurry/invoker/container"
	"github.com/flurryfn/flurry/invoker/container/conformance"
	"github.com/flurryfn/flurry/invoker/container/process"
)

// flurry is the proxy binary, built once for this test binary.
var flurry string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "flurry-process-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if flurry, err = conformance.BuildFlurry(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

func newRuntime(t *testing.T, base string) *process.Runtime {
	t.Helper()
	rt, err := process.New(process.Config{Command: []string{flurry, "proxy"}, BaseDir: base, InvokerID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) container.Runtime { return newRuntime(t, t.TempDir()) }, "")
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  process.Config
		ok   bool
	}{
		{"complete", process.Config{Command: []string{"x"}, BaseDir: "/tmp/x"}, true},
		{"no command", process.Config{BaseDir: "/tmp/x"}, false},
		{"no base dir", process.Config{Command: []string{"x"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// A restarted invoker finds what the previous Runtime left and removes it,
// killing the orphaned proxy.
func TestRemoveLeftoverOfPreviousRun(t *testing.T) {
	base := t.TempDir()
	ctx := context.Background()
	old := newRuntime(t, base)
	c, err := old.Start(ctx, container.Spec{Name: "leftover", Labels: map[string]string{"x": "y"}})
	if err != nil {
		t.Fatal(err)
	}
	go drain(c)
	cl := container.NewClient(c.Addr)
	defer cl.Close()
	if err := cl.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	fresh := newRuntime(t, base)
	list, err := fresh.List(ctx, map[string]string{container.LabelInvoker: "test", "x": "y"})
	if err != nil || len(list) != 1 || list[0].ID != "leftover" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := fresh.Remove(ctx, "leftover"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "leftover")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir still there: %v", err)
	}
	// The orphan is dead: its output pipes close.
	if _, err := c.Stdout.Read(make([]byte, 1)); err == nil {
		t.Fatal("stdout still open")
	}
}

func drain(c *container.Container) {
	_ = container.NewLogCollector(c.Stdout, c.Stderr)
}
