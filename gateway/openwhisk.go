package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

// The OpenWhisk-compatible REST API under /api/v1: the paths, JSON shapes
// and status codes of OpenWhisk's controller, so wsk and its SDKs work.

// headerActivationID carries the activation id on every invoke response.
const headerActivationID = "x-openwhisk-activation-id"

// methods dispatches a route by HTTP method, answering others with 405.
type methods map[string]func(http.ResponseWriter, *http.Request)

func (g *Gateway) route(ms methods) http.HandlerFunc {
	allow := make([]string, 0, len(ms))
	for m := range ms {
		allow = append(allow, m)
	}
	sort.Strings(allow)
	return func(w http.ResponseWriter, r *http.Request) {
		h, ok := ms[r.Method]
		if !ok {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			g.writeError(w, r, fmt.Errorf("%s %s: %w", r.Method, quoteShort(r.URL.Path), errMethodNotAllowed))
			return
		}
		if err := checkPathValues(r); err != nil {
			g.writeError(w, r, err)
			return
		}
		h(w, r)
	}
}

func (g *Gateway) routeOpenWhisk(mux *http.ServeMux) {
	mux.Handle("/api/v1", g.route(methods{http.MethodGet: g.apiInfo}))
	mux.Handle("/api/v1/namespaces", g.route(methods{http.MethodGet: g.listNamespaces}))
	mux.Handle("/api/v1/namespaces/{ns}/actions", g.route(methods{http.MethodGet: g.listActions}))
	mux.Handle("/api/v1/namespaces/{ns}/actions/{name}", g.limitBody(g.route(methods{
		http.MethodPut:    g.putAction,
		http.MethodGet:    g.getAction,
		http.MethodDelete: g.deleteAction,
		http.MethodPost:   g.invoke,
	})))
	mux.Handle("/api/v1/namespaces/{ns}/activations", g.route(methods{http.MethodGet: g.listActivations}))
	mux.Handle("/api/v1/namespaces/{ns}/activations/{id}", g.route(methods{http.MethodGet: g.getActivation}))
	mux.Handle("/api/v1/namespaces/{ns}/activations/{id}/logs", g.route(methods{http.MethodGet: g.activationLogs}))
	mux.Handle("/api/v1/namespaces/{ns}/activations/{id}/result", g.route(methods{http.MethodGet: g.activationResult}))
	g.routeDeadLetters(mux)
	g.routeTriggers(mux)
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		g.writeError(w, r, fmt.Errorf("path %s: %w", quoteShort(r.URL.Path), controller.ErrNotFound))
	})
}

func (g *Gateway) apiInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"description":      "Flurry, an OpenWhisk-compatible function platform",
		"api_version":      "1.0.0",
		"api_version_path": "v1",
		"swagger_paths":    map[string]string{"api-docs": "/api/v1/openapi.json"},
	})
}

func (g *Gateway) listNamespaces(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, []string{id.Namespace})
}

// owExec is OpenWhisk's exec object.
type owExec struct {
	Kind   string  `json:"kind"`
	Code   *string `json:"code,omitempty"`
	Binary bool    `json:"binary"`
	Main   string  `json:"main,omitempty"`
	Image  string  `json:"image,omitempty"`
	// Components are a sequence's actions (kind "sequence").
	Components []string `json:"components,omitempty"`
}

// owAction is OpenWhisk's action document (request and response).
type owAction struct {
	Namespace   string            `json:"namespace,omitempty"`
	Name        string            `json:"name,omitempty"`
	Version     string            `json:"version,omitempty"`
	Exec        *owExec           `json:"exec,omitempty"`
	Parameters  []entity.KeyValue `json:"parameters"`
	Limits      *owLimits         `json:"limits,omitempty"`
	Annotations []entity.KeyValue `json:"annotations"`
	Publish     bool              `json:"publish"`
	Updated     int64             `json:"updated,omitempty"`
	// Retry and Destinations are Flurry's extensions (asynchronous
	// activations); absent on update keeps them.
	Retry        *entity.RetryPolicy  `json:"retry,omitempty"`
	Destinations *entity.Destinations `json:"destinations,omitempty"`
}

