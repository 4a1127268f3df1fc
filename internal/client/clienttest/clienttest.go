// Package clienttest provides an in-memory fake of Flurry's
// OpenWhisk-compatible REST API on an httptest server, for tests of the
// client and the CLI. Actions "run" as Go functions in the test process.
// It mimics the wire format and status codes of /api/v1, not the
// platform's behaviour (no limits, no queueing); it must not be used
// outside tests.
package clienttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/entity"
)

// Auth is the key the fake accepts; Namespace is the namespace it opens.
const (
	Auth      = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	Namespace = "guest"
)

// Runner runs one activation of a fake action: it returns the result, the
// activation status code (activation.Status*) and log lines.
type Runner func(params json.RawMessage) (result json.RawMessage, status int, logs []string)

// Server is the fake API. Its fields are guarded by its lock; use the
// methods.
type Server struct {
	*httptest.Server

	mu      sync.Mutex
	actions map[string]*client.Action
	code    map[string]string
	runners map[string]Runner
	// pending names actions whose blocking invocations answer 202.
	pending map[string]bool
	records []*activation.Record
	// Requests lists "METHOD path?query" of every request, in order.
	requests []string
	bodies   [][]byte
	clock    time.Time
}

// NewServer starts a fake API on 127.0.0.1; it is closed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		actions: map[string]*client.Action{},
		code:    map[string]string{},
		runners: map[string]Runner{},
		pending: map[string]bool{},
		clock:   time.UnixMilli(1_700_000_000_000),
	}
	mux := http.NewServeMux()
	p := "/api/v1/namespaces/{ns}/"
	mux.HandleFunc("PUT "+p+"actions/{name}", s.putAction)
	mux.HandleFunc("GET "+p+"actions/{name}", s.getAction)
	mux.HandleFunc("GET "+p+"actions", s.listActions)
	mux.HandleFunc("DELETE "+p+"actions/{name}", s.deleteAction)
	mux.HandleFunc("POST "+p+"actions/{name}", s.invoke)
	mux.HandleFunc("GET "+p+"activations", s.listActivations)
	mux.HandleFunc("GET "+p+"activations/{id}", s.getActivation)
	mux.HandleFunc("GET "+p+"activations/{id}/logs", s.getActivation)
	mux.HandleFunc("GET "+p+"activations/{id}/result", s.getActivation)
	s.Server = httptest.NewServer(s.authenticate(mux))
	t.Cleanup(s.Close)
	return s
}

// SetRunner makes name's invocations run fn.
func (s *Server) SetRunner(name string, fn Runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runners[name] = fn
}

// SetPending makes blocking invocations of name answer 202 (still running).
func (s *Server) SetPending(name string, pending bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending[name] = pending
}

// AddRecord stores an activation record as if an action had run.
func (s *Server) AddRecord(r activation.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, &r)
}

// Requests returns "METHOD path?query" of every request so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// LastBody returns the body of the last request with one.
func (s *Server) LastBody() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) == 0 {
		return nil
	}
	return s.bodies[len(s.bodies)-1]
}

// Code returns the stored code of an action.
func (s *Server) Code(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code[name]
}

func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
		s.mu.Unlock()
		u, p, ok := r.BasicAuth()
		if !ok || u+":"+p != Auth {
			writeError(w, http.StatusUnauthorized, "The supplied authentication is invalid")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// namespace resolves "_" and refuses other tenants' namespaces.
func namespace(w http.ResponseWriter, r *http.Request) (string, bool) {
	ns := r.PathValue("ns")
	if ns == "_" || ns == Namespace {
		return Namespace, true
	}
	writeError(w, http.StatusForbidden, "The supplied authentication is not authorized to access this resource.")
	return "", false
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg, "code": "fake"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) putAction(w http.ResponseWriter, r *http.Request) {
	ns, ok := namespace(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	var spec client.ActionSpec
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		writeError(w, http.StatusBadRequest, "The request content was malformed: "+err.Error())
		return
	}
	b, _ := json.Marshal(spec)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, b)
	old, exists := s.actions[name]
	if exists && r.URL.Query().Get("overwrite") != "true" {
		writeError(w, http.StatusConflict, "resource already exists")
		return
	}
	if !exists && spec.Exec == nil {
		writeError(w, http.StatusBadRequest, "exec undefined")
		return
	}
	a := &client.Action{Namespace: ns, Name: name, Version: "0.0.1", Revision: 1}
	if exists {
		c := *old
		a = &c
		a.Revision++
		a.Version = "0.0." + strconv.FormatUint(a.Revision, 10)
	}
	if spec.Exec != nil {
		a.Exec = client.Exec{Exec: entity.Exec{Kind: spec.Exec.Kind, Main: spec.Exec.Main, Binary: spec.Exec.Binary, Image: spec.Exec.Image, CodeSize: int64(len(spec.Exec.Code))}}
		s.code[name] = spec.Exec.Code
	}
	if spec.Parameters != nil {
		a.Parameters = spec.Parameters
	}
	if spec.Annotations != nil {
		a.Annotations = spec.Annotations
	}
	l := entity.Limits{}
	if spec.Limits != nil {
		l = entity.Limits{Timeout: spec.Limits.Timeout, Memory: spec.Limits.Memory, Concurrency: spec.Limits.Concurrency}
	}
	if spec.Limits != nil || !exists {
		a.Limits = l.WithDefaults()
	}
	a.Updated = s.clock.UnixMilli()
	s.actions[name] = a
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) getAction(w http.ResponseWriter, r *http.Request) {
	if _, ok := namespace(w, r); !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.actions[r.PathValue("name")]
	if !ok {
		writeError(w, http.StatusNotFound, "The requested resource does not exist.")
		return
	}
	c := *a
	if r.URL.Query().Get("code") != "false" {
		c.Exec.Code = s.code[a.Name]
	}
	writeJSON(w, http.StatusOK, &c)
}

