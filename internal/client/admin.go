package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Namespace administration (ADR 022) over the REST binding of AdminService
// under /v1/admin. The client's key must be the admin credential: a
// tenant's key gets 403. Field names and encodings are the grpc-gateway's
// (protojson: camelCase, 64-bit integers as strings).

// adminPath is the prefix of the administration API on the host.
const adminPath = "/v1/admin"

// Namespace is a namespace and its policies.
type Namespace struct {
	Name string `json:"name"`
	// Created is Unix ms; 0 for a namespace that has keys only.
	Created       int64    `json:"created,string"`
	Network       string   `json:"network"`
	EventSubjects []string `json:"eventSubjects"`
	EventStreams  []string `json:"eventStreams"`
}

// Key is an API key without its secret.
type Key struct {
	UUID      string `json:"uuid"`
	Namespace string `json:"namespace"`
}

// NamespaceLimits are admission limits; nil is the platform default when
// set, 0 means unlimited.
type NamespaceLimits struct {
	ConcurrentInvocations *int64 `json:"concurrentInvocations,omitempty,string"`
	InvocationsPerMinute  *int64 `json:"invocationsPerMinute,omitempty,string"`
}

// NamespaceInfo is a namespace with its keys and the limits in force.
type NamespaceInfo struct {
	Namespace Namespace       `json:"namespace"`
	Keys      []Key           `json:"keys"`
	Limits    NamespaceLimits `json:"limits"`
}

// NewKey is a key just made; Auth ("uuid:key") is shown only this once.
type NewKey struct {
	Key  Key    `json:"key"`
	Auth string `json:"auth"`
}

// NamespacePolicy changes a namespace's policies: nil fields keep theirs,
// a non-nil empty list removes every grant.
type NamespacePolicy struct {
	Network       *string
	EventSubjects *[]string
	EventStreams  *[]string
}

// adminURL joins escaped segments under /v1/admin.
func (c *Client) adminURL(segments ...string) string {
	var b strings.Builder
	b.WriteString(c.host + adminPath)
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// adminCall sends one administration request and decodes the answer.
func (c *Client) adminCall(ctx context.Context, what, method, u string, body, out any) error {
	_, data, err := c.do(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := decode(data, out); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// CreateNamespace makes namespace name with its policies and a first key.
func (c *Client) CreateNamespace(ctx context.Context, name string, p NamespacePolicy) (*Namespace, *NewKey, error) {
	body := map[string]any{"name": name}
	if p.Network != nil {
		body["network"] = *p.Network
	}
	if p.EventSubjects != nil {
		body["eventSubjects"] = *p.EventSubjects
	}
	if p.EventStreams != nil {
		body["eventStreams"] = *p.EventStreams
	}
	var out struct {
		Namespace Namespace `json:"namespace"`
		Key       Key       `json:"key"`
		Auth      string    `json:"auth"`
	}
	if err := c.adminCall(ctx, "create namespace "+name, http.MethodPost, c.adminURL("namespaces"), body, &out); err != nil {
		return nil, nil, err
	}
	return &out.Namespace, &NewKey{Key: out.Key, Auth: out.Auth}, nil
}

// ListNamespaces returns every namespace by name.
func (c *Client) ListNamespaces(ctx context.Context) ([]Namespace, error) {
	var out struct {
		Namespaces []Namespace `json:"namespaces"`
	}
	err := c.adminCall(ctx, "list namespaces", http.MethodGet, c.adminURL("namespaces"), nil, &out)
	return out.Namespaces, err
}

// GetNamespace returns namespace name with its keys and limits.
func (c *Client) GetNamespace(ctx context.Context, name string) (*NamespaceInfo, error) {
	var out NamespaceInfo
	if err := c.adminCall(ctx, "get namespace "+name, http.MethodGet, c.adminURL("namespaces", name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetNamespace changes namespace name's policies.
func (c *Client) SetNamespace(ctx context.Context, name string, p NamespacePolicy) (*Namespace, error) {
	body := map[string]any{}
	if p.Network != nil {
		body["network"] = *p.Network
	}
	if p.EventSubjects != nil {
		body["eventSubjects"] = map[string]any{"values": *p.EventSubjects}
	}
	if p.EventStreams != nil {
		body["eventStreams"] = map[string]any{"values": *p.EventStreams}
	}
	var out struct {
		Namespace Namespace `json:"namespace"`
	}
	if err := c.adminCall(ctx, "set namespace "+name, http.MethodPatch, c.adminURL("namespaces", name), body, &out); err != nil {
		return nil, err
	}
	return &out.Namespace, nil
}

// DeleteNamespace revokes namespace name's keys and removes its policies
// and limits; it returns the namespace and the revoked keys.
func (c *Client) DeleteNamespace(ctx context.Context, name string) (*Namespace, []Key, error) {
	var out struct {
		Namespace   Namespace `json:"namespace"`
		RevokedKeys []Key     `json:"revokedKeys"`
	}
	if err := c.adminCall(ctx, "delete namespace "+name, http.MethodDelete, c.adminURL("namespaces", name), nil, &out); err != nil {
		return nil, nil, err
	}
	return &out.Namespace, out.RevokedKeys, nil
}

// CreateKey makes another key of namespace ns.
func (c *Client) CreateKey(ctx context.Context, ns string) (*NewKey, error) {
	var out NewKey
	if err := c.adminCall(ctx, "create key of "+ns, http.MethodPost, c.adminURL("namespaces", ns, "keys"), struct{}{}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListKeys returns namespace ns's keys (uuids only).
func (c *Client) ListKeys(ctx context.Context, ns string) ([]Key, error) {
	var out struct {
		Keys []Key `json:"keys"`
	}
	err := c.adminCall(ctx, "list keys of "+ns, http.MethodGet, c.adminURL("namespaces", ns, "keys"), nil, &out)
	return out.Keys, err
}

// RevokeKey deletes key uuid of namespace ns.
func (c *Client) RevokeKey(ctx context.Context, ns, uuid string) (*Key, error) {
	var out struct {
		Key Key `json:"key"`
	}
	if err := c.adminCall(ctx, "revoke key "+uuid, http.MethodDelete, c.adminURL("namespaces", ns, "keys", uuid), nil, &out); err != nil {
		return nil, err
	}
	return &out.Key, nil
}

// SetLimits replaces namespace ns's admission limits and returns the
// limits in force.
func (c *Client) SetLimits(ctx context.Context, ns string, l NamespaceLimits) (*NamespaceLimits, error) {
	var out struct {
		Limits NamespaceLimits `json:"limits"`
	}
	body := map[string]any{"limits": l}
	if err := c.adminCall(ctx, "set limits of "+ns, http.MethodPut, c.adminURL("namespaces", ns, "limits"), body, &out); err != nil {
		return nil, err
	}
	return &out.Limits, nil
}

// GetLimits returns the admission limits in force for namespace ns.
func (c *Client) GetLimits(ctx context.Context, ns string) (*NamespaceLimits, error) {
	var out struct {
		Limits NamespaceLimits `json:"limits"`
	}
	if err := c.adminCall(ctx, "get limits of "+ns, http.MethodGet, c.adminURL("namespaces", ns, "limits"), nil, &out); err != nil {
		return nil, err
	}
	return &out.Limits, nil
}
