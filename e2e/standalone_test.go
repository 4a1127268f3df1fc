package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
)

// TestStandalone drives one standalone system through the whole core path
// and every bad input of the foundation issue.
func TestStandalone(t *testing.T) {
	s := startSystem(t, "")
	if dockerReachable() {
		if !strings.Contains(s.output.String(), "container runtime: docker") {
			t.Fatalf("a Docker engine is reachable but standalone did not use it:\n%s", s.output.String())
		}
	}
	s.createAction(t, "hello", "hello", nil)

	t.Run("blocking result", func(t *testing.T) {
		r := s.invoke(t, "hello", map[string]any{"name": "Ada"}, "blocking=true&result=true")
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if got := r.json(t)["greeting"]; got != "Hello, Ada!" {
			t.Fatalf("greeting = %v, body %s", got, r.body)
		}
		if r.header.Get("x-openwhisk-activation-id") == "" {
			t.Fatal("no x-openwhisk-activation-id header")
		}
	})

	t.Run("record fields", func(t *testing.T) {
		r := s.invoke(t, "hello", map[string]any{"name": "Grace"}, "blocking=true")
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		rec := r.json(t)
		id, _ := rec["activationId"].(string)
		if len(id) != 32 || rec["name"] != "hello" || rec["namespace"] != "guest" {
			t.Fatalf("record identity wrong: %s", r.body)
		}
		resp := rec["response"].(map[string]any)
		if resp["status"] != "success" || resp["success"] != true || resp["statusCode"].(float64) != 0 {
			t.Fatalf("response wrong: %s", r.body)
		}
		if _, ok := annotation(rec, "waitTime"); !ok {
			t.Fatalf("no waitTime annotation: %s", r.body)
		}
		for _, k := range []string{"kind", "path", "limits"} {
			if _, ok := annotation(rec, k); !ok {
				t.Fatalf("no %s annotation: %s", k, r.body)
			}
		}
		// The same record is readable by id, with logs and result.
		got := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/"+id, guestAuth, nil)
		if got.status != http.StatusOK || got.json(t)["activationId"] != id {
			t.Fatalf("get activation: %d %s", got.status, got.body)
		}
		logs := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/"+id+"/logs", guestAuth, nil)
		if logs.status != http.StatusOK || !strings.Contains(string(logs.body), "greeting Grace") {
			t.Fatalf("logs: %d %s", logs.status, logs.body)
		}
		res := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/"+id+"/result", guestAuth, nil)
		if res.status != http.StatusOK || !strings.Contains(string(res.body), "Hello, Grace!") {
			t.Fatalf("result: %d %s", res.status, res.body)
		}
	})

	t.Run("cold start records initTime", func(t *testing.T) {
		s.createAction(t, "hello-cold", "hello", map[string]any{"memory": 128})
		r := s.invoke(t, "hello-cold", nil, "blocking=true")
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		rec := r.json(t)
		if _, ok := annotation(rec, "initTime"); !ok {
			t.Fatalf("first activation of a new action has no initTime: %s", r.body)
		}
		r = s.invoke(t, "hello-cold", nil, "blocking=true")
		if _, ok := annotation(r.json(t), "initTime"); ok {
			t.Fatalf("warm activation has initTime: %s", r.body)
		}
	})

	t.Run("non-blocking then record", func(t *testing.T) {
		r := s.invoke(t, "hello", map[string]any{"name": "Async"}, "blocking=false")
		if r.status != http.StatusAccepted {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		id, _ := r.json(t)["activationId"].(string)
		if id == "" || r.header.Get("x-openwhisk-activation-id") != id {
			t.Fatalf("no activation id: %s", r.body)
		}
		testutil.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
			g := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/"+id+"/result", guestAuth, nil)
			if g.status != http.StatusOK {
				return fmt.Errorf("status %d: %s", g.status, g.body)
			}
			return nil
		})
	})

	t.Run("activation list", func(t *testing.T) {
		r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations?name=hello&limit=2", guestAuth, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var list []map[string]any
		if err := json.Unmarshal(r.body, &list); err != nil {
			t.Fatalf("%v: %s", err, r.body)
		}
		if len(list) != 2 {
			t.Fatalf("limit=2 gave %d records", len(list))
		}
		if list[0]["start"].(float64) < list[1]["start"].(float64) {
			t.Fatalf("not newest first: %s", r.body)
		}
		for _, rec := range list {
			if rec["name"] != "hello" {
				t.Fatalf("name filter broken: %s", r.body)
			}
		}
	})

	t.Run("action get list delete", func(t *testing.T) {
		s.createAction(t, "to-delete", "hello", nil)
		g := s.do(t, http.MethodGet, "/api/v1/namespaces/_/actions/to-delete?code=false", guestAuth, nil)
		if g.status != http.StatusOK || g.json(t)["name"] != "to-delete" {
			t.Fatalf("get: %d %s", g.status, g.body)
		}
		l := s.do(t, http.MethodGet, "/api/v1/namespaces/_/actions", guestAuth, nil)
		if l.status != http.StatusOK || !strings.Contains(string(l.body), `"to-delete"`) {
			t.Fatalf("list: %d %s", l.status, l.body)
		}
		d := s.do(t, http.MethodDelete, "/api/v1/namespaces/_/actions/to-delete", guestAuth, nil)
		if d.status != http.StatusOK {
			t.Fatalf("delete: %d %s", d.status, d.body)
		}
		if g := s.do(t, http.MethodGet, "/api/v1/namespaces/_/actions/to-delete", guestAuth, nil); g.status != http.StatusNotFound {
			t.Fatalf("get after delete: %d %s", g.status, g.body)
		}
	})

	t.Run("bad inputs", func(t *testing.T) { badInputs(t, s) })
	t.Run("action faults", func(t *testing.T) { actionFaults(t, s) })
	t.Run("grpc", func(t *testing.T) { grpcPath(t, s) })
	t.Run("cli", func(t *testing.T) { cliPath(t, s) })

	if dockerReachable() {
		t.Run("containers are hardened", func(t *testing.T) {
			out, err := exec.Command("docker", "ps", "-q", "--filter", "label=io.flurry.managed=true").Output()
			if err != nil || len(lines(string(out))) == 0 {
				t.Fatalf("no running flurry containers (%v): %s", err, out)
			}
			// Other tests' containers come and go: inspect those still there.
			inspected := 0
			for _, id := range lines(string(out)) {
				insp, err := exec.Command("docker", "inspect", "--format",
					"{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", id).Output()
				if err != nil {
					continue // removed since docker ps
				}
				inspected++
				got := string(insp)
				for _, want := range []string{"true", "ALL", "no-new-privileges"} {
					if !strings.Contains(got, want) {
						t.Fatalf("container %s is missing %q: %s", id, want, got)
					}
				}
			}
			if inspected == 0 {
				t.Fatalf("every flurry container listed was gone before it could be inspected: %s", out)
			}
		})
	}
}

