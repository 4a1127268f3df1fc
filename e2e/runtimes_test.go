package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRuntimes runs the python:3, nodejs and blackbox kinds end to end on
// the real Docker engine: hello with logs, parameters and __OW_ variables,
// main selection, async mains, zips with a dependency, and the errors a
// developer makes (syntax error, missing main, a zip too big to unpack),
// each of which must come back as a record, never a hang.
func TestRuntimes(t *testing.T) {
	if !dockerReachable() {
		t.Skip("the runtime kinds run in Docker images; no Docker engine is reachable")
	}
	buildRuntimeImages(t)
	bbImage := buildBlackboxImage(t)
	s := startSystem(t, "")

	t.Run("python", func(t *testing.T) { sourceKind(t, s, "python:3", pythonCases) })
	t.Run("nodejs", func(t *testing.T) { sourceKind(t, s, "nodejs", nodeCases) })
	t.Run("blackbox", func(t *testing.T) { blackboxKind(t, s, bbImage) })
}

// buildRuntimeImages builds the kinds' images with `flurry images`, the
// code path standalone uses at start, but without the harness's start
// deadline: from nothing it takes minutes (see docs/benchmarks.md).
func buildRuntimeImages(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, buildFlurry(t), "images").CombinedOutput()
	if err != nil {
		if _, lerr := exec.LookPath("mmdebstrap"); lerr != nil {
			t.Skipf("python:3 and nodejs images cannot be built here (install mmdebstrap; CI does): %v\n%s", err, out)
		}
		t.Fatalf("flurry images: %v\n%s", err, out)
	}
}

// buildBlackboxImage builds actions/testdata/blackbox, a protocol server
// written without any of Flurry's code, into an image FROM scratch.
func buildBlackboxImage(t *testing.T) string {
	t.Helper()
	src := filepath.Join(repoRoot, "actions", "testdata", "blackbox")
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "blackbox"), ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build blackbox: %v\n%s", err, out)
	}
	df, err := os.ReadFile(filepath.Join(src, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "blackbox"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(df, bin...))
	tag := "flurry-e2e/blackbox:" + hex.EncodeToString(sum[:])[:12]
	if out, err := exec.Command("docker", "build", "-q", "-t", tag, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build blackbox: %v\n%s", err, out)
	}
	return tag
}

// kindCase is one action of a source kind and what invoking it gives.
type kindCase struct {
	name       string
	kind       string // default: the kind under test
	code       string // text code
	zip        map[string]string
	main       string
	params     map[string]any
	wantHTTP   int
	wantStatus string
	want       []string // substrings of the result
	wantLogs   []string // substrings of the logs
}

var pythonCases = []kindCase{
	{name: "hello", code: "import os, sys\n" +
		"def main(args):\n" +
		"    print('greeting', args.get('name'))\n" +
		"    print('on stderr', file=sys.stderr)\n" +
		"    return {'greeting': 'Hello, ' + args.get('name', 'stranger') + '!', 'punct': args.get('punct'),\n" +
		"            'activation': os.environ['__OW_ACTIVATION_ID'], 'action': os.environ['__OW_ACTION_NAME'],\n" +
		"            'namespace': os.environ['__OW_NAMESPACE'], 'deadline': os.environ['__OW_DEADLINE']}\n",
		params: map[string]any{"name": "Ada"}, wantHTTP: 200, wantStatus: "success",
		want:     []string{"Hello, Ada!", "punct:!", "action:/guest/py-hello", "namespace:guest", "deadline:1"},
		wantLogs: []string{"stdout: greeting Ada", "stderr: on stderr"}},
	{name: "main selection", code: "def main(args):\n    return {'which': 'main'}\ndef other(args):\n    return {'which': 'other'}\n",
		main: "other", wantHTTP: 200, wantStatus: "success", want: []string{"which:other"}},
	{name: "async", code: "import asyncio\nasync def main(args):\n    await asyncio.sleep(0.01)\n    return {'async': True}\n",
		wantHTTP: 200, wantStatus: "success", want: []string{"async:true"}},
	{name: "alias kind", kind: "python:default", code: "def main(args):\n    return {'alias': True}\n",
		wantHTTP: 200, wantStatus: "success", want: []string{"alias:true"}},
	{name: "zip with a virtualenv", zip: map[string]string{
		"__main__.py": "import leftpad\ndef main(args):\n    return {'padded': leftpad.pad(args['s'], 6)}\n",
		"virtualenv/lib/python3.11/site-packages/leftpad/__init__.py": "def pad(s, n):\n    return s.rjust(n, '*')\n",
		"helper.txt": "a second file",
	}, params: map[string]any{"s": "abc"}, wantHTTP: 200, wantStatus: "success", want: []string{"padded:***abc"}},
	{name: "syntax error", code: "def main(args)\n    return {}\n", wantHTTP: 502,
		wantStatus: "action developer error", want: []string{"SyntaxError"}, wantLogs: []string{"SyntaxError"}},
	{name: "missing main", code: "def hello(args):\n    return {}\n", wantHTTP: 502,
		wantStatus: "action developer error", want: []string{`no function "main"`}},
	{name: "exception", code: "def main(args):\n    raise ValueError('bad input')\n", wantHTTP: 502,
		wantStatus: "application error", want: []string{"ValueError: bad input"}, wantLogs: []string{"Traceback"}},
	{name: "zip too big to unpack", zip: map[string]string{"__main__.py": "def main(a):\n    return {}\n", "zeros": strings.Repeat("\x00", 96<<20)},
		wantHTTP: 502, wantStatus: "action developer error", want: []string{"unpack zip"}},
}