// owLimits is OpenWhisk's limits object. On input it tells a limit given
// as 0 (refused, as OpenWhisk refuses it) from one left out (the default,
// or on update the current value), which entity.Limits cannot.
type owLimits struct {
	entity.Limits
	zero []string
}

func (l *owLimits) UnmarshalJSON(b []byte) error {
	var in struct {
		Timeout, Memory, Concurrency, Logs *int64
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		in   *int64
		out  *int64
	}{{"timeout", in.Timeout, &l.Timeout}, {"memory", in.Memory, &l.Memory}, {"concurrency", in.Concurrency, &l.Concurrency}, {"logs", in.Logs, &l.Logs}} {
		if f.in == nil {
			continue
		}
		*f.out = *f.in
		if *f.in == 0 && f.name != "logs" {
			l.zero = append(l.zero, f.name)
		}
	}
	return nil
}

// checkGiven refuses limits given as 0 (logs may be 0), with the bounds
// entity.Limits.Validate names.
func (l *owLimits) checkGiven() error {
	for _, z := range l.zero {
		lim := entity.Limits{}.WithDefaults()
		switch z {
		case "timeout":
			lim.Timeout = 0
		case "memory":
			lim.Memory = 0
		case "concurrency":
			lim.Concurrency = 0
		}
		if err := lim.Validate(); err != nil {
			return fmt.Errorf("limits: %w (leave a limit out for its default)", err)
		}
	}
	return nil
}

func toOWAction(a *entity.Action, code []byte, withCode bool) owAction {
	exec := &owExec{Kind: a.Exec.Kind, Binary: a.Exec.Binary, Main: a.Exec.Main, Image: a.Exec.Image}
	exec.Components = a.Exec.Components
	if withCode && code != nil {
		c := string(code)
		exec.Code = &c
	}
	limits := owLimits{Limits: a.Limits}
	return owAction{
		Namespace:    a.Namespace,
		Name:         a.Name,
		Version:      a.Version,
		Exec:         exec,
		Parameters:   nonNil(a.Parameters),
		Limits:       &limits,
		Annotations:  nonNil(a.Annotations),
		Publish:      a.Publish,
		Updated:      a.Updated,
		Retry:        a.Retry,
		Destinations: a.Destinations,
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// readBody reads a request body under the limit set by limitBody,
// answering 413 for a body that exceeds it.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, fmt.Errorf("request body exceeds %d bytes: %w", mbe.Limit, controller.ErrTooLarge)
	case err != nil:
		return nil, fmt.Errorf("read request body: %w: %w", err, controller.ErrInvalid)
	}
	return b, nil
}

// boolParam parses an optional OpenWhisk boolean query parameter.
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	s := queryParam(r.URL.RawQuery, name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("query parameter %s=%q is not a boolean: %w", name, s, controller.ErrInvalid)
	}
	return v, nil
}

// queryParam returns the first value of name in the raw query, as
// r.URL.Query().Get(name) would, without building the map of every
// parameter (the invoke path asks for three on every call).
func queryParam(raw, name string) string {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if strings.Contains(pair, ";") {
			continue // url.ParseQuery rejects the pair
		}
		k, v, _ := strings.Cut(pair, "=")
		// QueryUnescape allocates only when there is something to unescape.
		if k, err := url.QueryUnescape(k); err != nil || k != name {
			continue
		}
		if v, err := url.QueryUnescape(v); err == nil {
			return v
		}
	}
	return ""
}

// intParam parses an optional non-negative integer query parameter.
func intParam(r *http.Request, name string) (int64, error) {
	s := queryParam(r.URL.RawQuery, name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("query parameter %s=%q is not a non-negative integer: %w", name, s, controller.ErrInvalid)
	}
	return v, nil
}