// annotation returns a record annotation's value.
func annotation(rec map[string]any, key string) (any, bool) {
	anns, _ := rec["annotations"].([]any)
	for _, a := range anns {
		m, _ := a.(map[string]any)
		if m["key"] == key {
			return m["value"], true
		}
	}
	return nil, false
}

func badInputs(t *testing.T, s *system) {
	other := "0b4ec0c1-6f6c-4b52-9b33-6d3c7a3b2a11:not-the-right-key-0000000000000000000000000000000000000000000000"
	cases := []struct {
		name   string
		method string
		path   string
		auth   string
		body   string
		want   int
	}{
		{"no auth", "GET", "/api/v1/namespaces/_/actions", "", "", 401},
		{"wrong key", "GET", "/api/v1/namespaces/_/actions", other, "", 401},
		{"other namespace", "GET", "/api/v1/namespaces/someone-else/actions/hello", guestAuth, "", 403},
		{"invoke in other namespace", "POST", "/api/v1/namespaces/someone-else/actions/hello?blocking=true", guestAuth, "{}", 403},
		{"unknown action", "POST", "/api/v1/namespaces/_/actions/no-such-action?blocking=true", guestAuth, "{}", 404},
		{"unknown activation", "GET", "/api/v1/namespaces/_/activations/0123456789abcdef0123456789abcdef", guestAuth, "", 404},
		{"malformed params", "POST", "/api/v1/namespaces/_/actions/hello?blocking=true", guestAuth, "{not json", 400},
		{"params not an object", "POST", "/api/v1/namespaces/_/actions/hello?blocking=true", guestAuth, "[1,2]", 400},
		{"malformed action", "PUT", "/api/v1/namespaces/_/actions/broken", guestAuth, `{"exec":`, 400},
		{"unknown kind", "PUT", "/api/v1/namespaces/_/actions/broken", guestAuth, `{"exec":{"kind":"cobol","code":"x"}}`, 400},
		{"bad limits", "PUT", "/api/v1/namespaces/_/actions/broken", guestAuth, `{"exec":{"kind":"go","binary":true,"code":"AAAA"},"limits":{"timeout":1}}`, 400},
		// The code is an ELF header: anything less is refused (400) before the conflict.
		{"exists without overwrite", "PUT", "/api/v1/namespaces/_/actions/hello", guestAuth, `{"exec":{"kind":"go","binary":true,"code":"f0VMRgIBAQAAAAAAAAAAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="}}`, 409},
		{"payload too large", "POST", "/api/v1/namespaces/_/actions/hello?blocking=true", guestAuth, `{"big":"` + strings.Repeat("x", 1<<20+10) + `"}`, 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body *bytes.Reader
			if c.body != "" {
				body = bytes.NewReader([]byte(c.body))
			}
			var r response
			if body != nil {
				r = s.do(t, c.method, c.path, c.auth, body)
			} else {
				r = s.do(t, c.method, c.path, c.auth, nil)
			}
			if r.status != c.want {
				t.Fatalf("status %d, want %d: %s", r.status, c.want, r.body)
			}
			var e map[string]any
			if err := json.Unmarshal(r.body, &e); err != nil || e["error"] == nil {
				t.Fatalf("error body is not {\"error\": ...}: %s", r.body)
			}
		})
	}
	// Nothing was enqueued or recorded for the rejected invokes.
	r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations?name=no-such-action", guestAuth, nil)
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("records exist for an unknown action: %d %s", r.status, r.body)
	}
}

