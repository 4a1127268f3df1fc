package controller

import (
	"context"

	"github.com/flurryfn/flurry/internal/entity"
)

// The administration operations (admin.go) over the controller's NATS API
// (service.go, ADR 003), for a separate `flurry gateway`. As every method
// of that API, they trust the Identity the gateway got from Authenticate;
// the controller checks again that it names a stored admin credential.

// Methods of the administration API.
const (
	MethodCreateNamespace = "adminCreateNamespace"
	MethodListNamespaces  = "adminListNamespaces"
	MethodGetNamespace    = "adminGetNamespace"
	MethodSetNamespace    = "adminSetNamespace"
	MethodDeleteNamespace = "adminDeleteNamespace"
	MethodCreateKey       = "adminCreateKey"
	MethodListKeys        = "adminListKeys"
	MethodRevokeKey       = "adminRevokeKey"
	MethodSetLimits       = "adminSetLimits"
	MethodGetLimits       = "adminGetLimits"
)

type (
	createNamespaceRequest struct {
		Identity Identity               `json:"identity"`
		Request  CreateNamespaceRequest `json:"request"`
	}
	setNamespaceRequest struct {
		Identity Identity            `json:"identity"`
		Request  SetNamespaceRequest `json:"request"`
	}
	// adminRequest names a namespace and, for revokeKey, a key.
	adminRequest struct {
		Identity  Identity `json:"identity"`
		Namespace string   `json:"namespace,omitempty"`
		UUID      string   `json:"uuid,omitempty"`
	}
	setLimitsRequest struct {
		Identity  Identity               `json:"identity"`
		Namespace string                 `json:"namespace"`
		Limits    entity.NamespaceLimits `json:"limits"`
	}
)

func (c *Controller) adminHandlers() map[string]handler {
	return map[string]handler{
		MethodCreateNamespace: func(ctx context.Context, data []byte) (any, error) {
			var r createNamespaceRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.CreateNamespace(ctx, r.Identity, r.Request)
		},
		MethodListNamespaces: func(ctx context.Context, data []byte) (any, error) {
			var r adminRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.ListNamespaces(ctx, r.Identity)
		},
		MethodGetNamespace: func(ctx context.Context, data []byte) (any, error) {
			var r adminRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.GetNamespace(ctx, r.Identity, r.Namespace)
		},
		MethodSetNamespace: func(ctx context.Context, data []byte) (any, error) {
			var r setNamespaceRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.SetNamespace(ctx, r.Identity, r.Request)
		},
		MethodDeleteNamespace: func(ctx context.Context, data []byte) (any, error) {
			var r adminRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.DeleteNamespace(ctx, r.Identity, r.Namespace)
		},
		MethodCreateKey: func(ctx context.Context, data []byte) (any, error) {
			var r adminRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.CreateKey(ctx, r.Identity, r.Namespace)
		},
		MethodListKeys: func(ctx context.Context, data []byte) (any, error) {
			var r adminRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.ListKeys(ctx, r.Identity, r.Namespace)
		},
		MethodRevokeKey: func(ctx context.Context, data []byte) (any, error) {
			var r adminRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.RevokeKey(ctx, r.Identity, r.Namespace, r.UUID)
		},
		MethodSetLimits: func(ctx context.Context, data []byte) (any, error) {
			var r setLimitsRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.SetLimits(ctx, r.Identity, r.Namespace, r.Limits)
		},
		MethodGetLimits: func(ctx context.Context, data []byte) (any, error) {
			var r adminRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.GetLimits(ctx, r.Identity, r.Namespace)
		},
	}
}

// CreateNamespace makes a namespace; see Controller.CreateNamespace.
func (c *Client) CreateNamespace(ctx context.Context, id Identity, req CreateNamespaceRequest) (*NamespaceCreated, error) {
	var out NamespaceCreated
	if err := c.call(ctx, MethodCreateNamespace, c.timeout, createNamespaceRequest{Identity: id, Request: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListNamespaces lists namespaces; see Controller.ListNamespaces.
func (c *Client) ListNamespaces(ctx context.Context, id Identity) ([]*entity.Namespace, error) {
	var out []*entity.Namespace
	err := c.call(ctx, MethodListNamespaces, c.timeout, adminRequest{Identity: id}, &out)
	return out, err
}

// GetNamespace returns a namespace; see Controller.GetNamespace.
func (c *Client) GetNamespace(ctx context.Context, id Identity, name string) (*NamespaceInfo, error) {
	var out NamespaceInfo
	if err := c.call(ctx, MethodGetNamespace, c.timeout, adminRequest{Identity: id, Namespace: name}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetNamespace changes a namespace's policies; see Controller.SetNamespace.
func (c *Client) SetNamespace(ctx context.Context, id Identity, req SetNamespaceRequest) (*entity.Namespace, error) {
	var out entity.Namespace
	if err := c.call(ctx, MethodSetNamespace, c.timeout, setNamespaceRequest{Identity: id, Request: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteNamespace deletes a namespace; see Controller.DeleteNamespace.
func (c *Client) DeleteNamespace(ctx context.Context, id Identity, name string) (*NamespaceInfo, error) {
	var out NamespaceInfo
	if err := c.call(ctx, MethodDeleteNamespace, c.timeout, adminRequest{Identity: id, Namespace: name}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateKey makes a key; see Controller.CreateKey.
func (c *Client) CreateKey(ctx context.Context, id Identity, ns string) (*NewKey, error) {
	var out NewKey
	if err := c.call(ctx, MethodCreateKey, c.timeout, adminRequest{Identity: id, Namespace: ns}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListKeys lists a namespace's keys; see Controller.ListKeys.
func (c *Client) ListKeys(ctx context.Context, id Identity, ns string) ([]KeyInfo, error) {
	var out []KeyInfo
	err := c.call(ctx, MethodListKeys, c.timeout, adminRequest{Identity: id, Namespace: ns}, &out)
	return out, err
}

// RevokeKey deletes a key; see Controller.RevokeKey.
func (c *Client) RevokeKey(ctx context.Context, id Identity, ns, uuid string) (*KeyInfo, error) {
	var out KeyInfo
	if err := c.call(ctx, MethodRevokeKey, c.timeout, adminRequest{Identity: id, Namespace: ns, UUID: uuid}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetLimits sets a namespace's limits; see Controller.SetLimits.
func (c *Client) SetLimits(ctx context.Context, id Identity, ns string, l entity.NamespaceLimits) (entity.NamespaceLimits, error) {
	var out entity.NamespaceLimits
	err := c.call(ctx, MethodSetLimits, c.timeout, setLimitsRequest{Identity: id, Namespace: ns, Limits: l}, &out)
	return out, err
}

// GetLimits returns a namespace's limits; see Controller.GetLimits.
func (c *Client) GetLimits(ctx context.Context, id Identity, ns string) (entity.NamespaceLimits, error) {
	var out entity.NamespaceLimits
	err := c.call(ctx, MethodGetLimits, c.timeout, adminRequest{Identity: id, Namespace: ns}, &out)
	return out, err
}
