package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/client/clienttest"
	"github.com/flurryfn/flurry/internal/entity"
)

func TestNormalizeAPIHost(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "127.0.0.1:3233", want: "http://127.0.0.1:3233"},
		{in: "http://127.0.0.1:3233/", want: "http://127.0.0.1:3233"},
		{in: "https://flurry.example.com", want: "https://flurry.example.com"},
		{in: "https://flurry.example.com/api/v1/", want: "https://flurry.example.com"},
		{in: "http://h:1/prefix", want: "http://h:1/prefix"},
		{in: " localhost:3233 ", want: "http://localhost:3233"},
		{in: "", err: true},
		{in: "ftp://h", err: true},
		{in: "http://", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := client.NormalizeAPIHost(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewRejectsBadAuth(t *testing.T) {
	for _, auth := range []string{"", "nokey", ":secret", "uuid:"} {
		if _, err := client.New("127.0.0.1:1", auth); err == nil {
			t.Errorf("New(%q) succeeded", auth)
		}
	}
}

func newClient(t *testing.T) (*client.Client, *clienttest.Server) {
	t.Helper()
	s := clienttest.NewServer(t)
	c, err := client.New(s.URL, clienttest.Auth)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func TestActions(t *testing.T) {
	ctx := context.Background()
	c, s := newClient(t)

	spec := client.ActionSpec{
		Exec:       &client.ExecSpec{Kind: "go", Code: "AAAA", Binary: true},
		Parameters: []entity.KeyValue{{Key: "k", Value: json.RawMessage(`"v"`)}},
		Limits:     &client.LimitsSpec{Timeout: 3000},
	}
	a, err := c.PutAction(ctx, "_", "hello", spec, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.Namespace != clienttest.Namespace || a.Name != "hello" || a.Exec.Kind != "go" || !a.Exec.Binary || a.Limits.Timeout != 3000 {
		t.Errorf("put returned %+v", a)
	}
	if got := string(s.LastBody()); !strings.Contains(got, `"limits":{"timeout":3000}`) {
		t.Errorf("body %s: zero limits must be left out", got)
	}

	_, err = c.PutAction(ctx, "_", "hello", spec, false)
	if client.StatusCode(err) != http.StatusConflict {
		t.Fatalf("second create: err = %v, want 409", err)
	}
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Message != "resource already exists" || ae.Code != "fake" {
		t.Errorf("APIError = %+v", ae)
	}
	if a, err = c.PutAction(ctx, "_", "hello", client.ActionSpec{Annotations: []entity.KeyValue{{Key: "web-export", Value: json.RawMessage("true")}}}, true); err != nil {
		t.Fatal(err)
	}
	if a.Version != "0.0.2" || a.Exec.Kind != "go" {
		t.Errorf("update returned %+v", a)
	}

	a, err = c.GetAction(ctx, "_", "hello", false)
	if err != nil || a.Exec.Code != "" {
		t.Fatalf("get without code: %+v, %v", a, err)
	}
	a, err = c.GetAction(ctx, "guest", "hello", true)
	if err != nil || a.Exec.Code != "AAAA" {
		t.Fatalf("get with code: %+v, %v", a, err)
	}

	if _, err := c.PutAction(ctx, "_", "a.b@c-d", spec, false); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListActions(ctx, "_", 1, 1)
	if err != nil || len(list) != 1 || list[0].Name != "hello" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if got := s.Requests(); got[len(got)-1] != "GET /api/v1/namespaces/_/actions?limit=1&skip=1" {
		t.Errorf("request %q", got[len(got)-1])
	}

	if _, err := c.DeleteAction(ctx, "_", "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAction(ctx, "_", "hello", false); client.StatusCode(err) != http.StatusNotFound {
		t.Errorf("get deleted: %v, want 404", err)
	}
	if _, err := c.ListActions(ctx, "other", 0, 0); client.StatusCode(err) != http.StatusForbidden {
		t.Errorf("other namespace: %v, want 403", err)
	}
}

func TestUnauthenticated(t *testing.T) {
	s := clienttest.NewServer(t)
	c, err := client.New(s.URL, "u:wrong")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListActions(context.Background(), "_", 0, 0)
	if client.StatusCode(err) != http.StatusUnauthorized || !strings.Contains(err.Error(), "401 Unauthorized: The supplied authentication is invalid") {
		t.Errorf("err = %v", err)
	}
}

func TestInvoke(t *testing.T) {
	ctx := context.Background()
	c, s := newClient(t)
	for _, n := range []string{"echo", "fail", "slow"} {
		if _, err := c.PutAction(ctx, "_", n, client.ActionSpec{Exec: &client.ExecSpec{Kind: "go"}}, false); err != nil {
			t.Fatal(err)
		}
	}
	s.SetRunner("fail", func(json.RawMessage) (json.RawMessage, int, []string) {
		return activation.ErrorResult("boom"), activation.StatusApplicationError, []string{"oops"}
	})
	s.SetPending("slow", true)

	tests := []struct {
		name             string
		action           string
		blocking, result bool
		wantStatus       int
		wantBody         string // substring
	}{
		{"nonblocking", "echo", false, false, 202, `"activationId"`},
		{"result", "echo", true, true, 200, `{"x":1}`},
		{"record", "echo", true, false, 200, `"response":{"status":"success"`},
		{"failed result", "fail", true, true, 502, `{"error":"boom"}`},
		{"failed record", "fail", true, false, 502, `"statusCode":1`},
		{"still running", "slow", true, true, 202, `"activationId"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := c.Invoke(ctx, "_", tt.action, json.RawMessage(`{"x":1}`), tt.blocking, tt.result, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if r.StatusCode != tt.wantStatus || len(r.ActivationID) != 32 || !strings.Contains(string(r.Body), tt.wantBody) {
				t.Errorf("got %d %q %s", r.StatusCode, r.ActivationID, r.Body)
			}
			if r.Finished() != (tt.wantStatus != 202) || r.Failed() != (tt.wantStatus == 502) {
				t.Errorf("Finished %v Failed %v", r.Finished(), r.Failed())
			}
		})
	}
	reqs := s.Requests()
	if got := reqs[len(reqs)-1]; got != "POST /api/v1/namespaces/_/actions/slow?blocking=true&result=true&timeout=5000" {
		t.Errorf("request %q", got)
	}
	if _, err := c.Invoke(ctx, "_", "missing", nil, false, false, 0); client.StatusCode(err) != 404 {
		t.Errorf("missing action: %v", err)
	}
	if got := string(s.LastBody()); got != "{}" {
		t.Errorf("nil params sent as %q", got)
	}
}

func TestActivations(t *testing.T) {
	ctx := context.Background()
	c, s := newClient(t)
	for i, name := range []string{"a", "b", "a"} {
		r := activation.Record{ActivationID: strings.Repeat(string(rune('0'+i)), 32), Namespace: "guest", Name: name,
			Start: int64(1000 * (i + 1)), Response: activation.NewResponse(0, json.RawMessage(`{"i":1}`)), Logs: []string{"line " + name}}
		s.AddRecord(r)
	}
	all, err := c.ListActivations(ctx, "_", client.ListOptions{})
	if err != nil || len(all) != 3 || all[0].ActivationID[0] != '2' {
		t.Fatalf("list = %+v, %v", all, err)
	}
	if all[0].Logs != nil {
		t.Errorf("summary has logs")
	}
	got, err := c.ListActivations(ctx, "_", client.ListOptions{Name: "a", Since: time.UnixMilli(2000), Upto: time.UnixMilli(5000), Limit: 5, Skip: 0, Docs: true})
	if err != nil || len(got) != 1 || got[0].ActivationID[0] != '2' || len(got[0].Logs) != 1 {
		t.Fatalf("filtered list = %+v, %v", got, err)
	}
	reqs := s.Requests()
	if r := reqs[len(reqs)-1]; r != "GET /api/v1/namespaces/_/activations?docs=true&limit=5&name=a&since=2000&upto=5000" {
		t.Errorf("request %q", r)
	}

	id := all[1].ActivationID
	rec, err := c.GetActivation(ctx, "_", id)
	if err != nil || rec.Name != "b" || string(rec.Response.Result) != `{"i":1}` {
		t.Fatalf("get = %+v, %v", rec, err)
	}
	logs, err := c.GetActivationLogs(ctx, "_", id)
	if err != nil || len(logs) != 1 || logs[0] != "line b" {
		t.Fatalf("logs = %q, %v", logs, err)
	}
	res, err := c.GetActivationResult(ctx, "_", id)
	if err != nil || !res.Success || string(res.Result) != `{"i":1}` {
		t.Fatalf("result = %+v, %v", res, err)
	}
	if _, err := c.GetActivation(ctx, "_", "nope"); client.StatusCode(err) != 404 {
		t.Errorf("missing: %v", err)
	}
}

func TestAPIErrorWithoutJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/namespaces/_/actions" {
			http.Error(w, "upstream down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, "u:k")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListActions(context.Background(), "_", 0, 0)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 503 || ae.Message != "upstream down" {
		t.Errorf("err = %v", err)
	}
	_, err = c.GetActivation(context.Background(), "_", "x")
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.Message != "too many requests" {
		t.Errorf("err = %v", err)
	}
}
