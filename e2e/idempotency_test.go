package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// keyedInvoke posts params to action name with an Idempotency-Key.
func (s *system) keyedInvoke(t *testing.T, path, key string, params any) response {
	t.Helper()
	b, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.api+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	u, k, _ := strings.Cut(guestAuth, ":")
	req.SetBasicAuth(u, k)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body.Bytes()}
}

// recordsOf counts the activation records of action name.
func (s *system) recordsOf(t *testing.T, name string) map[string]int {
	t.Helper()
	r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations?name="+name+"&limit=200", guestAuth, nil)
	var recs []map[string]any
	if err := json.Unmarshal(r.body, &recs); err != nil {
		t.Fatalf("list: %v %s", err, r.body)
	}
	n := map[string]int{}
	for _, rc := range recs {
		id, _ := rc["activationId"].(string)
		n[id]++
	}
	return n
}

// TestIdempotencyKey repeats invokes with one Idempotency-Key, at once
// and after the activation finished, over /api/v1 and /v1: every answer
// names the same activation, and the action ran once.
func TestIdempotencyKey(t *testing.T) {
	s := startSystem(t, "")
	s.createAction(t, "once", "sleep", nil)
	const owPath = "/api/v1/namespaces/_/actions/once"
	params := map[string]any{"ms": 300}

	ids := make([]string, 6)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.keyedInvoke(t, owPath+"?blocking=false", "e2e-order-1", params)
			if r.status != http.StatusAccepted {
				t.Errorf("invoke %d: %d %s", i, r.status, r.body)
				return
			}
			ids[i], _ = r.json(t)["activationId"].(string)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	id := ids[0]
	for i, got := range ids {
		if got != id {
			t.Fatalf("invoke %d got activation %s, invoke 0 %s", i, got, id)
		}
	}
	rec := s.waitRecord(t, id)
	if resp, _ := rec["response"].(map[string]any); resp["success"] != true {
		t.Fatalf("record: %v", rec)
	}

	// After it finished: a blocking retry answers with its result, over
	// both REST APIs.
	r := s.keyedInvoke(t, owPath+"?blocking=true&result=true", "e2e-order-1", params)
	if r.status != http.StatusOK || r.header.Get("X-Openwhisk-Activation-Id") != id || r.json(t)["slept_ms"] != 300.0 {
		t.Fatalf("blocking retry: %d %v %s", r.status, r.header, r.body)
	}
	r = s.keyedInvoke(t, "/v1/namespaces/_/actions/once:invoke", "e2e-order-1", params)
	if r.status != http.StatusOK || r.json(t)["activationId"] != id {
		t.Fatalf("/v1 retry: %d %s", r.status, r.body)
	}
	// The key with other parameters is another request: refused.
	r = s.keyedInvoke(t, owPath+"?blocking=false", "e2e-order-1", map[string]any{"ms": 1})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("reused key: %d %s", r.status, r.body)
	}
	// A bad key is refused at the edge.
	r = s.keyedInvoke(t, owPath+"?blocking=false", strings.Repeat("k", 256), params)
	if r.status != http.StatusBadRequest {
		t.Fatalf("long key: %d %s", r.status, r.body)
	}

	// A plain invoke runs again; with the key, the action ran once.
	if r := s.invoke(t, "once", params, "blocking=true&result=true"); r.status != http.StatusOK {
		t.Fatalf("plain invoke: %d %s", r.status, r.body)
	}
	n := s.recordsOf(t, "once")
	if len(n) != 2 || n[id] != 1 {
		t.Fatalf("records per activation: %v; want one of %s and one of the plain invoke", n, id)
	}
}
