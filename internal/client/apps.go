package client

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
)

// DeployTimeout is the least time a deploy may take: the server runs the
// app's register activation, which may cold start a container, before it
// answers. A client whose HTTP client has a longer timeout keeps it.
const DeployTimeout = 5 * time.Minute

// App is a deployed web app as the API shows it (ADR 010).
type App struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	// Main is the WSGI object the app serves, "module:attr".
	Main    string `json:"main,omitempty"`
	Version string `json:"version"`
	// Updated is the time of the deploy in Unix milliseconds.
	Updated int64 `json:"updated,omitempty"`
	// URL is where the app is served, relative to the API host
	// ("/apps/shop/").
	URL string `json:"url"`
	// Registration is the id of the activation that ran the app's
	// /register; its logs explain a failed deploy.
	Registration string        `json:"registration,omitempty"`
	Limits       entity.Limits `json:"limits"`
	// Routes is the route table the app registered, in its own order.
	Routes []entity.AppRoute `json:"routes"`
}

// AppSpec is the body of an app deploy.
type AppSpec struct {
	// Kind is the runtime kind; only python:3 serves apps today.
	Kind string `json:"kind"`
	// Main is the WSGI object, "module:attr" (empty: the server's
	// default, app:app).
	Main string `json:"main,omitempty"`
	// Code is base64 of a zip when Binary, else the text of one .py file.
	Code   string `json:"code"`
	Binary bool   `json:"binary"`
	// Limits of the app's activations; nil or zero fields take the
	// server's defaults. Only Timeout and Memory apply to apps.
	Limits *LimitsSpec `json:"limits,omitempty"`
}

// DeployApp creates app name in namespace ns ("_" is the caller's), or
// replaces its code and routes. The server answers once the app's register
// activation has run, so the call is bounded by DeployTimeout (or the HTTP
// client's own timeout when longer) rather than by a shorter HTTP client
// timeout; ctx may still cut it short. A failed /register is a 400
// *APIError whose message carries the runtime's message and the
// activation id; a name owned by another namespace is 409, code over the
// size limit 413.
func (c *Client) DeployApp(ctx context.Context, ns, name string, spec AppSpec) (*App, error) {
	dc, wait := c.forDeploy()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	_, data, err := dc.do(ctx, http.MethodPut, c.url(nil, "namespaces", ns, "apps", name), spec)
	if err != nil {
		return nil, fmt.Errorf("deploy app %s: %w", name, err)
	}
	var out App
	if err := decode(data, &out); err != nil {
		return nil, fmt.Errorf("deploy app %s: %w", name, err)
	}
	return &out, nil
}

// forDeploy returns a client whose HTTP client lets a deploy run for the
// returned duration: the larger of DeployTimeout and c's HTTP timeout.
func (c *Client) forDeploy() (*Client, time.Duration) {
	wait := max(DeployTimeout, c.hc.Timeout)
	if c.hc.Timeout == 0 || c.hc.Timeout >= wait {
		return c, wait
	}
	hc := *c.hc
	hc.Timeout = wait
	dc := *c
	dc.hc = &hc
	return &dc, wait
}

// GetApp returns app name; a missing app is a 404 *APIError.
func (c *Client) GetApp(ctx context.Context, ns, name string) (*App, error) {
	var out App
	if err := c.getJSON(ctx, c.url(nil, "namespaces", ns, "apps", name), &out); err != nil {
		return nil, fmt.Errorf("get app %s: %w", name, err)
	}
	return &out, nil
}

// ListApps returns the namespace's apps.
func (c *Client) ListApps(ctx context.Context, ns string) ([]App, error) {
	var out []App
	if err := c.getJSON(ctx, c.url(nil, "namespaces", ns, "apps"), &out); err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return out, nil
}

// DeleteApp removes app name and returns it; a missing app is a 404
// *APIError.
func (c *Client) DeleteApp(ctx context.Context, ns, name string) (*App, error) {
	_, data, err := c.do(ctx, http.MethodDelete, c.url(nil, "namespaces", ns, "apps", name), nil)
	if err != nil {
		return nil, fmt.Errorf("delete app %s: %w", name, err)
	}
	out := App{Namespace: ns, Name: name}
	if len(data) > 0 {
		if err := decode(data, &out); err != nil {
			return nil, fmt.Errorf("delete app %s: %w", name, err)
		}
	}
	return &out, nil
}

// AppURL is the full URL an app is served at.
func (c *Client) AppURL(a *App) string { return c.host + a.URL }