func (s *Server) listActions(w http.ResponseWriter, r *http.Request) {
	if _, ok := namespace(w, r); !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*client.Action{}
	for _, a := range s.actions {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	skip, limit := intParam(r, "skip"), intParam(r, "limit")
	writeJSON(w, http.StatusOK, page(out, skip, limit))
}

func page[T any](s []T, skip, limit int64) []T {
	if skip > int64(len(s)) {
		skip = int64(len(s))
	}
	s = s[skip:]
	if limit > 0 && limit < int64(len(s)) {
		s = s[:limit]
	}
	return s
}

func intParam(r *http.Request, key string) int64 {
	n, _ := strconv.ParseInt(r.URL.Query().Get(key), 10, 64)
	return n
}

func (s *Server) deleteAction(w http.ResponseWriter, r *http.Request) {
	if _, ok := namespace(w, r); !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := r.PathValue("name")
	a, ok := s.actions[name]
	if !ok {
		writeError(w, http.StatusNotFound, "The requested resource does not exist.")
		return
	}
	delete(s.actions, name)
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	ns, ok := namespace(w, r)
	if !ok {
		return
	}
	var params json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&params); err != nil {
		writeError(w, http.StatusBadRequest, "The request content was malformed: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, params)
	name := r.PathValue("name")
	a, ok := s.actions[name]
	if !ok {
		writeError(w, http.StatusNotFound, "The requested resource does not exist.")
		return
	}
	run := s.runners[name]
	if run == nil {
		run = func(p json.RawMessage) (json.RawMessage, int, []string) { return p, activation.StatusSuccess, nil }
	}
	s.clock = s.clock.Add(time.Second)
	id := activation.NewID()
	w.Header().Set("X-Openwhisk-Activation-Id", id)
	q := r.URL.Query()
	blocking := q.Get("blocking") == "true"
	result, status, logs := run(params)
	rec := &activation.Record{
		ActivationID: id, Namespace: ns, Name: name, Version: a.Version, Subject: "fake",
		Start: s.clock.UnixMilli(), End: s.clock.UnixMilli() + 12, Duration: 12,
		Response: activation.NewResponse(status, result), Logs: logs,
	}
	if logs == nil {
		rec.Logs = []string{}
	}
	rec.Annotate(activation.AnnotationKind, a.Exec.Kind)
	rec.Annotate(activation.AnnotationPath, ns+"/"+name)
	rec.Annotate(activation.AnnotationStart, "cold")
	s.records = append(s.records, rec)
	if !blocking || s.pending[name] {
		writeJSON(w, http.StatusAccepted, map[string]string{"activationId": id})
		return
	}
	code := http.StatusOK
	if status != activation.StatusSuccess {
		code = http.StatusBadGateway
	}
	if q.Get("result") == "true" {
		writeJSON(w, code, rec.Response.Result)
		return
	}
	writeJSON(w, code, rec)
}

func (s *Server) listActivations(w http.ResponseWriter, r *http.Request) {
	if _, ok := namespace(w, r); !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	name, since, upto := q.Get("name"), intParam(r, "since"), intParam(r, "upto")
	out := []activation.Record{}
	for i := len(s.records) - 1; i >= 0; i-- {
		rec := *s.records[i]
		if name != "" && rec.Name != name || since > 0 && rec.Start < since || upto > 0 && rec.Start > upto {
			continue
		}
		if q.Get("docs") != "true" {
			// Summaries, as OpenWhisk's: no logs and no result.
			rec.Logs, rec.Response.Result = nil, nil
		}
		out = append(out, rec)
	}
	writeJSON(w, http.StatusOK, page(out, intParam(r, "skip"), intParam(r, "limit")))
}

func (s *Server) getActivation(w http.ResponseWriter, r *http.Request) {
	if _, ok := namespace(w, r); !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	for _, rec := range s.records {
		if rec.ActivationID != id {
			continue
		}
		switch path := r.URL.Path; {
		case strings.HasSuffix(path, "/logs"):
			writeJSON(w, http.StatusOK, map[string][]string{"logs": rec.Logs})
		case strings.HasSuffix(path, "/result"):
			writeJSON(w, http.StatusOK, rec.Response)
		default:
			writeJSON(w, http.StatusOK, rec)
		}
		return
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("activation %s does not exist", id))
}
