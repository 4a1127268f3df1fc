package gowrap

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flurryfn/flurry/actions/runtimes"
)

// action is a built executable running under the actionloop protocol, the
// way the proxy drives it.
type action struct {
	cmd    *exec.Cmd
	stdin  *os.File
	result *bufio.Reader
	stdout strings.Builder
}

func start(t *testing.T, exe []byte, env ...string) *action {
	t.Helper()
	path := filepath.Join(t.TempDir(), "exec")
	if err := os.WriteFile(path, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	resR, resW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	a := &action{stdin: inW, result: bufio.NewReader(resR)}
	a.cmd = exec.Command(path)
	a.cmd.Env = env
	a.cmd.Stdin = inR
	a.cmd.Stdout = &a.stdout
	a.cmd.ExtraFiles = []*os.File{resW}
	err = a.cmd.Start()
	// A parallel test's fork may still hold the executable open for
	// writing (Go issue 22315), as the proxy's startChild knows too.
	for i := 0; i < 10 && errors.Is(err, syscall.ETXTBSY); i++ {
		time.Sleep(time.Duration(i+1) * 10 * time.Millisecond)
		a.cmd = exec.Command(path)
		a.cmd.Env, a.cmd.Stdin, a.cmd.Stdout, a.cmd.ExtraFiles = env, inR, &a.stdout, []*os.File{resW}
		err = a.cmd.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	inR.Close()
	resW.Close()
	t.Cleanup(func() {
		inW.Close()
		_ = a.cmd.Wait()
		resR.Close()
	})
	return a
}

// run sends one activation line and returns the decoded result line.
func (a *action) run(t *testing.T, line map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(line)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("write activation: %v", err)
	}
	res, err := a.result.ReadBytes('\n')
	if err != nil {
		t.Fatalf("read result: %v (got %q)", err, res)
	}
	var out map[string]any
	if err := json.Unmarshal(res, &out); err != nil {
		t.Fatalf("result %q is not a JSON object: %v", res, err)
	}
	return out
}

func build(t *testing.T, src, main string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	exe, err := Build(ctx, src, main)
	if err != nil {
		t.Fatalf("Build(%s): %v", src, err)
	}
	return exe
}

// writeSrc writes files into a fresh directory and returns it.
func writeSrc(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func value(v map[string]any) map[string]any {
	return map[string]any{"value": v, "activation_id": "act1", "namespace": "guest", "action_name": "x"}
}

func TestExamples(t *testing.T) {
	type check struct {
		value map[string]any
		want  map[string]any
	}
	// Each example builds; those answering a plain result are run too
	// (the faulty ones have tests of their own, here and in e2e).
	examples := map[string][]check{
		"hello": {
			{map[string]any{"name": "Ada"}, map[string]any{"greeting": "Hello, Ada!"}},
			{nil, map[string]any{"greeting": "Hello, stranger!"}},
		},
		"error":     {{nil, map[string]any{"error": "boom"}}},
		"sleep":     {{map[string]any{"ms": 5.0}, map[string]any{"slept_ms": 5.0}}},
		"memhog":    {{map[string]any{"mb": 4.0}, map[string]any{"allocated_mb": 4.0}}},
		"crash":     nil,
		"garbage":   nil,
		"bigresult": nil,
	}
	for name, checks := range examples {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exe := build(t, filepath.Join("..", "examples", name), "")
			if static, err := runtimes.IsStatic(exe); err != nil || !static {
				t.Errorf("IsStatic = %v, %v; want a static executable", static, err)
			}
			a := start(t, exe)
			for _, c := range checks {
				got := a.run(t, value(c.value))
				if len(got) != len(c.want) {
					t.Errorf("result %v, want %v", got, c.want)
				}
				for k, v := range c.want {
					if got[k] != v {
						t.Errorf("result[%s] = %v, want %v", k, got[k], v)
					}
				}
			}
		})
	}
}

