package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/flurryfn/flurry/internal/entity"
)

// TriggerSpec is the body of a trigger create or update. On update nil
// fields keep the trigger's current ones.
type TriggerSpec struct {
	Parameters  []entity.KeyValue     `json:"parameters,omitempty"`
	Annotations []entity.KeyValue     `json:"annotations,omitempty"`
	Source      *entity.TriggerSource `json:"source,omitempty"`
}

// EntityPath is OpenWhisk's reference to an entity in a rule.
type EntityPath struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// Rule is OpenWhisk's rule document.
type Rule struct {
	Namespace string     `json:"namespace"`
	Name      string     `json:"name"`
	Version   string     `json:"version"`
	Status    string     `json:"status"`
	Trigger   EntityPath `json:"trigger"`
	Action    EntityPath `json:"action"`
	Updated   int64      `json:"updated,omitempty"`
}

// PutTrigger creates a trigger, or replaces it when overwrite.
func (c *Client) PutTrigger(ctx context.Context, ns, name string, spec TriggerSpec, overwrite bool) (*entity.Trigger, error) {
	q := url.Values{}
	if overwrite {
		q.Set("overwrite", "true")
	}
	_, data, err := c.do(ctx, http.MethodPut, c.url(q, "namespaces", ns, "triggers", name), spec)
	if err != nil {
		return nil, fmt.Errorf("put trigger %s: %w", name, err)
	}
	var t entity.Trigger
	if err := decode(data, &t); err != nil {
		return nil, fmt.Errorf("put trigger %s: %w", name, err)
	}
	return &t, nil
}

// GetTrigger returns a trigger.
func (c *Client) GetTrigger(ctx context.Context, ns, name string) (*entity.Trigger, error) {
	var t entity.Trigger
	if err := c.getJSON(ctx, c.url(nil, "namespaces", ns, "triggers", name), &t); err != nil {
		return nil, fmt.Errorf("get trigger %s: %w", name, err)
	}
	return &t, nil
}

// ListTriggers returns a page of a namespace's triggers by name.
func (c *Client) ListTriggers(ctx context.Context, ns string, skip, limit int) ([]entity.Trigger, error) {
	q := url.Values{}
	setInt(q, "skip", int64(skip))
	setInt(q, "limit", int64(limit))
	var out []entity.Trigger
	if err := c.getJSON(ctx, c.url(q, "namespaces", ns, "triggers"), &out); err != nil {
		return nil, fmt.Errorf("list triggers: %w", err)
	}
	return out, nil
}

// DeleteTrigger deletes a trigger and returns it.
func (c *Client) DeleteTrigger(ctx context.Context, ns, name string) (*entity.Trigger, error) {
	_, data, err := c.do(ctx, http.MethodDelete, c.url(nil, "namespaces", ns, "triggers", name), nil)
	if err != nil {
		return nil, fmt.Errorf("delete trigger %s: %w", name, err)
	}
	var t entity.Trigger
	if err := decode(data, &t); err != nil {
		return nil, fmt.Errorf("delete trigger %s: %w", name, err)
	}
	return &t, nil
}

// FireTrigger fires a trigger with params (a JSON object or nil) and
// returns the trigger activation's id, or "" when no rule was active.
func (c *Client) FireTrigger(ctx context.Context, ns, name string, params json.RawMessage) (string, error) {
	var body any
	if params != nil {
		body = params
	}
	resp, data, err := c.do(ctx, http.MethodPost, c.url(nil, "namespaces", ns, "triggers", name), body)
	if err != nil {
		return "", fmt.Errorf("fire trigger %s: %w", name, err)
	}
	if resp.StatusCode == http.StatusNoContent {
		return "", nil
	}
	var out struct {
		ActivationID string `json:"activationId"`
	}
	if err := decode(data, &out); err != nil {
		return "", fmt.Errorf("fire trigger %s: %w", name, err)
	}
	return out.ActivationID, nil
}

// PutRule creates a rule binding trigger to action (names as OpenWhisk
// takes them: "name" or "/ns/name"), or replaces it when overwrite.
func (c *Client) PutRule(ctx context.Context, ns, name, trigger, action string, overwrite bool) (*Rule, error) {
	q := url.Values{}
	if overwrite {
		q.Set("overwrite", "true")
	}
	body := map[string]string{"trigger": trigger, "action": action}
	_, data, err := c.do(ctx, http.MethodPut, c.url(q, "namespaces", ns, "rules", name), body)
	if err != nil {
		return nil, fmt.Errorf("put rule %s: %w", name, err)
	}
	var r Rule
	if err := decode(data, &r); err != nil {
		return nil, fmt.Errorf("put rule %s: %w", name, err)
	}
	return &r, nil
}

// SetRuleStatus enables ("active") or disables ("inactive") a rule.
func (c *Client) SetRuleStatus(ctx context.Context, ns, name, status string) (*Rule, error) {
	_, data, err := c.do(ctx, http.MethodPost, c.url(nil, "namespaces", ns, "rules", name), map[string]string{"status": status})
	if err != nil {
		return nil, fmt.Errorf("set rule %s %s: %w", name, status, err)
	}
	var r Rule
	if err := decode(data, &r); err != nil {
		return nil, fmt.Errorf("set rule %s %s: %w", name, status, err)
	}
	return &r, nil
}

// GetRule returns a rule.
func (c *Client) GetRule(ctx context.Context, ns, name string) (*Rule, error) {
	var r Rule
	if err := c.getJSON(ctx, c.url(nil, "namespaces", ns, "rules", name), &r); err != nil {
		return nil, fmt.Errorf("get rule %s: %w", name, err)
	}
	return &r, nil
}

// ListRules returns a page of a namespace's rules by name.
func (c *Client) ListRules(ctx context.Context, ns string, skip, limit int) ([]Rule, error) {
	q := url.Values{}
	setInt(q, "skip", int64(skip))
	setInt(q, "limit", int64(limit))
	var out []Rule
	if err := c.getJSON(ctx, c.url(q, "namespaces", ns, "rules"), &out); err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	return out, nil
}

// DeleteRule deletes a rule and returns it.
func (c *Client) DeleteRule(ctx context.Context, ns, name string) (*Rule, error) {
	_, data, err := c.do(ctx, http.MethodDelete, c.url(nil, "namespaces", ns, "rules", name), nil)
	if err != nil {
		return nil, fmt.Errorf("delete rule %s: %w", name, err)
	}
	var r Rule
	if err := decode(data, &r); err != nil {
		return nil, fmt.Errorf("delete rule %s: %w", name, err)
	}
	return &r, nil
}