var nodeCases = []kindCase{
	{name: "hello", code: "function main(params) {\n" +
		"  console.log('greeting', params.name);\n" +
		"  console.error('on stderr');\n" +
		"  const e = process.env;\n" +
		"  return {greeting: 'Hello, ' + (params.name || 'stranger') + '!', punct: params.punct,\n" +
		"          activation: e.__OW_ACTIVATION_ID, action: e.__OW_ACTION_NAME, namespace: e.__OW_NAMESPACE, deadline: e.__OW_DEADLINE};\n" +
		"}\n",
		params: map[string]any{"name": "Ada"}, wantHTTP: 200, wantStatus: "success",
		want:     []string{"Hello, Ada!", "punct:!", "action:/guest/node-hello", "namespace:guest", "deadline:1"},
		wantLogs: []string{"stdout: greeting Ada", "stderr: on stderr"}},
	{name: "main selection", code: "exports.other = () => ({which: 'other'});\nexports.main = () => ({which: 'main'});\n",
		main: "other", wantHTTP: 200, wantStatus: "success", want: []string{"which:other"}},
	{name: "async", code: "async function main() { await new Promise(r => setTimeout(r, 10)); return {async: true}; }\n",
		wantHTTP: 200, wantStatus: "success", want: []string{"async:true"}},
	{name: "promise", code: "function main(p) { return new Promise(r => setTimeout(() => r({promised: p.name}), 10)); }\n",
		params: map[string]any{"name": "Ada"}, wantHTTP: 200, wantStatus: "success", want: []string{"promised:Ada"}},
	{name: "alias kind", kind: "nodejs:default", code: "function main() { return {alias: true}; }\n",
		wantHTTP: 200, wantStatus: "success", want: []string{"alias:true"}},
	{name: "zip with node_modules", zip: map[string]string{
		"package.json":                      `{"name": "padder", "main": "lib/entry.js"}`,
		"lib/entry.js":                      "const leftpad = require('leftpad');\nexports.main = async (p) => ({padded: leftpad(p.s, 6)});\n",
		"node_modules/leftpad/package.json": `{"name": "leftpad", "main": "index.js"}`,
		"node_modules/leftpad/index.js":     "module.exports = (s, n) => s.padStart(n, '*');\n",
	}, params: map[string]any{"s": "abc"}, wantHTTP: 200, wantStatus: "success", want: []string{"padded:***abc"}},
	{name: "syntax error", code: "function main(params {\n  return {};\n}\n", wantHTTP: 502,
		wantStatus: "action developer error", want: []string{"SyntaxError"}, wantLogs: []string{"SyntaxError"}},
	{name: "missing main", code: "function hello() { return {}; }\n", wantHTTP: 502,
		wantStatus: "action developer error", want: []string{`no function "main"`}},
	{name: "rejection", code: "async function main() { throw new Error('bad input'); }\n", wantHTTP: 502,
		wantStatus: "application error", want: []string{"Error: bad input"}, wantLogs: []string{"bad input"}},
	{name: "zip too big to unpack", zip: map[string]string{"index.js": "exports.main = () => ({});\n", "zeros": strings.Repeat("\x00", 96<<20)},
		wantHTTP: 502, wantStatus: "action developer error", want: []string{"unpack zip"}},
}

// sourceKind deploys each case as an action of kind and invokes it once
// (twice for successes, the second warm).
func sourceKind(t *testing.T, s *system, kind string, cases []kindCase) {
	prefix := map[string]string{"python:3": "py-", "nodejs": "node-"}[kind]
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := prefix + strings.ReplaceAll(c.name, " ", "-")
			x := map[string]any{"kind": kind}
			if c.kind != "" {
				x["kind"] = c.kind
			}
			if c.main != "" {
				x["main"] = c.main
			}
			if c.zip != nil {
				x["binary"], x["code"] = true, base64.StdEncoding.EncodeToString(makeZipFile(t, c.zip))
			} else {
				x["code"] = c.code
			}
			body := map[string]any{"exec": x, "parameters": []map[string]any{{"key": "punct", "value": "!"}}}
			if r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", body); r.status != http.StatusOK {
				t.Fatalf("create %s: %d %s", name, r.status, r.body)
			}
			runs := 1
			if c.wantHTTP == http.StatusOK {
				runs = 2
			}
			for i := range runs {
				checkActivation(t, s, name, c, i == 0)
			}
		})
	}
}

