package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/testutil"
)

// record GETs an activation record, or returns an error while there is none.
func (s *system) record(t *testing.T, id string) (map[string]any, error) {
	t.Helper()
	r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/"+id, guestAuth, nil)
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("record %s: %d %s", id, r.status, r.body)
	}
	return r.json(t), nil
}

// records lists the records of entity name (action or trigger), newest first.
func (s *system) records(t *testing.T, name string) []map[string]any {
	t.Helper()
	r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations?limit=200&name="+name, guestAuth, nil)
	if r.status != http.StatusOK {
		t.Fatalf("list records of %s: %d %s", name, r.status, r.body)
	}
	var out []map[string]any
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTriggersRulesAndSequences: a fired trigger runs its rule's action
// (cause = the trigger activation), a disabled rule makes firing a 204,
// and sequences chain example actions and stop at an error.
func TestTriggersRulesAndSequences(t *testing.T) {
	s := startSystem(t, "")
	s.createAction(t, "hello", "hello", nil)
	s.createAction(t, "boom", "error", nil)

	s.cli(t, false, "trigger", "create", "t", "-p", "name", "Ada")
	s.cli(t, false, "rule", "create", "r", "t", "hello")
	out, _ := s.cli(t, false, "trigger", "fire", "t", "--output", "json")
	var fired struct {
		ActivationID string `json:"activationId"`
	}
	if err := json.Unmarshal([]byte(out), &fired); err != nil || fired.ActivationID == "" {
		t.Fatalf("fire output %q: %v", out, err)
	}
	var trig, act map[string]any
	testutil.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		var err error
		if trig, err = s.record(t, fired.ActivationID); err != nil {
			return err
		}
		logs, _ := trig["logs"].([]any)
		if len(logs) != 1 {
			return fmt.Errorf("trigger record logs %v", logs)
		}
		var line struct {
			ActivationID string `json:"activationId"`
			Rule         string `json:"rule"`
			Success      bool   `json:"success"`
		}
		if err := json.Unmarshal([]byte(logs[0].(string)), &line); err != nil || !line.Success || line.Rule != "guest/r" {
			t.Fatalf("trigger log line %v: %v", logs[0], err)
		}
		act, err = s.record(t, line.ActivationID)
		return err
	})
	if act["cause"] != fired.ActivationID {
		t.Errorf("action record cause %v, want %s", act["cause"], fired.ActivationID)
	}
	if v, _ := annotation(act, "causedBy"); v != fired.ActivationID {
		t.Errorf("causedBy annotation %v", v)
	}
	if res, _ := act["response"].(map[string]any)["result"].(map[string]any); res["greeting"] != "Hello, Ada!" {
		t.Errorf("action result %v: the trigger's parameter did not arrive", res)
	}

	s.cli(t, false, "rule", "disable", "r")
	if r := s.doJSON(t, http.MethodPost, "/api/v1/namespaces/_/triggers/t", map[string]any{}); r.status != http.StatusNoContent {
		t.Fatalf("fire with the rule disabled: %d %s", r.status, r.body)
	}
	if r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/rules/r2", map[string]any{"trigger": "/guest/t", "action": "/_/nope"}); r.status != http.StatusNotFound {
		t.Fatalf("rule to an unknown action: %d %s", r.status, r.body)
	}
	r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/triggers/bad", map[string]any{"source": map[string]any{"cron": map[string]any{"expression": "61 * * * * *"}}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "above maximum") {
		t.Fatalf("bad cron: %d %s", r.status, r.body)
	}

	// Sequences.
	put := func(name string, comps ...string) {
		r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/actions/"+name, map[string]any{"exec": map[string]any{"kind": "sequence", "components": comps}})
		if r.status != http.StatusOK {
			t.Fatalf("create sequence %s: %d %s", name, r.status, r.body)
		}
	}
	put("twice", "/guest/hello", "/_/hello")
	put("fails", "boom", "hello")
	r = s.invoke(t, "twice", map[string]any{"name": "Bo"}, "blocking=true")
	if r.status != http.StatusOK {
		t.Fatalf("invoke sequence: %d %s", r.status, r.body)
	}
	seq := r.json(t)
	// hello's result {"greeting"} has no name: the second greets a stranger.
	if res := seq["response"].(map[string]any)["result"].(map[string]any); res["greeting"] != "Hello, stranger!" {
		t.Errorf("sequence result %v", res)
	}
	logs, _ := seq["logs"].([]any)
	if len(logs) != 2 {
		t.Fatalf("sequence logs %v, want two component ids", logs)
	}
	for _, id := range logs {
		c, err := s.record(t, id.(string))
		if err != nil {
			t.Fatal(err)
		}
		if c["cause"] != seq["activationId"] {
			t.Errorf("component %v cause %v, want %v", id, c["cause"], seq["activationId"])
		}
	}
	r = s.invoke(t, "fails", nil, "blocking=true")
	if r.status != http.StatusBadGateway {
		t.Fatalf("failing sequence: %d %s", r.status, r.body)
	}
	if logs, _ := r.json(t)["logs"].([]any); len(logs) != 1 {
		t.Fatalf("failing sequence ran %v, want only the failing component", logs)
	}
}

// TestTimerTwoControllers: a one-second cron trigger fires every tick
// exactly once while standalone and a second `flurry controller` both
// schedule it.
func TestTimerTwoControllers(t *testing.T) {
	s := startSystem(t, "")
	out := startComponent(t, append([]string{"controller"}, s.natsArgs(broker.RoleController)...)...)
	testutil.CheckFor(t, 60*time.Second, 50*time.Millisecond, func() error {
		if !strings.Contains(out.String(), "controller serving its API") {
			return fmt.Errorf("second controller not up yet")
		}
		return nil
	})
	s.createAction(t, "hello", "hello", nil)
	s.cli(t, false, "trigger", "create", "tick", "--cron", "*/1 * * * * *", "--tz", "Europe/Berlin")
	s.cli(t, false, "rule", "create", "every", "tick", "hello")

	testutil.CheckFor(t, 90*time.Second, 200*time.Millisecond, func() error {
		if n := len(s.records(t, "tick")); n < 5 {
			return fmt.Errorf("%d trigger records", n)
		}
		return nil
	})
	s.cli(t, false, "trigger", "delete", "tick")
	testutil.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		ticks := s.records(t, "tick")
		causes := map[any]int{}
		for _, a := range s.records(t, "hello") {
			causes[a["cause"]]++
		}
		scheduled := map[any]bool{}
		for _, tr := range ticks {
			at, ok := annotation(tr, "scheduled")
			if !ok || scheduled[at] {
				t.Fatalf("trigger record %v: scheduled %v missing or fired twice", tr["activationId"], at)
			}
			scheduled[at] = true
			if n := causes[tr["activationId"]]; n != 1 {
				return fmt.Errorf("tick %v caused %d activations of hello", at, n)
			}
		}
		if len(causes) != len(ticks) {
			return fmt.Errorf("%d ticks, activations from %d causes", len(ticks), len(causes))
		}
		return nil
	})
}
