package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
)

// TestAsync drives asynchronous activations through a standalone system:
// retries until success, dead letters and their re-drive, and
// destinations received over the embedded NATS.
func TestAsync(t *testing.T) {
	s := startSystem(t, "")
	nc := s.connectNATS(t)
	okSub, err := nc.SubscribeSync("events.guest.e2e.async.ok")
	if err != nil {
		t.Fatal(err)
	}
	failedSub, err := nc.SubscribeSync("events.guest.e2e.async.failed")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	dest := map[string]any{"onSuccess": "events.guest.e2e.async.ok", "onFailure": "events.guest.e2e.async.failed"}

	t.Run("retries until success", func(t *testing.T) {
		s.createAsyncAction(t, "flaky", "flaky", map[string]any{"maxAttempts": 10, "initialBackoff": 300, "maxBackoff": 2000}, dest)
		// Warm it up: a blocking call is never retried and goes to no destination.
		if r := s.invoke(t, "flaky", map[string]any{}, "blocking=true&result=true"); r.status != http.StatusOK {
			t.Fatalf("warm-up: %d %s", r.status, r.body)
		}
		// The first attempt starts at once, so before failUntil, and fails.
		failUntil := time.Now().Add(2 * time.Second).UnixMilli()
		id := s.invokeAsync(t, "flaky", map[string]any{"failUntil": failUntil})
		rec := s.waitRecord(t, id)
		resp := rec["response"].(map[string]any)
		if resp["success"] != true {
			t.Fatalf("final record not a success: %v", rec)
		}
		attempts, _ := annotation(rec, "attempts")
		if n, _ := attempts.(float64); n < 2 {
			t.Fatalf("attempts = %v, want at least 2 (the first must fail)", attempts)
		}
		// One record for the activation, whatever the attempts.
		r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations?name=flaky&limit=200", guestAuth, nil)
		var recs []map[string]any
		if err := json.Unmarshal(r.body, &recs); err != nil {
			t.Fatalf("list: %v %s", err, r.body)
		}
		n := 0
		for _, rc := range recs {
			if rc["activationId"] == id {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d records of %s, want 1", n, id)
		}
		msg, err := okSub.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatalf("no record on the success destination: %v", err)
		}
		if msg.Header.Get("Flurry-Activation-Id") != id || msg.Header.Get("Flurry-Status") != "success" {
			t.Fatalf("destination headers %v, body %s", msg.Header, msg.Data)
		}
		var got map[string]any
		if err := json.Unmarshal(msg.Data, &got); err != nil || got["activationId"] != id {
			t.Fatalf("destination body %s (%v)", msg.Data, err)
		}
	})

	t.Run("dead letter and re-drive", func(t *testing.T) {
		s.createAsyncAction(t, "doomed", "error", map[string]any{"maxAttempts": 3, "initialBackoff": 100}, dest)
		id := s.invokeAsync(t, "doomed", map[string]any{"n": 7})
		dl := s.waitDeadLetter(t, id)
		if dl["reason"] != "retries exhausted" || dl["attempts"] != 3.0 || dl["name"] != "doomed" {
			t.Fatalf("dead letter %v", dl)
		}
		rec := s.waitRecord(t, id)
		if v, _ := annotation(rec, "attempts"); v != 3.0 {
			t.Fatalf("record attempts %v", v)
		}
		msg, err := failedSub.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatalf("no record on the failure destination: %v", err)
		}
		if msg.Header.Get("Flurry-Activation-Id") != id || msg.Header.Get("Flurry-Status") != "application error" {
			t.Fatalf("destination headers %v", msg.Header)
		}

		out, _ := s.cli(t, false, "deadletter", "list")
		if !strings.Contains(out, id) || !strings.Contains(out, "retries exhausted") {
			t.Fatalf("deadletter list:\n%s", out)
		}
		out, _ = s.cli(t, false, "deadletter", "get", id, "-o", "json")
		if !strings.Contains(out, `"n": 7`) {
			t.Fatalf("deadletter get lacks the params:\n%s", out)
		}
		out, _ = s.cli(t, false, "deadletter", "redrive", id, "-o", "json")
		var red struct {
			ActivationID string `json:"activationId"`
		}
		if err := json.Unmarshal([]byte(out), &red); err != nil || red.ActivationID == "" || red.ActivationID == id {
			t.Fatalf("redrive: %q (%v)", out, err)
		}
		if r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/deadletters/"+id, guestAuth, nil); r.status != http.StatusNotFound {
			t.Fatalf("re-driven entry still there: %d %s", r.status, r.body)
		}
		// The new activation runs with the same params, caused by the dead
		// one, and fails into a dead letter of its own.
		again := s.waitDeadLetter(t, red.ActivationID)
		msgBody, _ := again["message"].(map[string]any)
		if params, _ := msgBody["params"].(map[string]any); params["n"] != 7.0 || msgBody["cause"] != id {
			t.Fatalf("re-driven activation %v", msgBody)
		}
		if r := s.do(t, http.MethodDelete, "/api/v1/namespaces/_/deadletters/"+red.ActivationID, guestAuth, nil); r.status != http.StatusOK {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		if r := s.do(t, http.MethodPost, "/api/v1/namespaces/_/deadletters/"+red.ActivationID+"/redrive", guestAuth, nil); r.status != http.StatusNotFound {
			t.Fatalf("re-drive of a deleted entry: %d %s", r.status, r.body)
		}
	})

	t.Run("bad policies", func(t *testing.T) {
		for _, body := range []map[string]any{
			{"retry": map[string]any{"maxAttempts": 11}},
			{"destinations": map[string]any{"onSuccess": "flurry.activation.p1"}},
			{"destinations": map[string]any{"onFailure": "app.*"}},
			{"destinations": map[string]any{"onFailure": "app.failed"}},
		} {
			body["exec"] = map[string]any{"kind": "go", "binary": true, "code": base64.StdEncoding.EncodeToString(example(t, "hello"))}
			r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/actions/badpolicy?overwrite=true", body)
			if r.status != http.StatusBadRequest {
				t.Errorf("%v: %d %s, want 400", body["retry"], r.status, r.body)
			}
		}
	})
}

