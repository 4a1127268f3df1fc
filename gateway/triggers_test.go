package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/entity"
)

// The fake's triggers: "t1" (one active rule, r1 → hello) and "lonely"
// (no active rule); "taken" exists for create; anything else is unknown.
func fakeTrigger(ns, name string) (*entity.Trigger, error) {
	switch name {
	case "t1", "lonely", "taken":
		return &entity.Trigger{Namespace: ns, Name: name, Version: "0.0.1", Revision: 1}, nil
	}
	return nil, fmt.Errorf("trigger %q: %w", name, controller.ErrNotFound)
}

func (f *fakeBackend) PutTrigger(_ context.Context, id controller.Identity, req controller.PutTriggerRequest) (*entity.Trigger, error) {
	ns, err := resolve(id, req.Namespace)
	if err != nil {
		return nil, err
	}
	if req.Name == "taken" && !req.Overwrite {
		return nil, fmt.Errorf("trigger %q: %w", req.Name, controller.ErrExists)
	}
	if req.Source != nil && req.Source.Cron != nil && req.Source.Cron.Expression == "bad" {
		return nil, fmt.Errorf("%w: cron expression %q: expected 6 fields", controller.ErrInvalid, "bad")
	}
	return &entity.Trigger{Namespace: ns, Name: req.Name, Version: "0.0.1", Revision: 2, Parameters: req.Parameters, Source: req.Source}, nil
}

func (f *fakeBackend) GetTrigger(_ context.Context, id controller.Identity, ns, name string) (*entity.Trigger, error) {
	ns, err := resolve(id, ns)
	if err != nil {
		return nil, err
	}
	return fakeTrigger(ns, name)
}

func (f *fakeBackend) ListTriggers(ctx context.Context, id controller.Identity, ns string, _, _ int) ([]*entity.Trigger, error) {
	t, err := f.GetTrigger(ctx, id, ns, "t1")
	if err != nil {
		return nil, err
	}
	return []*entity.Trigger{t}, nil
}

func (f *fakeBackend) DeleteTrigger(ctx context.Context, id controller.Identity, ns, name string) (*entity.Trigger, error) {
	return f.GetTrigger(ctx, id, ns, name)
}

func (f *fakeBackend) Fire(ctx context.Context, id controller.Identity, ns, trigger string, payload json.RawMessage, _ string) (controller.FireResult, error) {
	if _, err := f.GetTrigger(ctx, id, ns, trigger); err != nil {
		return controller.FireResult{}, err
	}
	if len(payload) > 0 && !json.Valid(payload) {
		return controller.FireResult{}, fmt.Errorf("%w: payload", controller.ErrInvalid)
	}
	if trigger != "t1" {
		return controller.FireResult{}, nil
	}
	return controller.FireResult{ActivationID: "ta1", Rules: []controller.RuleFired{{Success: true, ActivationID: "a9", Rule: "guest/r1", Action: "guest/hello"}}}, nil
}

func (f *fakeBackend) PutRule(_ context.Context, id controller.Identity, req controller.PutRuleRequest) (*entity.Rule, error) {
	ns, err := resolve(id, req.Namespace)
	if err != nil {
		return nil, err
	}
	trig := req.Trigger[strings.LastIndexByte(req.Trigger, '/')+1:]
	if _, err := fakeTrigger(ns, trig); err != nil {
		return nil, err
	}
	return &entity.Rule{Namespace: ns, Name: req.Name, Version: "0.0.1", Trigger: trig,
		Action: req.Action[strings.LastIndexByte(req.Action, '/')+1:], Status: entity.RuleActive}, nil
}

func (f *fakeBackend) GetRule(_ context.Context, id controller.Identity, ns, name string) (*entity.Rule, error) {
	ns, err := resolve(id, ns)
	if err != nil {
		return nil, err
	}
	if name != "r1" {
		return nil, fmt.Errorf("rule %q: %w", name, controller.ErrNotFound)
	}
	return &entity.Rule{Namespace: ns, Name: "r1", Version: "0.0.1", Trigger: "t1", Action: "hello", Status: entity.RuleActive}, nil
}

func (f *fakeBackend) ListRules(ctx context.Context, id controller.Identity, ns string, _, _ int) ([]*entity.Rule, error) {
	r, err := f.GetRule(ctx, id, ns, "r1")
	if err != nil {
		return nil, err
	}
	return []*entity.Rule{r}, nil
}

func (f *fakeBackend) DeleteRule(ctx context.Context, id controller.Identity, ns, name string) (*entity.Rule, error) {
	return f.GetRule(ctx, id, ns, name)
}

