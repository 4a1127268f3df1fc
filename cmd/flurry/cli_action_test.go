package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/client/clienttest"
	"github.com/flurryfn/flurry/internal/testutil"
)

// runCLI runs a client command with buffers for stdout and stderr.
func runCLI(t *testing.T, cmd func(context.Context, cliIO, []string) error, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e testutil.Buffer
	err = cmd(context.Background(), cliIO{stdout: &o, stderr: &e}, args)
	return o.String(), e.String(), err
}

// cliFake starts the fake API and points the client configuration at it.
func cliFake(t *testing.T) *clienttest.Server {
	t.Helper()
	s := clienttest.NewServer(t)
	cliTestEnv(t)
	t.Setenv("FLURRY_API_HOST", s.URL)
	t.Setenv("FLURRY_AUTH", clienttest.Auth)
	return s
}

// fakeBuild stands in for gowrap.Build and records its arguments.
func fakeBuild(t *testing.T) *[]string {
	t.Helper()
	var calls []string
	old := cliBuildGo
	cliBuildGo = func(_ context.Context, src, main string) ([]byte, error) {
		calls = append(calls, src+"|"+main)
		if strings.Contains(src, "broken") {
			return nil, errors.New("compile error")
		}
		return []byte("\x7fELFbuilt"), nil
	}
	t.Cleanup(func() { cliBuildGo = old })
	return &calls
}

