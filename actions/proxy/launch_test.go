package proxy

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flurryfn/flurry/internal/testutil"
	"github.com/flurryfn/flurry/invoker/container"
)

// startLangProxy serves lang with the host's interpreter; the test is
// skipped when the host has none (the runtime images always do).
func startLangProxy(t *testing.T, lang Language) *testProxy {
	t.Helper()
	prog := map[Language]string{Python: "python3", Nodejs: "node"}[lang]
	interp, err := exec.LookPath(prog)
	if err != nil {
		t.Skipf("no %s on this host: %v", prog, err)
	}
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
	cfg := Config{Dir: p.dir, Stdout: p.stdout, Stderr: p.stderr, Language: lang, Interpreter: interp,
		Env: []string{"PATH=/usr/bin:/bin", "BASE=base"}}
	go func() { p.done <- Serve(ctx, ln, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-p.done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return p
}

func textInit(code, main string) map[string]any {
	return map[string]any{"value": map[string]any{
		"name": "/guest/src", "main": main, "code": code, "env": map[string]any{"GREETING": "hi"},
	}}
}

func zipInit(code []byte, main string) map[string]any {
	return map[string]any{"value": map[string]any{
		"name": "/guest/src", "main": main, "binary": true, "code": base64.StdEncoding.EncodeToString(code),
	}}
}

// sources are the same actions in both languages.
var sources = map[Language]map[string]string{
	Python: {
		"hello": `import os, sys
def main(args):
    print("hello", args.get("name"))
    print("to stderr", file=sys.stderr)
    return {"greeting": "Hello, " + args.get("name", "stranger") + "!",
            "activation": os.environ.get("__OW_ACTIVATION_ID"),
            "action": os.environ.get("__OW_ACTION_NAME"),
            "deadline": os.environ.get("__OW_DEADLINE"),
            "env": os.environ.get("GREETING")}
`,
		"other":     "def other(args):\n    return {\"main\": \"other\"}\n",
		"async":     "import asyncio\nasync def main(args):\n    await asyncio.sleep(0.01)\n    return {\"async\": True}\n",
		"syntax":    "def main(args)\n    return {}\n",
		"raises":    "def main(args):\n    raise ValueError(\"bad input\")\n",
		"notdict":   "def main(args):\n    return [1, 2]\n",
		"importerr": "import no_such_module\ndef main(args):\n    return {}\n",
	},
	Nodejs: {
		"hello": `function main(params) {
  console.log("hello", params.name);
  console.error("to stderr");
  return {greeting: "Hello, " + (params.name || "stranger") + "!",
          activation: process.env.__OW_ACTIVATION_ID,
          action: process.env.__OW_ACTION_NAME,
          deadline: process.env.__OW_DEADLINE,
          env: process.env.GREETING};
}
`,
		"other":     "exports.other = () => ({main: 'other'});\n",
		"async":     "async function main() { await new Promise(r => setTimeout(r, 10)); return {async: true}; }\n",
		"syntax":    "function main(params {\n  return {};\n}\n",
		"raises":    "function main() { throw new Error('bad input'); }\n",
		"notdict":   "function main() { return [1, 2]; }\n",
		"importerr": "require('no_such_module');\nfunction main() { return {}; }\n",
	},
}

func TestSourceActions(t *testing.T) {
	for _, lang := range []Language{Python, Nodejs} {
		src := sources[lang]
		t.Run(string(lang), func(t *testing.T) {
			t.Parallel()
			t.Run("hello", func(t *testing.T) {
				p := startLangProxy(t, lang)
				if st, body := p.post(t, "/init", textInit(src["hello"], "main")); st != http.StatusOK {
					t.Fatalf("init: %d %v", st, body)
				}
				for range 2 {
					st, body := p.post(t, "/run", runBody(map[string]any{"name": "Ada"}))
					if st != http.StatusOK || body["greeting"] != "Hello, Ada!" || body["activation"] != "a1b2" ||
						body["action"] != "loop" || body["deadline"] != "1700000000000" || body["env"] != "hi" {
						t.Fatalf("run: %d %v", st, body)
					}
				}
				wantOut := strings.Repeat("hello Ada\n"+container.EndMarker+"\n", 2)
				if got := p.stdout.String(); got != wantOut {
					t.Errorf("stdout = %q, want %q", got, wantOut)
				}
				if got, want := p.stderr.String(), strings.Repeat("to stderr\n"+container.EndMarker+"\n", 2); got != want {
					t.Errorf("stderr = %q, want %q", got, want)
				}
			})
			tests := []struct {
				name, code, main string
				initStatus       int
				initErr          string         // part of /init's error
				want             map[string]any // the /run result
			}{
				{"main selection", src["other"], "other", 200, "", map[string]any{"main": "other"}},
				{"async", src["async"], "main", 200, "", map[string]any{"async": true}},
				{"syntax error", src["syntax"], "main", 502, "SyntaxError", nil},
				{"missing main", src["hello"], "nope", 502, `no function "nope"`, nil},
				{"bad main name", src["hello"], "a;b", 502, "not a function name", nil},
				{"import error", src["importerr"], "main", 502, "no_such_module", nil},
				{"raises", src["raises"], "main", 200, "", map[string]any{"error": "bad input"}},
				{"not a dict", src["notdict"], "main", 200, "", map[string]any{"error": "The action did not return a dictionary."}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					p := startLangProxy(t, lang)
					st, body := p.post(t, "/init", textInit(tt.code, tt.main))
					if st != tt.initStatus || !strings.Contains(errorOf(body), tt.initErr) {
						t.Fatalf("init: %d %v; want %d with %q", st, body, tt.initStatus, tt.initErr)
					}
					if st != http.StatusOK {
						// The failed init's output is closed by the marker.
						if !strings.HasSuffix(p.stderr.String(), container.EndMarker+"\n") {
							t.Errorf("stderr after failed init = %q, want it to end with the marker", p.stderr.String())
						}
						return
					}
					st, body = p.post(t, "/run", runBody(nil))
					if st != http.StatusOK {
						t.Fatalf("run: %d %v", st, body)
					}
					for k, v := range tt.want {
						if s, ok := v.(string); ok && k == "error" {
							if !strings.Contains(errorOf(body), s) {
								t.Errorf("error = %v, want it to contain %q", body, s)
							}
						} else if body[k] != v {
							t.Errorf("%s = %v, want %v", k, body[k], v)
						}
					}
				})
			}
		})
	}
}

func TestSourceZipWithDependency(t *testing.T) {
	zips := map[Language]map[string]string{
		Python: {
			"__main__.py": "import leftpad\ndef main(args):\n    return {\"padded\": leftpad.pad(args.get(\"s\", \"\"), 5)}\n",
			"virtualenv/lib/python3.11/site-packages/leftpad/__init__.py": "def pad(s, n):\n    return s.rjust(n, \"*\")\n",
		},
		Nodejs: {
			"package.json":                      `{"name": "padder", "main": "lib/entry.js"}`,
			"lib/entry.js":                      "const leftpad = require('leftpad');\nexports.main = async (p) => ({padded: leftpad(p.s || '', 5)});\n",
			"node_modules/leftpad/index.js":     "module.exports = (s, n) => s.padStart(n, '*');\n",
			"node_modules/leftpad/package.json": `{"name": "leftpad"}`,
		},
	}
	for lang, files := range zips {
		t.Run(string(lang), func(t *testing.T) {
			t.Parallel()
			p := startLangProxy(t, lang)
			if st, body := p.post(t, "/init", zipInit(makeZip(t, files), "main")); st != http.StatusOK {
				t.Fatalf("init: %d %v", st, body)
			}
			if st, body := p.post(t, "/run", runBody(map[string]any{"s": "ab"})); st != http.StatusOK || body["padded"] != "***ab" {
				t.Fatalf("run: %d %v", st, body)
			}
		})
	}
}

func TestSourceInitErrors(t *testing.T) {
	tests := []struct {
		name string
		lang Language
		body map[string]any
		want string
	}{
		{"python zip without __main__.py", Python, zipInit(makeZip(t, map[string]string{"main.py": "x"}), "main"), "no __main__.py"},
		{"node zip without entry", Nodejs, zipInit(makeZip(t, map[string]string{"lib.js": "x"}), "main"), "neither package.json nor index.js"},
		{"binary not a zip", Python, zipInit([]byte("not a zip"), "main"), "must be a zip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startLangProxy(t, tt.lang)
			if st, body := p.post(t, "/init", tt.body); st != http.StatusBadGateway || !strings.Contains(errorOf(body), tt.want) {
				t.Errorf("init: %d %v; want 502 with %q", st, body, tt.want)
			}
		})
	}
}

func TestParseLanguage(t *testing.T) {
	for in, want := range map[string]Language{"": Native, "native": Native, "python": Python, "nodejs": Nodejs} {
		if got, err := ParseLanguage(in); err != nil || got != want {
			t.Errorf("ParseLanguage(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseLanguage("cobol"); err == nil {
		t.Error("ParseLanguage(cobol) succeeded")
	}
}
