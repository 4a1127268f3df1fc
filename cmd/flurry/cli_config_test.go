package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cliTestEnv isolates the client configuration from the machine's: an
// empty HOME and no FLURRY_* variables.
func cliTestEnv(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, k := range []string{"FLURRY_CONFIG", "FLURRY_API_HOST", "FLURRY_AUTH", "FLURRY_NAMESPACE"} {
		t.Setenv(k, "")
	}
	return home
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCLIConfigPrecedence(t *testing.T) {
	const props = "# wskprops\nAPIHOST=file:1\n auth = f:f \n\nNAMESPACE=filens\n"
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		file      string // content of ~/.flurry/config
		want      cliConfig
		wantSrc   string // Source["apihost"]
		wantError string
	}{
		{name: "defaults", want: cliConfig{APIHost: cliDefaultAPIHost, Namespace: "_"}, wantSrc: "default"},
		{name: "file", file: props, want: cliConfig{APIHost: "file:1", Auth: "f:f", Namespace: "filens"}, wantSrc: "file "},
		{name: "env over file", file: props,
			env:  map[string]string{"FLURRY_API_HOST": "env:1", "FLURRY_AUTH": "e:e"},
			want: cliConfig{APIHost: "env:1", Auth: "e:e", Namespace: "filens"}, wantSrc: "env FLURRY_API_HOST"},
		{name: "flag over env", file: props, args: []string{"--apihost", "flag:1", "-u", "u:u", "--namespace", "ns"},
			env:  map[string]string{"FLURRY_API_HOST": "env:1", "FLURRY_AUTH": "e:e", "FLURRY_NAMESPACE": "envns"},
			want: cliConfig{APIHost: "flag:1", Auth: "u:u", Namespace: "ns"}, wantSrc: "flag"},
		{name: "FLURRY_CONFIG names the file", env: map[string]string{"FLURRY_CONFIG": "OTHER"},
			want: cliConfig{APIHost: "other:1", Auth: "o:o", Namespace: "_"}, wantSrc: "file "},
		{name: "missing FLURRY_CONFIG is an error", env: map[string]string{"FLURRY_CONFIG": "MISSING"}, wantError: "no such file"},
		{name: "malformed file", file: "APIHOST\n", wantError: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := cliTestEnv(t)
			if tt.file != "" {
				writeFile(t, filepath.Join(home, ".flurry", "config"), tt.file)
			}
			other := filepath.Join(home, "other.props")
			writeFile(t, other, "APIHOST=other:1\nAUTH=o:o\n")
			for k, v := range tt.env {
				v = strings.NewReplacer("OTHER", other, "MISSING", filepath.Join(home, "missing")).Replace(v)
				t.Setenv(k, v)
			}
			p, err := cliParse(tt.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cliLoadConfig(p)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err = %v, want %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.APIHost != tt.want.APIHost || got.Auth != tt.want.Auth || got.Namespace != tt.want.Namespace {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if !strings.HasPrefix(got.Source["apihost"], tt.wantSrc) {
				t.Errorf("source %q, want %q", got.Source["apihost"], tt.wantSrc)
			}
		})
	}
}

func TestCLIConfigNoAuth(t *testing.T) {
	cliTestEnv(t)
	p, _ := cliParse(nil, nil)
	cfg, err := cliLoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.client()
	if err == nil || !strings.Contains(err.Error(), "no API key") || !strings.Contains(err.Error(), "FLURRY_AUTH") {
		t.Errorf("err = %v", err)
	}
	// Every command that calls the API says so, with exit status 1.
	out, _, err := runCLI(t, cliAction, "list")
	if err == nil || exitCode(err) != 1 || out != "" {
		t.Errorf("action list without auth: %v %q", err, out)
	}
}

func TestCLIProperty(t *testing.T) {
	cliTestEnv(t)
	t.Setenv("FLURRY_AUTH", "uuid:secret")
	out, _, err := runCLI(t, cliProperty, "get", "--apihost", "h:9")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"api host    http://h:9 (flag)", "auth        uuid:**** (env FLURRY_AUTH)", "namespace   _ (default)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	out, _, err = runCLI(t, cliProperty, "--show-auth", "-o", "json")
	if err != nil || !strings.Contains(out, `"auth": "uuid:secret"`) {
		t.Errorf("json: %q, %v", out, err)
	}
}