// createAsyncAction deploys example as action name with a retry policy and destinations.
func (s *system) createAsyncAction(t *testing.T, name, exampleName string, retry, dest map[string]any) {
	t.Helper()
	body := map[string]any{
		"exec":         map[string]any{"kind": "go", "binary": true, "code": base64.StdEncoding.EncodeToString(example(t, exampleName))},
		"retry":        retry,
		"destinations": dest,
	}
	r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", body)
	if r.status != http.StatusOK {
		t.Fatalf("create %s: %d %s", name, r.status, r.body)
	}
	if m := r.json(t); fmt.Sprint(m["retry"]) == "<nil>" {
		t.Fatalf("created %s without its retry policy: %s", name, r.body)
	}
}

// invokeAsync invokes name without waiting and returns the activation id.
func (s *system) invokeAsync(t *testing.T, name string, params any) string {
	t.Helper()
	r := s.invoke(t, name, params, "blocking=false")
	if r.status != http.StatusAccepted {
		t.Fatalf("invoke %s: %d %s", name, r.status, r.body)
	}
	id, _ := r.json(t)["activationId"].(string)
	return id
}

// waitRecord polls activation id's record.
func (s *system) waitRecord(t *testing.T, id string) map[string]any {
	t.Helper()
	var rec map[string]any
	testutil.CheckFor(t, 90*time.Second, 100*time.Millisecond, func() error {
		r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/"+id, guestAuth, nil)
		if r.status != http.StatusOK {
			return fmt.Errorf("record of %s: %d %s", id, r.status, r.body)
		}
		rec = r.json(t)
		return nil
	})
	return rec
}

// waitDeadLetter polls the dead letter of activation id.
func (s *system) waitDeadLetter(t *testing.T, id string) map[string]any {
	t.Helper()
	var dl map[string]any
	testutil.CheckFor(t, 90*time.Second, 100*time.Millisecond, func() error {
		r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/deadletters/"+id, guestAuth, nil)
		if r.status != http.StatusOK {
			return fmt.Errorf("dead letter of %s: %d %s", id, r.status, r.body)
		}
		dl = r.json(t)
		return nil
	})
	return dl
}