func (g *Gateway) putAction(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	overwrite, err := boolParam(r, "overwrite", false)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	var doc owAction
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &doc); err != nil {
			g.writeError(w, r, fmt.Errorf("the request content was malformed: %w: %w", err, controller.ErrInvalid))
			return
		}
	}
	req := controller.PutActionRequest{
		Namespace:    r.PathValue("ns"),
		Name:         r.PathValue("name"),
		Overwrite:    overwrite,
		Parameters:   doc.Parameters,
		Annotations:  doc.Annotations,
		Publish:      doc.Publish,
		Retry:        doc.Retry,
		Destinations: doc.Destinations,
	}
	if doc.Exec != nil {
		req.Exec = entity.Exec{Kind: doc.Exec.Kind, Main: doc.Exec.Main, Binary: doc.Exec.Binary, Image: doc.Exec.Image}
		req.Exec.Components = doc.Exec.Components
		if doc.Exec.Code != nil {
			req.Code = []byte(*doc.Exec.Code)
		}
	}
	if doc.Limits != nil {
		if err := doc.Limits.checkGiven(); err != nil {
			g.writeError(w, r, err)
			return
		}
		req.Limits = doc.Limits.Limits
	}
	a, err := g.backend.PutAction(r.Context(), id, req)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	// OpenWhisk answers with the stored action, code included.
	writeJSON(w, http.StatusOK, toOWAction(a, req.Code, true))
}

func (g *Gateway) getAction(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	withCode, err := boolParam(r, "code", true)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	a, code, err := g.backend.GetAction(r.Context(), id, r.PathValue("ns"), r.PathValue("name"), withCode)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toOWAction(a, code, withCode))
}

func (g *Gateway) deleteAction(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	a, err := g.backend.DeleteAction(r.Context(), id, r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toOWAction(a, nil, false))
}

// listParams reads ?skip and ?limit with OpenWhisk's bounds.
func listParams(r *http.Request) (skip, limit int, err error) {
	s, err := intParam(r, "skip")
	if err != nil {
		return 0, 0, err
	}
	l, err := intParam(r, "limit")
	if err != nil {
		return 0, 0, err
	}
	if l > controller.MaxListLimit || s > 1<<31-1 {
		return 0, 0, fmt.Errorf("limit %d is not in [0, %d]: %w", l, controller.MaxListLimit, controller.ErrInvalid)
	}
	return listBounds(int(s), int(l))
}