func (f *fakeBackend) SetRuleStatus(ctx context.Context, id controller.Identity, ns, name, status string) (*entity.Rule, error) {
	r, err := f.GetRule(ctx, id, ns, name)
	if err != nil {
		return nil, err
	}
	if status != entity.RuleActive && status != entity.RuleInactive {
		return nil, fmt.Errorf("%w: status %q", controller.ErrInvalid, status)
	}
	r.Status = status
	return r, nil
}

func TestTriggersREST(t *testing.T) {
	g, _ := newTestGateway(t)
	h := g.Handler()
	for _, c := range []struct {
		name, method, path, body string
		want                     int
		check                    map[string]any
	}{
		{"create", http.MethodPut, "/api/v1/namespaces/_/triggers/new", `{"parameters":[{"key":"a","value":1}],"source":{"cron":{"expression":"*/5 * * * * *"}}}`,
			200, map[string]any{"name": "new", "namespace": testNS, "parameters.0.key": "a", "source.cron.expression": "*/5 * * * * *"}},
		{"create exists", http.MethodPut, "/api/v1/namespaces/_/triggers/taken", `{}`, 409, nil},
		{"overwrite", http.MethodPut, "/api/v1/namespaces/_/triggers/taken?overwrite=true", ``, 200, map[string]any{"name": "taken"}},
		{"bad cron", http.MethodPut, "/api/v1/namespaces/_/triggers/x", `{"source":{"cron":{"expression":"bad"}}}`, 400, nil},
		{"malformed", http.MethodPut, "/api/v1/namespaces/_/triggers/x", `{`, 400, nil},
		{"get", http.MethodGet, "/api/v1/namespaces/guest/triggers/t1", ``, 200, map[string]any{"name": "t1", "version": "0.0.1"}},
		{"get unknown", http.MethodGet, "/api/v1/namespaces/_/triggers/nope", ``, 404, nil},
		{"other namespace", http.MethodGet, "/api/v1/namespaces/other/triggers/t1", ``, 403, nil},
		{"list", http.MethodGet, "/api/v1/namespaces/_/triggers", ``, 200, map[string]any{"0.name": "t1"}},
		{"delete", http.MethodDelete, "/api/v1/namespaces/_/triggers/t1", ``, 200, map[string]any{"name": "t1"}},
		{"fire", http.MethodPost, "/api/v1/namespaces/_/triggers/t1", `{"x":1}`, 202, map[string]any{"activationId": "ta1"}},
		{"fire no rule", http.MethodPost, "/api/v1/namespaces/_/triggers/lonely", ``, 204, nil},
		{"fire unknown", http.MethodPost, "/api/v1/namespaces/_/triggers/nope", ``, 404, nil},
		{"rule create", http.MethodPut, "/api/v1/namespaces/_/rules/r2", `{"trigger":"/_/t1","action":"/guest/hello"}`,
			200, map[string]any{"name": "r2", "status": "active", "trigger.name": "t1", "trigger.path": testNS, "action.name": "hello"}},
		{"rule unknown trigger", http.MethodPut, "/api/v1/namespaces/_/rules/r2", `{"trigger":"nope","action":"hello"}`, 404, nil},
		{"rule get", http.MethodGet, "/api/v1/namespaces/_/rules/r1", ``, 200, map[string]any{"name": "r1", "action.path": testNS}},
		{"rule disable", http.MethodPost, "/api/v1/namespaces/_/rules/r1", `{"status":"inactive"}`, 200, map[string]any{"status": "inactive"}},
		{"rule bad status", http.MethodPost, "/api/v1/namespaces/_/rules/r1", `{"status":"maybe"}`, 400, nil},
		{"rule list", http.MethodGet, "/api/v1/namespaces/_/rules", ``, 200, map[string]any{"0.name": "r1"}},
		{"rule delete", http.MethodDelete, "/api/v1/namespaces/_/rules/r1", ``, 200, map[string]any{"name": "r1"}},
		{"rule delete unknown", http.MethodDelete, "/api/v1/namespaces/_/rules/nope", ``, 404, nil},
		{"method", http.MethodPatch, "/api/v1/namespaces/_/rules/r1", ``, 405, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := request(t, h, c.method, c.path, goodAuth, strings.NewReader(c.body))
			if w.Code != c.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, c.want, w.Body.String())
			}
			if len(c.check) == 0 {
				return
			}
			v := decode(t, w)
			for path, want := range c.check {
				if got := field(v, path); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s = %v, want %v", path, got, want)
				}
			}
		})
	}
}
