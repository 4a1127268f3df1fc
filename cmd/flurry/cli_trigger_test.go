package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flurryfn/flurry/internal/client/clienttest"
)

// triggerAPI fakes the trigger and rule routes of /api/v1 and records
// "METHOD URI BODY" of each request. Trigger "idle" has no active rule.
func triggerAPI(t *testing.T) *[]string {
	t.Helper()
	var mu sync.Mutex
	var reqs []string
	rule := `{"namespace":"guest","name":"r","version":"0.0.1","status":"active","trigger":{"name":"t","path":"guest"},"action":{"name":"hello","path":"guest"}}`
	trig := `{"namespace":"guest","name":"t","version":"0.0.1","parameters":[],"annotations":[],"source":{"cron":{"expression":"* * * * * *"}}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(body)))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/triggers/idle"):
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/triggers/"):
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"activationId":"fired1"}`)
		case strings.HasSuffix(r.URL.Path, "/triggers"):
			io.WriteString(w, "["+trig+"]")
		case strings.Contains(r.URL.Path, "/triggers/"):
			io.WriteString(w, trig)
		case strings.HasSuffix(r.URL.Path, "/rules"):
			io.WriteString(w, "["+rule+"]")
		default:
			io.WriteString(w, rule)
		}
	}))
	t.Cleanup(srv.Close)
	cliTestEnv(t)
	t.Setenv("FLURRY_API_HOST", srv.URL)
	t.Setenv("FLURRY_AUTH", clienttest.Auth)
	return &reqs
}

func TestCLITriggerAndRule(t *testing.T) {
	reqs := triggerAPI(t)
	for _, tt := range []struct {
		cmd     func(context.Context, cliIO, []string) error
		args    []string
		want    string
		request string
	}{
		{cliTrigger, []string{"create", "t", "--cron", "*/5 * * * * *", "--tz", "Europe/Berlin", "--missed", "fire-once", "-p", "k", "1"}, "ok: created trigger t",
			`PUT /api/v1/namespaces/_/triggers/t {"parameters":[{"key":"k","value":1}],"source":{"cron":{"expression":"*/5 * * * * *","timeZone":"Europe/Berlin","missed":"fire-once"}}}`},
		{cliTrigger, []string{"update", "t", "--interval", "30s"}, "ok: updated trigger t",
			`PUT /api/v1/namespaces/_/triggers/t?overwrite=true {"source":{"interval":{"every":30000}}}`},
		{cliTrigger, []string{"list"}, `"* * * * * *" UTC`, "GET /api/v1/namespaces/_/triggers"},
		{cliTrigger, []string{"get", "t", "-o", "json"}, `"expression": "* * * * * *"`, "GET /api/v1/namespaces/_/triggers/t"},
		{cliTrigger, []string{"fire", "t", "-p", "x", "y"}, "ok: triggered /_/t with id fired1", `POST /api/v1/namespaces/_/triggers/t {"x":"y"}`},
		{cliTrigger, []string{"fire", "idle", "-o", "json"}, `"activationId": ""`, `POST /api/v1/namespaces/_/triggers/idle {}`},
		{cliTrigger, []string{"delete", "t"}, "ok: deleted trigger t", "DELETE /api/v1/namespaces/_/triggers/t"},
		{cliRule, []string{"create", "r", "t", "hello"}, "ok: created rule r", `PUT /api/v1/namespaces/_/rules/r {"action":"hello","trigger":"t"}`},
		{cliRule, []string{"disable", "r"}, "ok: disabled rule r", `POST /api/v1/namespaces/_/rules/r {"status":"inactive"}`},
		{cliRule, []string{"enable", "r", "-o", "json"}, `"status": "active"`, `POST /api/v1/namespaces/_/rules/r {"status":"active"}`},
		{cliRule, []string{"list"}, "/guest/r", "GET /api/v1/namespaces/_/rules"},
		{cliRule, []string{"get", "r"}, `"name": "hello"`, "GET /api/v1/namespaces/_/rules/r"},
		{cliRule, []string{"delete", "r"}, "ok: deleted rule r", "DELETE /api/v1/namespaces/_/rules/r"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := runCLI(t, tt.cmd, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
			if got := (*reqs)[len(*reqs)-1]; got != tt.request {
				t.Errorf("request\n %s\nwant\n %s", got, tt.request)
			}
		})
	}
	for _, args := range [][]string{{}, {"bogus"}, {"create"}, {"create", "t", "--cron", "x", "--interval", "1s"},
		{"create", "t", "--tz", "UTC"}, {"create", "t", "--interval", "1s", "--missed", "never"}, {"create", "t", "--missed", "skip"}} {
		if _, _, err := runCLI(t, cliTrigger, args...); exitCode(err) != 2 {
			t.Errorf("trigger %q: err = %v, want a usage error", args, err)
		}
	}
	for _, args := range [][]string{{}, {"create", "r", "t"}, {"enable"}} {
		if _, _, err := runCLI(t, cliRule, args...); exitCode(err) != 2 {
			t.Errorf("rule %q: err = %v, want a usage error", args, err)
		}
	}
}
