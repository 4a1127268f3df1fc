package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/entity"
)

// Triggers and rules over the OpenWhisk-compatible REST API:
//
//	PUT    /api/v1/namespaces/{ns}/triggers/{t}[?overwrite=true]  create / update
//	GET    /api/v1/namespaces/{ns}/triggers/{t}                   get
//	DELETE /api/v1/namespaces/{ns}/triggers/{t}                   delete
//	POST   /api/v1/namespaces/{ns}/triggers/{t}                   fire (body = payload):
//	                                                              202 {activationId}, 204 no active rule
//	GET    /api/v1/namespaces/{ns}/triggers[?skip&limit]          list
//	PUT    /api/v1/namespaces/{ns}/rules/{r}[?overwrite=true]     {"trigger","action"}
//	POST   /api/v1/namespaces/{ns}/rules/{r}                      {"status":"active"|"inactive"}
//	GET, DELETE /api/v1/namespaces/{ns}/rules/{r}; GET .../rules[?skip&limit]
//
// A trigger document may carry Flurry's "source" (cron, interval or nats).

// TriggerBackend is the part of Backend for triggers and rules; see the
// controller's methods of the same names for their errors.
type TriggerBackend interface {
	PutTrigger(ctx context.Context, id controller.Identity, req controller.PutTriggerRequest) (*entity.Trigger, error)
	GetTrigger(ctx context.Context, id controller.Identity, ns, name string) (*entity.Trigger, error)
	ListTriggers(ctx context.Context, id controller.Identity, ns string, skip, limit int) ([]*entity.Trigger, error)
	DeleteTrigger(ctx context.Context, id controller.Identity, ns, name string) (*entity.Trigger, error)
	// Fire starts an activation per active rule; an empty ActivationID
	// in the result means no rule was active.
	Fire(ctx context.Context, id controller.Identity, ns, trigger string, payload json.RawMessage, cause string) (controller.FireResult, error)
	PutRule(ctx context.Context, id controller.Identity, req controller.PutRuleRequest) (*entity.Rule, error)
	GetRule(ctx context.Context, id controller.Identity, ns, name string) (*entity.Rule, error)
	ListRules(ctx context.Context, id controller.Identity, ns string, skip, limit int) ([]*entity.Rule, error)
	DeleteRule(ctx context.Context, id controller.Identity, ns, name string) (*entity.Rule, error)
	SetRuleStatus(ctx context.Context, id controller.Identity, ns, name, status string) (*entity.Rule, error)
}

func (g *Gateway) routeTriggers(mux *http.ServeMux) {
	mux.Handle("/api/v1/namespaces/{ns}/triggers", g.route(methods{http.MethodGet: g.listTriggers}))
	mux.Handle("/api/v1/namespaces/{ns}/triggers/{name}", g.limitBody(g.route(methods{
		http.MethodPut:    g.putTrigger,
		http.MethodGet:    g.getTrigger,
		http.MethodDelete: g.deleteTrigger,
		http.MethodPost:   g.fireTrigger,
	})))
	mux.Handle("/api/v1/namespaces/{ns}/rules", g.route(methods{http.MethodGet: g.listRules}))
	mux.Handle("/api/v1/namespaces/{ns}/rules/{name}", g.limitBody(g.route(methods{
		http.MethodPut:    g.putRule,
		http.MethodGet:    g.getRule,
		http.MethodDelete: g.deleteRule,
		http.MethodPost:   g.setRuleStatus,
	})))
}

// owTrigger is OpenWhisk's trigger document, plus Flurry's source.
type owTrigger struct {
	Namespace   string                `json:"namespace,omitempty"`
	Name        string                `json:"name,omitempty"`
	Version     string                `json:"version,omitempty"`
	Publish     bool                  `json:"publish"`
	Parameters  []entity.KeyValue     `json:"parameters"`
	Annotations []entity.KeyValue     `json:"annotations"`
	Limits      map[string]any        `json:"limits"`
	Source      *entity.TriggerSource `json:"source,omitempty"`
	Updated     int64                 `json:"updated,omitempty"`
	// SourceError is why Flurry does not run Source (responses only).
	SourceError string `json:"sourceError,omitempty"`
}

func toOWTrigger(t *entity.Trigger) owTrigger {
	return owTrigger{Namespace: t.Namespace, Name: t.Name, Version: t.Version, Parameters: nonNil(t.Parameters),
		Annotations: nonNil(t.Annotations), Limits: map[string]any{}, Source: t.Source, Updated: t.Updated,
		SourceError: t.SourceError}
}

