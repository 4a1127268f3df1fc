package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/client/clienttest"
	"github.com/flurryfn/flurry/internal/testutil"
)

func addRecord(s *clienttest.Server, id, name string, start time.Time, code int, logs ...string) {
	r := activation.Record{ActivationID: id, Namespace: clienttest.Namespace, Name: name, Version: "0.0.1",
		Start: start.UnixMilli(), End: start.UnixMilli() + 1500, Duration: 1500,
		Response: activation.NewResponse(code, json.RawMessage(`{"ok":true}`)), Logs: logs}
	r.Annotate(activation.AnnotationKind, "go")
	r.Annotate(activation.AnnotationStart, "prewarm")
	s.AddRecord(r)
}

func TestCLIActivationReads(t *testing.T) {
	s := cliFake(t)
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.Local)
	addRecord(s, "aaaa", "hello", t0, 0, "2025-03-01T10:00:00Z stdout: hi")
	addRecord(s, "bbbb", "world", t0.Add(time.Minute), 2)

	out, _, err := runCLI(t, cliActivation, "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "Datetime") {
		t.Fatalf("list:\n%s", out)
	}
	for i, want := range [][]string{
		{"2025-03-01 10:01:00", "bbbb", "go", "prewarm", "1.5s", "developer error", "guest/world:0.0.1"},
		{"2025-03-01 10:00:00", "aaaa", "success", "guest/hello:0.0.1"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("row %q lacks %q", lines[i+1], w)
			}
		}
	}
	out, _, err = runCLI(t, cliActivation, "list", "hello", "--limit", "3", "--since", fmt.Sprint(t0.UnixMilli()), "-o", "json")
	var recs []activation.Record
	if err != nil || json.Unmarshal([]byte(out), &recs) != nil || len(recs) != 1 || recs[0].ActivationID != "aaaa" {
		t.Errorf("list json: %q, %v", out, err)
	}
	if r := s.Requests(); !strings.HasSuffix(r[len(r)-1], fmt.Sprintf("activations?limit=3&name=hello&since=%d", t0.UnixMilli())) {
		t.Errorf("request %q", r[len(r)-1])
	}

	tests := []struct {
		args []string
		want string
		exit int
	}{
		{args: []string{"get", "aaaa"}, want: "ok: got activation aaaa\n{\n  \"activationId\": \"aaaa\""},
		{args: []string{"get", "aaaa", "-o", "json"}, want: "{\n  \"activationId\": \"aaaa\""},
		{args: []string{"logs", "aaaa"}, want: "2025-03-01T10:00:00Z stdout: hi\n"},
		{args: []string{"logs", "bbbb", "-o", "json"}, want: "{\n  \"logs\": []\n}\n"},
		{args: []string{"result", "aaaa"}, want: "{\n  \"ok\": true\n}\n"},
		{args: []string{"result", "bbbb", "-o", "json"}, want: `"status": "action developer error"`},
		{args: []string{"get", "zzzz"}, exit: 1},
		{args: []string{"get"}, exit: 2},
		{args: []string{"-h"}, want: "poll [NAME]"},
		{args: []string{"poll", "-h"}, want: "--exit SECONDS"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := runCLI(t, cliActivation, tt.args...)
			if (err == nil) != (tt.exit == 0) || (err != nil && exitCode(err) != tt.exit) {
				t.Fatalf("err = %v, want exit %d", err, tt.exit)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("stdout %q lacks %q", out, tt.want)
			}
		})
	}
}

func TestCLIActivationPoll(t *testing.T) {
	s := cliFake(t)
	addRecord(s, "old0", "hello", time.Now().Add(-time.Hour), 0, "too old")
	addRecord(s, "new1", "hello", time.Now(), 0, "first line")
	addRecord(s, "othr", "other", time.Now(), 0, "other action")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testutil.Buffer
	done := make(chan error, 1)
	go func() {
		done <- cliActivation(ctx, cliIO{stdout: &stdout, stderr: &stderr}, []string{"poll", "hello", "--since-seconds", "60", "--interval", "10ms"})
	}()
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(stdout.String(), "Activation: 'hello' (new1) success\nfirst line\n") {
			return fmt.Errorf("stdout %q", stdout.String())
		}
		return nil
	})
	addRecord(s, "new2", "hello", time.Now(), 1, "second line")
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(stdout.String(), "(new2) application error\nsecond line\n") {
			return fmt.Errorf("stdout %q", stdout.String())
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("poll ended with %v", err)
	}
	out := stdout.String()
	if strings.Count(out, "first line") != 1 || strings.Contains(out, "too old") || strings.Contains(out, "other action") {
		t.Errorf("stdout %q: each new activation of hello exactly once", out)
	}

	// --exit bounds a poll; json prints one record per line.
	out, _, err := runCLI(t, cliActivation, "poll", "--exit", "100ms", "--since-seconds", "60", "--interval", "10ms", "-o", "json")
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"activationId":"new2"`) {
		t.Errorf("poll --exit: %q, %v", out, err)
	}
}