func TestBigResultSize(t *testing.T) {
	t.Parallel()
	exe := build(t, filepath.Join("..", "examples", "bigresult"), "Main")
	a := start(t, exe)
	// Up to the platform's 1 MiB a result is sent whole; past it the
	// launcher sends the too-large error instead.
	for _, n := range []int{11, 1000, 1 << 20, 2 << 20} {
		b, _ := json.Marshal(value(map[string]any{"bytes": n}))
		if _, err := a.stdin.Write(append(b, '\n')); err != nil {
			t.Fatal(err)
		}
		line, err := a.result.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		switch got := len(line) - 1; {
		case n <= 1<<20 && got != n:
			t.Errorf("bytes=%d: result is %d bytes", n, got)
		case n > 1<<20 && !strings.Contains(string(line), "exceeded the allowed length"):
			t.Errorf("bytes=%d: result %.100s", n, line)
		}
	}
}

func TestCrashExits(t *testing.T) {
	t.Parallel()
	exe := build(t, filepath.Join("..", "examples", "crash"), "Main")
	a := start(t, exe)
	b, _ := json.Marshal(value(nil))
	if _, err := a.stdin.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
	if line, err := a.result.ReadBytes('\n'); err == nil {
		t.Fatalf("crash answered %q", line)
	}
	err := a.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("exit: %v, want status 3", err)
	}
	if !strings.Contains(a.stdout.String(), "about to crash") {
		t.Errorf("stdout = %q", a.stdout.String())
	}
}

const envAction = `package main

import (
	"os"
	"strings"
)

// json would collide with the launcher's imports if they were unaliased.
var json = "mine"

func Handle(args any) {}

func Main(args map[string]any) map[string]any {
	if args["panic"] == true {
		panic("on purpose")
	}
	if args["nil"] == true {
		return nil
	}
	if args["chan"] == true {
		return map[string]any{"c": make(chan int)}
	}
	out := map[string]any{"json": json}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "__OW_") {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	}
	return out
}
`

func TestLauncher(t *testing.T) {
	t.Parallel()
	dir := writeSrc(t, map[string]string{"main.go": envAction})
	a := start(t, build(t, filepath.Join(dir, "main.go"), ""))

	got := a.run(t, map[string]any{
		"value": map[string]any{}, "namespace": "guest", "action_name": "env",
		"action_version": "0.0.2", "activation_id": "abc", "deadline": "1700000000123", "api_key": "k:s",
	})
	want := map[string]any{
		"json": "mine", "__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "env", "__OW_ACTION_VERSION": "0.0.2",
		"__OW_ACTIVATION_ID": "abc", "__OW_DEADLINE": "1700000000123", "__OW_API_KEY": "k:s",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}

	// A numeric deadline and no api_key on the next activation.
	got = a.run(t, map[string]any{"value": map[string]any{}, "activation_id": "def", "deadline": 42})
	if got["__OW_DEADLINE"] != "42" || got["__OW_ACTIVATION_ID"] != "def" {
		t.Errorf("second activation env: %v", got)
	}
	if _, ok := got["__OW_API_KEY"]; ok {
		t.Errorf("api key kept from the previous activation: %v", got)
	}

	// A panic is an error result, and the loop goes on.
	got = a.run(t, value(map[string]any{"panic": true}))
	if e, _ := got["error"].(string); !strings.Contains(e, "on purpose") {
		t.Errorf("panic result = %v", got)
	}
	if got = a.run(t, value(map[string]any{"nil": true})); len(got) != 0 {
		t.Errorf("nil result = %v, want {}", got)
	}
	got = a.run(t, value(map[string]any{"chan": true}))
	if e, _ := got["error"].(string); !strings.Contains(e, "cannot encode") {
		t.Errorf("unencodable result = %v", got)
	}
	if got = a.run(t, value(nil)); got["json"] != "mine" {
		t.Errorf("after errors: %v", got)
	}
}