// owPath is OpenWhisk's reference to an entity in a rule: {name, path}.
type owPath struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// owRule is OpenWhisk's rule document (response).
type owRule struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Publish     bool              `json:"publish"`
	Status      string            `json:"status"`
	Trigger     owPath            `json:"trigger"`
	Action      owPath            `json:"action"`
	Annotations []entity.KeyValue `json:"annotations"`
	Updated     int64             `json:"updated,omitempty"`
}

func toOWRule(r *entity.Rule) owRule {
	return owRule{Namespace: r.Namespace, Name: r.Name, Version: r.Version, Status: r.Status,
		Trigger: owPath{Name: r.Trigger, Path: r.Namespace}, Action: owPath{Name: r.Action, Path: r.Namespace},
		Annotations: []entity.KeyValue{}, Updated: r.Updated}
}

// decodeBody unmarshals an optional JSON body into v.
func decodeBody(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("the request content was malformed: %w: %w", err, controller.ErrInvalid)
	}
	return nil
}

func (g *Gateway) putTrigger(w http.ResponseWriter, r *http.Request) {
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
	var doc owTrigger
	if err := decodeBody(r, &doc); err != nil {
		g.writeError(w, r, err)
		return
	}
	t, err := g.backend.PutTrigger(r.Context(), id, controller.PutTriggerRequest{
		Namespace: r.PathValue("ns"), Name: r.PathValue("name"), Overwrite: overwrite,
		Parameters: doc.Parameters, Annotations: doc.Annotations, Source: doc.Source,
	})
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toOWTrigger(t))
}

func (g *Gateway) getTrigger(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	t, err := g.backend.GetTrigger(r.Context(), id, r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toOWTrigger(t))
}

func (g *Gateway) deleteTrigger(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	t, err := g.backend.DeleteTrigger(r.Context(), id, r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toOWTrigger(t))
}

func (g *Gateway) listTriggers(w http.ResponseWriter, r *http.Request) {
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
	ts, err := g.backend.ListTriggers(r.Context(), id, r.PathValue("ns"), skip, limit)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	out := make([]owTrigger, 0, len(ts))
	for _, t := range ts {
		out = append(out, toOWTrigger(t))
	}
	writeJSON(w, http.StatusOK, out)
}

// fireTrigger answers 202 {activationId} with the trigger activation's
// id, or 204 when no rule was active (as OpenWhisk).
func (g *Gateway) fireTrigger(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	res, err := g.backend.Fire(r.Context(), id, r.PathValue("ns"), r.PathValue("name"), json.RawMessage(body), "")
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	if res.ActivationID == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set(headerActivationID, res.ActivationID)
	writeJSON(w, http.StatusAccepted, map[string]string{"activationId": res.ActivationID})
}

// owRuleRequest is the body of PUT and POST on a rule.
type owRuleRequest struct {
	Trigger string `json:"trigger"`
	Action  string `json:"action"`
	Status  string `json:"status"`
}

func (g *Gateway) putRule(w http.ResponseWriter, r *http.Request) {
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
	var doc owRuleRequest
	if err := decodeBody(r, &doc); err != nil {
		g.writeError(w, r, err)
		return
	}
	rule, err := g.backend.PutRule(r.Context(), id, controller.PutRuleRequest{
		Namespace: r.PathValue("ns"), Name: r.PathValue("name"), Overwrite: overwrite,
		Trigger: doc.Trigger, Action: doc.Action, Status: doc.Status,
	})
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toOWRule(rule))
}

func (g *Gateway) setRuleStatus(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	var doc owRuleRequest
	if err := decodeBody(r, &doc); err != nil {
		g.writeError(w, r, err)
		return
	}
	rule, err := g.backend.SetRuleStatus(r.Context(), id, r.PathValue("ns"), r.PathValue("name"), doc.Status)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toOWRule(rule))
}

func (g *Gateway) getRule(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	rule, err := g.backend.GetRule(r.Context(), id, r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toOWRule(rule))
}

func (g *Gateway) deleteRule(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	rule, err := g.backend.DeleteRule(r.Context(), id, r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toOWRule(rule))
}

func (g *Gateway) listRules(w http.ResponseWriter, r *http.Request) {
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
	rs, err := g.backend.ListRules(r.Context(), id, r.PathValue("ns"), skip, limit)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	out := make([]owRule, 0, len(rs))
	for _, rule := range rs {
		out = append(out, toOWRule(rule))
	}
	writeJSON(w, http.StatusOK, out)
}
