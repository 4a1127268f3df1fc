package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Route is an HTTP route as the API shows it (ADR 009).
type Route struct {
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name,omitempty"`
	Methods   []string `json:"methods"`
	Path      string   `json:"path"`
	Action    string   `json:"action"`
	Public    bool     `json:"public"`
	// Revision counts the route's versions; sent on update, it must match.
	Revision uint64 `json:"revision,omitempty"`
	Updated  int64  `json:"updated,omitempty"`
	// URL is where the route is served, relative to the API host.
	URL string `json:"url,omitempty"`
}

// PutRoute creates route name (or replaces it with overwrite).
func (c *Client) PutRoute(ctx context.Context, ns, name string, r Route, overwrite bool) (*Route, error) {
	var q url.Values
	if overwrite {
		q = url.Values{"overwrite": {"true"}}
	}
	r.Namespace, r.Name, r.URL, r.Updated = "", "", "", 0
	_, data, err := c.do(ctx, http.MethodPut, c.url(q, "namespaces", ns, "routes", name), r)
	if err != nil {
		return nil, fmt.Errorf("put route %s: %w", name, err)
	}
	var out Route
	if err := decode(data, &out); err != nil {
		return nil, fmt.Errorf("put route %s: %w", name, err)
	}
	return &out, nil
}

// GetRoute returns route name.
func (c *Client) GetRoute(ctx context.Context, ns, name string) (*Route, error) {
	var out Route
	if err := c.getJSON(ctx, c.url(nil, "namespaces", ns, "routes", name), &out); err != nil {
		return nil, fmt.Errorf("get route %s: %w", name, err)
	}
	return &out, nil
}

// ListRoutes returns the namespace's routes sorted by name.
func (c *Client) ListRoutes(ctx context.Context, ns string) ([]Route, error) {
	var out []Route
	if err := c.getJSON(ctx, c.url(nil, "namespaces", ns, "routes"), &out); err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	return out, nil
}

// DeleteRoute removes route name and returns it.
func (c *Client) DeleteRoute(ctx context.Context, ns, name string) (*Route, error) {
	_, data, err := c.do(ctx, http.MethodDelete, c.url(nil, "namespaces", ns, "routes", name), nil)
	if err != nil {
		return nil, fmt.Errorf("delete route %s: %w", name, err)
	}
	var out Route
	if err := decode(data, &out); err != nil {
		return nil, fmt.Errorf("delete route %s: %w", name, err)
	}
	return &out, nil
}

// RouteURL is the full URL of a route's URL (as the API shows it).
func (c *Client) RouteURL(r *Route) string { return c.host + r.URL }

var nonName = regexp.MustCompile(`[^a-z0-9_]+`)

// DefaultRouteName names a route after its methods and path when the
// user gives no name: "GET /users/{id}" is "get-users-id", "/" is "root",
// a trailing "*" is "all".
func DefaultRouteName(methods []string, path string) string {
	parts := make([]string, 0, len(methods)+4)
	for _, m := range methods {
		parts = append(parts, strings.ToLower(strings.TrimSpace(m)))
	}
	for _, s := range strings.Split(path, "/") {
		if s == "*" {
			s = "all"
		}
		if s = strings.Trim(nonName.ReplaceAllString(strings.ToLower(s), "-"), "-"); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == len(methods) {
		parts = append(parts, "root")
	}
	name := strings.Join(parts, "-")
	if len(name) > 200 {
		name = name[:200]
	}
	return name
}