func actionFaults(t *testing.T, s *system) {
	s.createAction(t, "app-error", "error", nil)
	s.createAction(t, "crash", "crash", nil)
	s.createAction(t, "garbage", "garbage", nil)
	s.createAction(t, "sleepy", "sleep", map[string]any{"timeout": 1000})
	s.createAction(t, "bigresult", "bigresult", nil)
	s.createAction(t, "memhog", "memhog", map[string]any{"memory": 64})

	cases := []struct {
		name       string
		action     string
		params     map[string]any
		wantHTTP   int
		wantStatus string
		wantError  string
	}{
		{"application error", "app-error", nil, 502, "application error", "boom"},
		{"crash", "crash", nil, 502, "action developer error", ""},
		{"garbage output", "garbage", nil, 502, "action developer error", ""},
		{"timeout", "sleepy", map[string]any{"ms": 5000}, 502, "action developer error", "exceeded its time limits of 1000 milliseconds"},
		{"result too large", "bigresult", map[string]any{"bytes": 2 << 20}, 502, "application error", "exceeded the allowed length"},
		{"out of memory", "memhog", map[string]any{"mb": 512}, 502, "action developer error", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.invoke(t, c.action, c.params, "blocking=true")
			if r.status != c.wantHTTP {
				t.Fatalf("status %d, want %d: %s", r.status, c.wantHTTP, r.body)
			}
			resp, _ := r.json(t)["response"].(map[string]any)
			if resp["status"] != c.wantStatus || resp["success"] != false {
				t.Fatalf("response %v, want status %q", resp, c.wantStatus)
			}
			if c.wantError != "" && !strings.Contains(fmt.Sprint(resp["result"]), c.wantError) {
				t.Fatalf("result %v does not mention %q", resp["result"], c.wantError)
			}
		})
	}
	// After every fault the invoker keeps serving, also the same actions.
	t.Run("still serving", func(t *testing.T) {
		r := s.invoke(t, "sleepy", map[string]any{"ms": 10}, "blocking=true&result=true")
		if r.status != http.StatusOK {
			t.Fatalf("sleepy after its timeout: %d %s", r.status, r.body)
		}
		r = s.invoke(t, "hello", map[string]any{"name": "again"}, "blocking=true&result=true")
		if r.status != http.StatusOK {
			t.Fatalf("hello after faults: %d %s", r.status, r.body)
		}
	})
}
