package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
)

// Action is an action as the API returns it: entity.Action's fields, with
// the code in Exec.Code when it was asked for.
type Action struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Revision    uint64            `json:"revision,omitempty"`
	Exec        Exec              `json:"exec"`
	Parameters  []entity.KeyValue `json:"parameters"`
	Limits      entity.Limits     `json:"limits"`
	Annotations []entity.KeyValue `json:"annotations"`
	Publish     bool              `json:"publish"`
	// Updated is the time of this revision in Unix milliseconds.
	Updated int64 `json:"updated,omitempty"`
	// Retry and Destinations govern asynchronous activations (nil: none).
	Retry        *entity.RetryPolicy  `json:"retry,omitempty"`
	Destinations *entity.Destinations `json:"destinations,omitempty"`
}

// Exec is entity.Exec plus the code (text, or base64 when Binary).
type Exec struct {
	entity.Exec
	Code string `json:"code,omitempty"`
}

// ActionSpec is the body of an action create or update. Nil or empty
// fields are left out, so an update keeps what it does not name.
type ActionSpec struct {
	Exec        *ExecSpec         `json:"exec,omitempty"`
	Parameters  []entity.KeyValue `json:"parameters,omitempty"`
	Limits      *LimitsSpec       `json:"limits,omitempty"`
	Annotations []entity.KeyValue `json:"annotations,omitempty"`
	Publish     *bool             `json:"publish,omitempty"`
	// Retry and Destinations replace the action's when set (a zero value
	// removes them) and are kept when nil.
	Retry        *entity.RetryPolicy  `json:"retry,omitempty"`
	Destinations *entity.Destinations `json:"destinations,omitempty"`
}

// ExecSpec is OpenWhisk's exec object of an action create.
type ExecSpec struct {
	Kind string `json:"kind"`
	// Code is text, or base64 of an executable or zip when Binary.
	Code   string `json:"code,omitempty"`
	Binary bool   `json:"binary,omitempty"`
	Main   string `json:"main,omitempty"`
	// Image is the container image of a blackbox action.
	Image string `json:"image,omitempty"`
}

// LimitsSpec sets an action's limits; zero fields take the server's default.
type LimitsSpec struct {
	// Timeout in milliseconds.
	Timeout int64 `json:"timeout,omitempty"`
	// Memory in MiB.
	Memory      int64 `json:"memory,omitempty"`
	Concurrency int64 `json:"concurrency,omitempty"`
}

// PutAction creates action name in namespace ns ("_" is the caller's), or
// replaces it when overwrite is true; without overwrite an existing action
// is a 409 *APIError.
func (c *Client) PutAction(ctx context.Context, ns, name string, a ActionSpec, overwrite bool) (*Action, error) {
	q := url.Values{}
	if overwrite {
		q.Set("overwrite", "true")
	}
	_, data, err := c.do(ctx, http.MethodPut, c.url(q, "namespaces", ns, "actions", name), a)
	if err != nil {
		return nil, fmt.Errorf("put action %q: %w", name, err)
	}
	var out Action
	return &out, decode(data, &out)
}

// GetAction returns an action; its Exec.Code is filled only when withCode.
func (c *Client) GetAction(ctx context.Context, ns, name string, withCode bool) (*Action, error) {
	q := url.Values{"code": {strconv.FormatBool(withCode)}}
	var out Action
	if err := c.getJSON(ctx, c.url(q, "namespaces", ns, "actions", name), &out); err != nil {
		return nil, fmt.Errorf("get action %q: %w", name, err)
	}
	return &out, nil
}

// ListActions returns a page of a namespace's actions; skip and limit of
// 0 take the server's defaults.
func (c *Client) ListActions(ctx context.Context, ns string, skip, limit int) ([]Action, error) {
	q := url.Values{}
	setInt(q, "skip", int64(skip))
	setInt(q, "limit", int64(limit))
	var out []Action
	if err := c.getJSON(ctx, c.url(q, "namespaces", ns, "actions"), &out); err != nil {
		return nil, fmt.Errorf("list actions: %w", err)
	}
	return out, nil
}

// DeleteAction deletes an action and returns what was deleted (the
// server may answer without a body, then the result has only names).
func (c *Client) DeleteAction(ctx context.Context, ns, name string) (*Action, error) {
	_, data, err := c.do(ctx, http.MethodDelete, c.url(nil, "namespaces", ns, "actions", name), nil)
	if err != nil {
		return nil, fmt.Errorf("delete action %q: %w", name, err)
	}
	out := Action{Namespace: ns, Name: name}
	if len(data) > 0 {
		if err := decode(data, &out); err != nil {
			return nil, fmt.Errorf("delete action %q: %w", name, err)
		}
	}
	return &out, nil
}

// InvokeResponse is the answer to an invocation.
type InvokeResponse struct {
	// StatusCode is 200 (done), 202 (accepted, or still running after a
	// blocking wait) or 502 (done, and the activation failed).
	StatusCode   int
	ActivationID string
	// Body is the answer as sent: the result object (result=true), the
	// activation record (blocking), or {"activationId"} (202).
	Body json.RawMessage
}

// Finished reports whether the activation finished (Body is its result or
// record).
func (r *InvokeResponse) Finished() bool { return r.StatusCode != http.StatusAccepted }

// Failed reports whether the activation finished with an error.
func (r *InvokeResponse) Failed() bool { return r.StatusCode == http.StatusBadGateway }

// Invoke starts an activation of an action with params (a JSON object; nil
// means {}). A blocking call waits for the result up to timeout (0: the
// server's default wait); result asks for the result object alone instead
// of the whole record. Failed or unfinished activations are results in
// the InvokeResponse, not errors.
func (c *Client) Invoke(ctx context.Context, ns, name string, params json.RawMessage, blocking, result bool, timeout time.Duration) (*InvokeResponse, error) {
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	q := url.Values{}
	if blocking {
		q.Set("blocking", "true")
	}
	if result {
		q.Set("result", "true")
	}
	setInt(q, "timeout", timeout.Milliseconds())
	resp, data, err := c.do(ctx, http.MethodPost, c.url(q, "namespaces", ns, "actions", name), params, http.StatusAccepted, http.StatusBadGateway)
	if err != nil {
		return nil, fmt.Errorf("invoke action %q: %w", name, err)
	}
	out := &InvokeResponse{StatusCode: resp.StatusCode, ActivationID: resp.Header.Get("X-Openwhisk-Activation-Id"), Body: data}
	if out.ActivationID == "" {
		var id struct {
			ActivationID string `json:"activationId"`
		}
		if json.Unmarshal(data, &id) == nil {
			out.ActivationID = id.ActivationID
		}
	}
	return out, nil
}

func setInt(q url.Values, key string, v int64) {
	if v > 0 {
		q.Set(key, strconv.FormatInt(v, 10))
	}
}
