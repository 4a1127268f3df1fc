package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/client/clienttest"
)

// deadLetterAPI fakes the dead-letter routes of /api/v1 and records the
// requests it gets.
func deadLetterAPI(t *testing.T) *[]string {
	t.Helper()
	var mu sync.Mutex
	var reqs []string
	dl := activation.DeadLetter{ActivationID: "dead1", Namespace: "guest", Name: "bad", Reason: activation.ReasonRetriesExhausted,
		Attempts: 3, Time: 1_700_000_000_000,
		Record: activation.Record{ActivationID: "dead1", Response: activation.NewResponse(activation.StatusApplicationError, nil)}}
	mux := http.NewServeMux()
	p := "/api/v1/namespaces/{ns}/deadletters"
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, []activation.DeadLetter{dl}) })
	mux.HandleFunc("GET "+p+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "dead1" {
			writeJSON(w, 404, map[string]string{"error": "the requested resource does not exist", "code": "x"})
			return
		}
		writeJSON(w, 200, dl)
	})
	mux.HandleFunc("DELETE "+p+"/{id}", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, dl) })
	mux.HandleFunc("POST "+p+"/{id}/redrive", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-openwhisk-activation-id", "new1")
		writeJSON(w, 202, map[string]string{"activationId": "new1"})
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, r.Method+" "+r.URL.RequestURI())
		mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cliTestEnv(t)
	t.Setenv("FLURRY_API_HOST", srv.URL)
	t.Setenv("FLURRY_AUTH", clienttest.Auth)
	return &reqs
}

func TestCLIDeadLetter(t *testing.T) {
	reqs := deadLetterAPI(t)
	tests := []struct {
		args    []string
		want    []string
		request string
		fails   bool
	}{
		{[]string{"list", "--limit", "5", "--skip", "1"}, []string{"Activation ID", "dead1", "retries exhausted", "application error", "guest/bad"},
			"GET /api/v1/namespaces/_/deadletters?limit=5&skip=1", false},
		{[]string{"list", "-o", "json"}, []string{`"activationId": "dead1"`}, "GET /api/v1/namespaces/_/deadletters", false},
		{[]string{"get", "dead1"}, []string{"ok: got dead letter dead1", `"reason": "retries exhausted"`}, "GET /api/v1/namespaces/_/deadletters/dead1", false},
		{[]string{"get", "nope"}, nil, "GET /api/v1/namespaces/_/deadletters/nope", true},
		{[]string{"redrive", "dead1"}, []string{"ok: re-drove dead1 with id new1"}, "POST /api/v1/namespaces/_/deadletters/dead1/redrive", false},
		{[]string{"delete", "dead1"}, []string{"ok: deleted dead letter dead1"}, "DELETE /api/v1/namespaces/_/deadletters/dead1", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, _, err := runCLI(t, cliDeadLetter, tt.args...)
			if (err != nil) != tt.fails {
				t.Fatalf("err = %v, want failure %v", err, tt.fails)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if got := (*reqs)[len(*reqs)-1]; got != tt.request {
				t.Errorf("request %q, want %q", got, tt.request)
			}
		})
	}
	for _, args := range [][]string{{}, {"bogus"}, {"get"}, {"list", "extra"}} {
		if _, _, err := runCLI(t, cliDeadLetter, args...); exitCode(err) != 2 {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

func TestCLIActionAsyncFlags(t *testing.T) {
	s := cliFake(t)
	fakeBuild(t)
	dir := t.TempDir()
	src := dir + "/a.go"
	writeFile(t, src, "package main")
	_, _, err := runCLI(t, cliAction, "create", "async", src, "--retry-attempts", "3", "--retry-backoff", "100",
		"--retry-max-backoff", "2000", "--max-event-age", "60000", "--on-success", "events.guest.ok", "--on-failure", "events.guest.failed")
	if err != nil {
		t.Fatal(err)
	}
	var spec client.ActionSpec
	if err := json.Unmarshal(s.LastBody(), &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Retry == nil || spec.Retry.MaxAttempts != 3 || spec.Retry.InitialBackoff != 100 || spec.Retry.MaxBackoff != 2000 ||
		spec.Retry.MaxEventAge != 60000 || spec.Destinations == nil || spec.Destinations.OnSuccess != "events.guest.ok" ||
		spec.Destinations.OnFailure != "events.guest.failed" {
		t.Fatalf("spec %s", s.LastBody())
	}

	// Without the flags nothing is sent: the server keeps what it has.
	if _, _, err := runCLI(t, cliAction, "update", "async", "-p", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if b := string(s.LastBody()); strings.Contains(b, "retry") || strings.Contains(b, "destinations") {
		t.Fatalf("update without flags sent %s", b)
	}
	if _, _, err := runCLI(t, cliAction, "update", "async", "--retry-attempts", "x"); exitCode(err) != 2 {
		t.Fatalf("bad number: %v", err)
	}
}