func (g *Gateway) listActions(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	skip, limit, err := listParams(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	as, err := g.backend.ListActions(r.Context(), id, r.PathValue("ns"), skip, limit)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	out := make([]owAction, 0, len(as))
	for _, a := range as {
		out = append(out, toOWAction(a, nil, false))
	}
	writeJSON(w, http.StatusOK, out)
}

// invoke is POST /api/v1/namespaces/{ns}/actions/{name}: the body is the
// parameters object. Status codes as OpenWhisk: 202 {activationId} when not
// blocking or when the wait ran out, 200 for a successful blocking
// activation, 502 for one that failed with an application or developer
// error, 500 for an internal error; the body is the record, or only its
// result with ?result=true.
func (g *Gateway) invoke(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	blocking, err := boolParam(r, "blocking", false)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	resultOnly, err := boolParam(r, "result", false)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	timeout, err := intParam(r, "timeout")
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	key, err := idempotencyKey(r.Header)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	params := bytes.TrimSpace(body)
	if len(params) == 0 || string(params) == "null" {
		// No parameters; clients that marshal a nil map send null.
		params = []byte("{}")
	}
	if params[0] != '{' || !json.Valid(params) {
		g.writeError(w, r, fmt.Errorf("the request content was malformed: parameters must be a JSON object: %w", controller.ErrInvalid))
		return
	}
	if len(params) > entity.MaxPayloadBytes {
		g.writeError(w, r, fmt.Errorf("parameters of %d bytes exceed %d bytes: %w", len(params), entity.MaxPayloadBytes, controller.ErrTooLarge))
		return
	}
	res, err := g.backend.Invoke(r.Context(), id, controller.InvokeRequest{
		Namespace: r.PathValue("ns"),
		Name:      r.PathValue("name"),
		Params:    params,
		Blocking:  blocking,
		Wait:      time.Duration(timeout) * time.Millisecond,

		IdempotencyKey: key,
	})
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	w.Header().Set(headerActivationID, res.ActivationID)
	if !blocking || res.Record == nil {
		writeJSON(w, http.StatusAccepted, map[string]string{"activationId": res.ActivationID})
		return
	}
	rec := res.Record
	code := http.StatusOK
	switch rec.Response.StatusCode {
	case activation.StatusSuccess:
	case activation.StatusApplicationError, activation.StatusDeveloperError:
		code = http.StatusBadGateway
	default:
		code = http.StatusInternalServerError
	}
	if resultOnly {
		writeJSON(w, code, resultOf(rec))
		return
	}
	writeJSON(w, code, owRecord(rec, true))
}

// resultOf is a record's result, {} when it has none.
func resultOf(rec *activation.Record) json.RawMessage {
	if len(rec.Response.Result) == 0 {
		return json.RawMessage("{}")
	}
	return rec.Response.Result
}

// owRecord prepares a record for the wire: slices as [] rather than null,
// and without logs and result unless docs (OpenWhisk's list summary).
func owRecord(rec *activation.Record, docs bool) *activation.Record {
	c := *rec
	c.Logs = nonNil(c.Logs)
	c.Annotations = nonNil(c.Annotations)
	if !docs {
		c.Logs = []string{}
		c.Response.Result = nil
	}
	return &c
}

func (g *Gateway) listActivations(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	skip, limit, err := listParams(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	since, err := intParam(r, "since")
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	upto, err := intParam(r, "upto")
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	docs, err := boolParam(r, "docs", false)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	name := queryParam(r.URL.RawQuery, "name")
	for _, err := range []error{checkName("action", name), checkTime("since", since), checkTime("upto", upto)} {
		if err != nil {
			g.writeError(w, r, err)
			return
		}
	}
	recs, err := g.backend.ListActivations(r.Context(), id, controller.ListActivationsRequest{
		Namespace: r.PathValue("ns"),
		Name:      name,
		Skip:      skip,
		Limit:     limit,
		Since:     since,
		Upto:      upto,
	})
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	out := make([]*activation.Record, 0, len(recs))
	for _, rec := range recs {
		out = append(out, owRecord(rec, docs))
	}
	writeJSON(w, http.StatusOK, out)
}

// activationRecord authenticates and reads the record named by the path.
func (g *Gateway) activationRecord(w http.ResponseWriter, r *http.Request) (*activation.Record, bool) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return nil, false
	}
	rec, err := g.backend.GetActivation(r.Context(), id, r.PathValue("ns"), r.PathValue("id"))
	if err != nil {
		g.writeError(w, r, err)
		return nil, false
	}
	return rec, true
}

func (g *Gateway) getActivation(w http.ResponseWriter, r *http.Request) {
	if rec, ok := g.activationRecord(w, r); ok {
		writeJSON(w, http.StatusOK, owRecord(rec, true))
	}
}

func (g *Gateway) activationLogs(w http.ResponseWriter, r *http.Request) {
	if rec, ok := g.activationRecord(w, r); ok {
		writeJSON(w, http.StatusOK, map[string][]string{"logs": nonNil(rec.Logs)})
	}
}

func (g *Gateway) activationResult(w http.ResponseWriter, r *http.Request) {
	if rec, ok := g.activationRecord(w, r); ok {
		writeJSON(w, http.StatusOK, map[string]any{
			"result":  resultOf(rec),
			"status":  rec.Response.Status,
			"success": rec.Response.Success,
		})
	}
}
