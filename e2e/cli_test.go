package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// cliPath drives the flurry CLI as a user would, from Go source to records.
func cliPath(t *testing.T, s *system) {
	src := filepath.Join(repoRoot, "actions", "examples", "hello", "hello.go")
	s.cli(t, false, "action", "create", "hello-cli", src)

	out, _ := s.cli(t, false, "action", "invoke", "hello-cli", "-p", "name", "Ada", "--result")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["greeting"] != "Hello, Ada!" {
		t.Fatalf("invoke --result printed %q (%v)", out, err)
	}

	out, _ = s.cli(t, false, "action", "list")
	if !strings.Contains(out, "hello-cli") {
		t.Fatalf("action list: %s", out)
	}

	out, _ = s.cli(t, false, "activation", "list", "hello-cli", "--output", "json")
	var recs []map[string]any
	if err := json.Unmarshal([]byte(out), &recs); err != nil || len(recs) == 0 {
		t.Fatalf("activation list --output json: %q (%v)", out, err)
	}
	id := recs[0]["activationId"].(string)

	out, _ = s.cli(t, false, "activation", "get", id, "--output", "json")
	if !strings.Contains(out, id) {
		t.Fatalf("activation get: %s", out)
	}
	out, _ = s.cli(t, false, "activation", "logs", id)
	if !strings.Contains(out, "greeting Ada") {
		t.Fatalf("activation logs: %s", out)
	}
	out, _ = s.cli(t, false, "activation", "result", id)
	if !strings.Contains(out, "Hello, Ada!") {
		t.Fatalf("activation result: %s", out)
	}

	// Bad input: a clear error and a non-zero exit.
	out, err := s.cli(t, true, "action", "invoke", "no-such-action", "--result")
	if err == nil || !strings.Contains(strings.ToLower(out), "not exist") {
		t.Fatalf("invoking an unknown action: err %v, output %q", err, out)
	}
}
