package gateway

import (
	"context"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/entity"
)

// Admin is the namespace administration a Backend may also offer (ADR 022):
// *controller.Controller in process and *controller.Client over NATS
// implement it. The gateway serves AdminService under /v1/admin only when
// its Backend does; otherwise those calls answer Unimplemented.
//
// The identity is the caller's from Backend.Authenticate; every method
// returns controller.ErrForbidden unless it is the admin credential
// (Identity.Admin), and otherwise the errors documented on the
// controller's methods of the same names. Safe for concurrent use.
type Admin interface {
	CreateNamespace(ctx context.Context, id controller.Identity, req controller.CreateNamespaceRequest) (*controller.NamespaceCreated, error)
	ListNamespaces(ctx context.Context, id controller.Identity) ([]*entity.Namespace, error)
	GetNamespace(ctx context.Context, id controller.Identity, name string) (*controller.NamespaceInfo, error)
	SetNamespace(ctx context.Context, id controller.Identity, req controller.SetNamespaceRequest) (*entity.Namespace, error)
	// DeleteNamespace revokes the namespace's keys and removes its
	// policies and limits; its entities stay.
	DeleteNamespace(ctx context.Context, id controller.Identity, name string) (*controller.NamespaceInfo, error)
	CreateKey(ctx context.Context, id controller.Identity, ns string) (*controller.NewKey, error)
	ListKeys(ctx context.Context, id controller.Identity, ns string) ([]controller.KeyInfo, error)
	RevokeKey(ctx context.Context, id controller.Identity, ns, uuid string) (*controller.KeyInfo, error)
	// SetLimits replaces the namespace's admission limit overrides and
	// returns the limits in force; GetLimits returns them.
	SetLimits(ctx context.Context, id controller.Identity, ns string, l entity.NamespaceLimits) (entity.NamespaceLimits, error)
	GetLimits(ctx context.Context, id controller.Identity, ns string) (entity.NamespaceLimits, error)
}
