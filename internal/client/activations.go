package client

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
)

// ListOptions filters a listing of activation records.
type ListOptions struct {
	// Name keeps only records of this action.
	Name string
	// Skip and Limit page the listing (0: the server's defaults).
	Skip, Limit int
	// Since and Upto bound the start time (zero: unbounded).
	Since, Upto time.Time
	// Docs asks for whole records (logs and result) instead of summaries.
	Docs bool
}

// ListActivations returns a namespace's activation records, newest first.
func (c *Client) ListActivations(ctx context.Context, ns string, o ListOptions) ([]activation.Record, error) {
	q := url.Values{}
	if o.Name != "" {
		q.Set("name", o.Name)
	}
	setInt(q, "skip", int64(o.Skip))
	setInt(q, "limit", int64(o.Limit))
	if !o.Since.IsZero() {
		setInt(q, "since", o.Since.UnixMilli())
	}
	if !o.Upto.IsZero() {
		setInt(q, "upto", o.Upto.UnixMilli())
	}
	if o.Docs {
		q.Set("docs", "true")
	}
	var out []activation.Record
	if err := c.getJSON(ctx, c.url(q, "namespaces", ns, "activations"), &out); err != nil {
		return nil, fmt.Errorf("list activations: %w", err)
	}
	return out, nil
}

// GetActivation returns one activation record.
func (c *Client) GetActivation(ctx context.Context, ns, id string) (*activation.Record, error) {
	var out activation.Record
	if err := c.getJSON(ctx, c.url(nil, "namespaces", ns, "activations", id), &out); err != nil {
		return nil, fmt.Errorf("get activation %s: %w", id, err)
	}
	return &out, nil
}

// GetActivationLogs returns the log lines of an activation.
func (c *Client) GetActivationLogs(ctx context.Context, ns, id string) ([]string, error) {
	var out struct {
		Logs []string `json:"logs"`
	}
	if err := c.getJSON(ctx, c.url(nil, "namespaces", ns, "activations", id, "logs"), &out); err != nil {
		return nil, fmt.Errorf("get logs of activation %s: %w", id, err)
	}
	return out.Logs, nil
}

// GetActivationResult returns the response part of an activation record
// (status and result).
func (c *Client) GetActivationResult(ctx context.Context, ns, id string) (*activation.Response, error) {
	var out activation.Response
	if err := c.getJSON(ctx, c.url(nil, "namespaces", ns, "activations", id, "result"), &out); err != nil {
		return nil, fmt.Errorf("get result of activation %s: %w", id, err)
	}
	return &out, nil
}