func checkActivation(t *testing.T, s *system, name string, c kindCase, first bool) {
	t.Helper()
	r := s.invoke(t, name, c.params, "blocking=true")
	if r.status != c.wantHTTP {
		t.Fatalf("invoke %s: status %d, want %d: %s", name, r.status, c.wantHTTP, r.body)
	}
	rec := r.json(t)
	resp, _ := rec["response"].(map[string]any)
	if resp["status"] != c.wantStatus {
		t.Fatalf("invoke %s: response %v, want status %q", name, resp, c.wantStatus)
	}
	result := flatten(resp["result"])
	for _, w := range c.want {
		if !strings.Contains(result, w) {
			t.Errorf("invoke %s: result %s lacks %q", name, result, w)
		}
	}
	if id, _ := rec["activationId"].(string); c.name == "hello" && !strings.Contains(result, "activation:"+id) {
		t.Errorf("invoke %s: __OW_ACTIVATION_ID is not the activation id %s: %s", name, id, result)
	}
	logs := strings.Join(toStrings(rec["logs"]), "\n")
	for _, w := range c.wantLogs {
		if !strings.Contains(logs, w) {
			t.Errorf("invoke %s: logs lack %q:\n%s", name, w, logs)
		}
	}
	if strings.Contains(logs, "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX") {
		t.Errorf("invoke %s: the end marker leaked into the logs:\n%s", name, logs)
	}
	_, cold := annotation(rec, "initTime")
	if c.wantHTTP == http.StatusOK && cold != first {
		t.Errorf("invoke %s: initTime present = %v on run first=%v: %s", name, cold, first, r.body)
	}
}

func blackboxKind(t *testing.T, s *system, image string) {
	put := func(t *testing.T, name, image string) {
		t.Helper()
		body := map[string]any{"exec": map[string]any{"kind": "blackbox", "image": image, "code": "opaque to flurry", "main": "entry"}}
		if r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", body); r.status != http.StatusOK {
			t.Fatalf("create %s: %d %s", name, r.status, r.body)
		}
	}
	put(t, "bb", image)
	t.Run("hello", func(t *testing.T) {
		for i := range 2 {
			r := s.invoke(t, "bb", map[string]any{"name": "Ada"}, "blocking=true")
			if r.status != http.StatusOK {
				t.Fatalf("invoke: %d %s", r.status, r.body)
			}
			rec := r.json(t)
			id, _ := rec["activationId"].(string)
			resp, _ := rec["response"].(map[string]any)
			result := flatten(resp["result"])
			for _, w := range []string{"blackbox:true", "name:Ada", "activation:" + id, "main:entry", "code:opaque to flurry"} {
				if !strings.Contains(result, w) {
					t.Errorf("run %d: result %s lacks %q", i, result, w)
				}
			}
			logs := strings.Join(toStrings(rec["logs"]), "\n")
			if !strings.Contains(logs, "stdout: blackbox got 1 params") || !strings.Contains(logs, "stderr: blackbox stderr line") {
				t.Errorf("run %d: logs %q", i, logs)
			}
		}
	})
	t.Run("developer error", func(t *testing.T) {
		r := s.invoke(t, "bb", map[string]any{"fail": true}, "blocking=true")
		resp, _ := r.json(t)["response"].(map[string]any)
		if r.status != http.StatusBadGateway || resp["status"] != "action developer error" ||
			!strings.Contains(flatten(resp["result"]), "blackbox asked to fail") {
			t.Fatalf("invoke: %d %s", r.status, r.body)
		}
	})
	t.Run("image not present", func(t *testing.T) {
		put(t, "bb-absent", "flurry-e2e/absent:1")
		r := s.invoke(t, "bb-absent", nil, "blocking=true")
		resp, _ := r.json(t)["response"].(map[string]any)
		if r.status == http.StatusOK || resp["success"] != false || !strings.Contains(flatten(resp["result"]), "flurry-e2e/absent:1") {
			t.Fatalf("invoke: %d %s", r.status, r.body)
		}
	})
}

// flatten renders a JSON value as "key:value" text, so a test can look
// for fields without caring about nesting.
func flatten(v any) string {
	var b strings.Builder
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(k, e)
			}
		default:
			fmt.Fprintf(&b, "%s:%v\n", prefix, x)
		}
	}
	walk("", v)
	return b.String()
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func makeZipFile(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