func TestCLIActionCreate(t *testing.T) {
	s := cliFake(t)
	builds := fakeBuild(t)
	dir := t.TempDir()
	files := map[string]string{
		"main.go":     "package main",
		"broken.go":   "package main",
		"app.zip":     "PK\x03\x04zip",
		"exe":         "\x7fELF\x02\x01",
		"hello.py":    "def main(a): return a",
		"hello.js":    "function main(p) { return p }",
		"params.json": `{"b": 2, "a": "file"}`,
		"notes.txt":   "hello",
	}
	for n, c := range files {
		writeFile(t, filepath.Join(dir, n), c)
	}
	os.Mkdir(filepath.Join(dir, "srcdir"), 0o755)
	f := func(n string) string { return filepath.Join(dir, n) }
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	tests := []struct {
		name     string
		args     []string
		wantExec client.ExecSpec
		wantOut  string
		wantErr  string
		exit     int
	}{
		{name: "go file", args: []string{"create", "a1", f("main.go"), "--main", "Hello"},
			wantExec: client.ExecSpec{Kind: "go", Code: b64("\x7fELFbuilt"), Binary: true, Main: "Hello"}, wantOut: "ok: created action a1\n"},
		{name: "go directory", args: []string{"create", "a2", f("srcdir")},
			wantExec: client.ExecSpec{Kind: "go", Code: b64("\x7fELFbuilt"), Binary: true}, wantOut: "ok: created action a2\n"},
		{name: "zip", args: []string{"create", "a3", f("app.zip")},
			wantExec: client.ExecSpec{Kind: "go", Code: b64(files["app.zip"]), Binary: true}},
		{name: "executable", args: []string{"create", "a4", f("exe")},
			wantExec: client.ExecSpec{Kind: "go", Code: b64(files["exe"]), Binary: true}},
		{name: "text with kind", args: []string{"create", "--kind", "python:3", "a5", f("hello.py")},
			wantExec: client.ExecSpec{Kind: "python:3", Code: files["hello.py"]}},
		{name: "python by extension", args: []string{"create", "a8", f("hello.py")},
			wantExec: client.ExecSpec{Kind: "python:3", Code: files["hello.py"]}},
		{name: "nodejs by extension", args: []string{"create", "a9", f("hello.js")},
			wantExec: client.ExecSpec{Kind: "nodejs", Code: files["hello.js"]}},
		{name: "docker without file", args: []string{"create", "a6", "--docker", "me/img:1"},
			wantExec: client.ExecSpec{Kind: "blackbox", Image: "me/img:1"}},
		{name: "docker with file", args: []string{"create", "a7", f("exe"), "--docker", "me/img:1"},
			wantExec: client.ExecSpec{Kind: "blackbox", Image: "me/img:1", Code: b64(files["exe"]), Binary: true}},
		{name: "text without kind", args: []string{"create", "b1", f("notes.txt")}, wantErr: "not Go source", exit: 1},
		{name: "build failure", args: []string{"create", "b2", f("broken.go")}, wantErr: "compile error", exit: 1},
		{name: "missing file", args: []string{"create", "b3", f("nope.go")}, wantErr: "no such file", exit: 1},
		{name: "no file", args: []string{"create", "b4"}, wantErr: "FILE is required", exit: 2},
		{name: "exists", args: []string{"create", "a1", f("exe")}, wantErr: "409 Conflict: resource already exists", exit: 1},
		{name: "bad limit", args: []string{"create", "b5", f("exe"), "-t", "soon"}, wantErr: "--timeout", exit: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(t, cliAction, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitCode(err) != tt.exit {
					t.Fatalf("err = %v (exit %d), want %q (exit %d)", err, exitCode(err), tt.wantErr, tt.exit)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantOut != "" && out != tt.wantOut {
				t.Errorf("stdout %q, want %q", out, tt.wantOut)
			}
			var spec client.ActionSpec
			if err := json.Unmarshal(s.LastBody(), &spec); err != nil {
				t.Fatal(err)
			}
			if spec.Exec == nil || *spec.Exec != tt.wantExec {
				t.Errorf("exec %+v, want %+v", spec.Exec, tt.wantExec)
			}
		})
	}
	if want := []string{f("main.go") + "|Hello", f("srcdir") + "|", f("broken.go") + "|"}; strings.Join(*builds, ",") != strings.Join(want, ",") {
		t.Errorf("builds %q, want %q", *builds, want)
	}

	// Parameters, annotations and limits; update without FILE keeps the code.
	_, _, err := runCLI(t, cliAction, "update", "a4", "-P", f("params.json"), "-p", "a", "flag", "-p", "n", "3",
		"-a", "web-export", "true", "-t", "5000", "-m", "128", "-c", "2")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"parameters":[{"key":"a","value":"flag"},{"key":"b","value":2},{"key":"n","value":3}],` +
		`"limits":{"timeout":5000,"memory":128,"concurrency":2},"annotations":[{"key":"web-export","value":true}]}`
	if got := string(s.LastBody()); got != want {
		t.Errorf("update body\n%s\nwant\n%s", got, want)
	}
	if s.Code("a4") != b64(files["exe"]) {
		t.Errorf("update without FILE changed the code")
	}
	out, _, err := runCLI(t, cliAction, "update", "a4", "-o", "json")
	if err != nil || !strings.Contains(out, `"version": "0.0.3"`) {
		t.Errorf("update -o json: %q, %v", out, err)
	}
}

func TestCLIActionGetListDelete(t *testing.T) {
	cliFake(t)
	fakeBuild(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "exe"), "\x7fELF")
	for _, n := range []string{"hello", "world"} {
		if _, _, err := runCLI(t, cliAction, "create", n, filepath.Join(dir, "exe")); err != nil {
			t.Fatal(err)
		}
	}

	out, _, err := runCLI(t, cliAction, "get", "hello")
	if err != nil || !strings.HasPrefix(out, "ok: got action hello\n{\n") || strings.Contains(out, `"code"`) {
		t.Errorf("get: %q, %v", out, err)
	}
	out, _, err = runCLI(t, cliAction, "get", "hello", "--code", "-o", "json")
	if err != nil || !strings.HasPrefix(out, "{") || !strings.Contains(out, `"code": "f0VMRg=="`) {
		t.Errorf("get --code -o json: %q, %v", out, err)
	}

	out, _, err = runCLI(t, cliAction, "list")
	if want := "actions\n/guest/hello  private go\n/guest/world  private go\n"; err != nil || out != want {
		t.Errorf("list: %q, %v; want %q", out, err, want)
	}
	out, _, err = runCLI(t, cliAction, "list", "--skip", "1", "--limit", "5", "-o", "json")
	var list []client.Action
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Name != "world" {
		t.Errorf("list json: %q, %v", out, err)
	}

	out, _, err = runCLI(t, cliAction, "delete", "hello")
	if err != nil || out != "ok: deleted action hello\n" {
		t.Errorf("delete: %q, %v", out, err)
	}
	_, _, err = runCLI(t, cliAction, "get", "hello")
	if client.StatusCode(err) != 404 || exitCode(err) != 1 {
		t.Errorf("get deleted: %v", err)
	}
}

func TestCLIActionUsage(t *testing.T) {
	cliTestEnv(t)
	tests := []struct {
		args    []string
		exit    int
		wantOut string
	}{
		{args: []string{"-h"}, wantOut: "create NAME [FILE]"},
		{args: []string{"invoke", "-h"}, wantOut: "-p, --param KEY VALUE"},
		{args: []string{"create", "--help"}, wantOut: "--docker IMAGE"},
		{args: nil, exit: 2},
		{args: []string{"frobnicate"}, exit: 2},
		{args: []string{"get"}, exit: 2},
		{args: []string{"list", "extra"}, exit: 2},
		{args: []string{"list", "-o", "yaml"}, exit: 2},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := runCLI(t, cliAction, tt.args...)
			if exitCode(err) != tt.exit && !(err == nil && tt.exit == 0) {
				t.Fatalf("err = %v, want exit %d", err, tt.exit)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout %q lacks %q", out, tt.wantOut)
			}
		})
	}
}

func TestCLIActionInvoke(t *testing.T) {
	s := cliFake(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "exe"), "\x7fELF")
	for _, n := range []string{"echo", "fail", "slow"} {
		if _, _, err := runCLI(t, cliAction, "create", n, filepath.Join(dir, "exe")); err != nil {
			t.Fatal(err)
		}
	}
	s.SetRunner("fail", func(json.RawMessage) (json.RawMessage, int, []string) {
		return activation.ErrorResult("boom"), activation.StatusApplicationError, nil
	})
	s.SetPending("slow", true)

	tests := []struct {
		name     string
		args     []string
		exit     int
		want     []string // substrings of stdout
		wantBody string   // params sent
	}{
		{name: "nonblocking", args: []string{"invoke", "echo", "-p", "name", "Ann"},
			want: []string{"ok: invoked /_/echo with id "}, wantBody: `{"name":"Ann"}`},
		{name: "result", args: []string{"invoke", "echo", "-r", "-p", "n", "1", "-p", "s", "x y"},
			want: []string{"{\n  \"n\": 1,\n  \"s\": \"x y\"\n}\n"}, wantBody: `{"n":1,"s":"x y"}`},
		{name: "blocking", args: []string{"invoke", "-b", "echo"},
			want: []string{"ok: invoked /_/echo with id ", `"status": "success"`}, wantBody: `{}`},
		{name: "failed result", args: []string{"invoke", "fail", "--result"}, exit: 1,
			want: []string{`"error": "boom"`}},
		{name: "failed record", args: []string{"invoke", "fail", "-b"}, exit: 1,
			want: []string{`"status": "application error"`}},
		{name: "not finished -b", args: []string{"invoke", "slow", "-b", "--timeout", "1s"},
			want: []string{"ok: invoked /_/slow, but the request has not yet finished, with id "}},
		{name: "not finished -r", args: []string{"invoke", "slow", "-r"}, exit: 1},
		{name: "json nonblocking", args: []string{"invoke", "echo", "-o", "json"}, want: []string{`"activationId": "`}},
		{name: "missing", args: []string{"invoke", "nope"}, exit: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(t, cliAction, tt.args...)
			if (err == nil) != (tt.exit == 0) || (err != nil && exitCode(err) != tt.exit) {
				t.Fatalf("err = %v, want exit %d", err, tt.exit)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout %q lacks %q", out, w)
				}
			}
			if tt.wantBody != "" && string(s.LastBody()) != tt.wantBody {
				t.Errorf("params %s, want %s", s.LastBody(), tt.wantBody)
			}
		})
	}
	reqs := s.Requests()
	var sawTimeout bool
	for _, r := range reqs {
		sawTimeout = sawTimeout || strings.Contains(r, "/actions/slow?blocking=true&timeout=1000")
	}
	if !sawTimeout {
		t.Errorf("--timeout 1s not sent as timeout=1000: %q", reqs)
	}
}

// TestCLIActionCreateRealBuild goes through the real gowrap.Build: a Go
// source file arrives at the API as a base64 Linux executable.
func TestCLIActionCreateRealBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a Go program")
	}
	s := cliFake(t)
	src := filepath.Join(t.TempDir(), "hello.go")
	writeFile(t, src, "package main\n\nfunc Hello(p map[string]any) map[string]any { return map[string]any{\"greeting\": \"hi\"} }\n")
	if _, _, err := runCLI(t, cliAction, "create", "hello", src, "--main", "Hello"); err != nil {
		t.Fatal(err)
	}
	bin, err := base64.StdEncoding.DecodeString(s.Code("hello"))
	if err != nil || !bytes.HasPrefix(bin, []byte("\x7fELF")) {
		t.Fatalf("code is not a base64 ELF executable (%d bytes, %v)", len(bin), err)
	}
}