func TestCustomMainName(t *testing.T) {
	t.Parallel()
	dir := writeSrc(t, map[string]string{
		"a.go": "package main\n\nfunc Handle(in map[string]interface{}) (out map[string]interface{}) {\n\treturn map[string]interface{}{\"n\": len(in)}\n}\n",
		"b.go": "package main\n\nfunc helper() {}\n",
	})
	got := start(t, build(t, dir, "Handle")).run(t, value(map[string]any{"a": 1, "b": 2}))
	if got["n"] != 2.0 {
		t.Errorf("result %v", got)
	}
	// The source directory is left as it was.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("source dir has %d entries, want 2", len(entries))
	}
}

func TestOwnGoMod(t *testing.T) {
	t.Parallel()
	dir := writeSrc(t, map[string]string{
		"go.mod":      "module example.com/act\n\ngo 1.22\n",
		"main.go":     "package main\n\nimport \"example.com/act/greet\"\n\nfunc Main(args map[string]any) map[string]any {\n\treturn map[string]any{\"g\": greet.Word}\n}\n",
		"greet/g.go":  "package greet\n\nconst Word = \"hi\"\n",
		".git/config": "ignored",
	})
	got := start(t, build(t, dir, "Main")).run(t, value(nil))
	if got["g"] != "hi" {
		t.Errorf("result %v", got)
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		main  string
		err   error
		want  string
	}{
		{"no function", map[string]string{"a.go": "package main\n\nfunc Other(map[string]any) map[string]any { return nil }\n"}, "", ErrNoMain, "func Main("},
		{"method is not it", map[string]string{"a.go": "package main\n\ntype T struct{}\n\nfunc (T) Main(map[string]any) map[string]any { return nil }\n"}, "", ErrNoMain, ""},
		{"wrong param", map[string]string{"a.go": "package main\n\nfunc Main(a map[string]string) map[string]any { return nil }\n"}, "", ErrSignature, "a.go:3:1"},
		{"two params", map[string]string{"a.go": "package main\n\nfunc Main(a, b map[string]any) map[string]any { return nil }\n"}, "", ErrSignature, ""},
		{"no result", map[string]string{"a.go": "package main\n\nfunc Main(a map[string]any) {}\n"}, "", ErrSignature, ""},
		{"error result", map[string]string{"a.go": "package main\n\nfunc Main(a map[string]any) (map[string]any, error) { return nil, nil }\n"}, "", ErrSignature, ""},
		{"non-empty interface", map[string]string{"a.go": "package main\n\nfunc Main(a map[string]interface{ M() }) map[string]any { return nil }\n"}, "", ErrSignature, ""},
		{"not package main", map[string]string{"a.go": "package lib\n\nfunc Main(a map[string]any) map[string]any { return nil }\n"}, "", ErrNoSource, "package lib"},
		{"syntax error", map[string]string{"a.go": "package main\n\nfunc Main(\n"}, "", ErrNoSource, "a.go:"},
		{"no go files", map[string]string{"README": "x"}, "", ErrNoSource, "no .go files"},
		{"compile error", map[string]string{"a.go": "package main\n\nfunc Main(a map[string]any) map[string]any { return undefinedThing }\n"}, "", ErrCompile, "undefined: undefinedThing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeSrc(t, tt.files)
			_, err := Build(context.Background(), dir, tt.main)
			if !errors.Is(err, tt.err) || !strings.Contains(fmtErr(err), tt.want) {
				t.Errorf("Build error = %v; want %v containing %q", err, tt.err, tt.want)
			}
		})
	}
	if _, err := Build(context.Background(), filepath.Join(t.TempDir(), "missing"), ""); err == nil {
		t.Error("missing source accepted")
	}
	if _, err := Build(context.Background(), writeSrc(t, map[string]string{"a.go": "package main\n"}), "not-an-ident"); err == nil {
		t.Error("bad function name accepted")
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
