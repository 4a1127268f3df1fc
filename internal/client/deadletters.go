package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/flurryfn/flurry/internal/activation"
)

// ListDeadLetters returns a page of a namespace's dead letters (failed
// asynchronous activations), newest first, as summaries without params,
// logs and result; skip and limit of 0 take the server's defaults.
func (c *Client) ListDeadLetters(ctx context.Context, ns string, skip, limit int) ([]activation.DeadLetter, error) {
	q := url.Values{}
	setInt(q, "skip", int64(skip))
	setInt(q, "limit", int64(limit))
	var out []activation.DeadLetter
	if err := c.getJSON(ctx, c.url(q, "namespaces", ns, "deadletters"), &out); err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return out, nil
}

// GetDeadLetter returns the dead letter of activation id.
func (c *Client) GetDeadLetter(ctx context.Context, ns, id string) (*activation.DeadLetter, error) {
	var out activation.DeadLetter
	if err := c.getJSON(ctx, c.url(nil, "namespaces", ns, "deadletters", id), &out); err != nil {
		return nil, fmt.Errorf("get dead letter %s: %w", id, err)
	}
	return &out, nil
}

// DeleteDeadLetter removes the dead letter of activation id and returns it.
func (c *Client) DeleteDeadLetter(ctx context.Context, ns, id string) (*activation.DeadLetter, error) {
	_, data, err := c.do(ctx, http.MethodDelete, c.url(nil, "namespaces", ns, "deadletters", id), nil)
	if err != nil {
		return nil, fmt.Errorf("delete dead letter %s: %w", id, err)
	}
	var out activation.DeadLetter
	if err := decode(data, &out); err != nil {
		return nil, fmt.Errorf("delete dead letter %s: %w", id, err)
	}
	return &out, nil
}

// RedriveDeadLetter starts a new asynchronous activation with the dead
// activation's params, removes the dead letter, and returns the new
// activation's id.
func (c *Client) RedriveDeadLetter(ctx context.Context, ns, id string) (string, error) {
	resp, data, err := c.do(ctx, http.MethodPost, c.url(nil, "namespaces", ns, "deadletters", id, "redrive"), nil)
	if err != nil {
		return "", fmt.Errorf("re-drive dead letter %s: %w", id, err)
	}
	newID := resp.Header.Get("X-Openwhisk-Activation-Id")
	if newID == "" {
		var body struct {
			ActivationID string `json:"activationId"`
		}
		if err := json.Unmarshal(data, &body); err != nil || body.ActivationID == "" {
			return "", fmt.Errorf("re-drive dead letter %s: answer without an activation id: %s", id, data)
		}
		newID = body.ActivationID
	}
	return newID, nil
}
