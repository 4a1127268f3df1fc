package gateway

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/entity"
	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
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

// adminServer is AdminService (gRPC, and REST under /v1/admin through the
// grpc-gateway) over the Backend's Admin, nil when the Backend has none.
// Callers authenticate as on every service; the Admin refuses identities
// that are not the admin credential.
type adminServer struct {
	flurryv1.UnimplementedAdminServiceServer
	g     *Gateway
	admin Admin
}

var _ flurryv1.AdminServiceServer = (*adminServer)(nil)

// newAdminServer serves b's administration if b offers it.
func newAdminServer(g *Gateway, b Backend) *adminServer {
	a, _ := b.(Admin)
	return &adminServer{g: g, admin: a}
}

// caller authenticates the call and checks the backend administers.
func (s *adminServer) caller(ctx context.Context, method string, req any) (controller.Identity, error) {
	if s.admin == nil {
		return controller.Identity{}, status.Errorf(codes.Unimplemented, "%s: this gateway's backend offers no administration", method)
	}
	id, err := s.g.authGRPC(ctx, req)
	if err != nil {
		return controller.Identity{}, s.g.grpcError(ctx, method, err)
	}
	return id, nil
}

func toPBNamespace(n *entity.Namespace) *flurryv1.Namespace {
	if n == nil {
		return nil
	}
	return &flurryv1.Namespace{
		Name:          n.Name,
		Created:       n.Created,
		Network:       n.NetworkPolicy(),
		EventSubjects: nonNil(n.EventSubjects),
		EventStreams:  nonNil(n.EventStreams),
	}
}

func toPBKeys(ks []controller.KeyInfo) []*flurryv1.Key {
	out := make([]*flurryv1.Key, 0, len(ks))
	for _, k := range ks {
		out = append(out, &flurryv1.Key{Uuid: k.UUID, Namespace: k.Namespace})
	}
	return out
}

func toPBLimits(l entity.NamespaceLimits) *flurryv1.NamespaceLimits {
	return &flurryv1.NamespaceLimits{ConcurrentInvocations: l.ConcurrentInvocations, InvocationsPerMinute: l.InvocationsPerMinute}
}

func (s *adminServer) CreateNamespace(ctx context.Context, r *flurryv1.CreateNamespaceRequest) (*flurryv1.CreateNamespaceResponse, error) {
	const method = "CreateNamespace"
	id, err := s.caller(ctx, method, r)
	if err != nil {
		return nil, err
	}
	c, err := s.admin.CreateNamespace(ctx, id, controller.CreateNamespaceRequest{
		Name:          r.GetName(),
		Network:       r.GetNetwork(),
		EventSubjects: r.GetEventSubjects(),
		EventStreams:  r.GetEventStreams(),
	})
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.CreateNamespaceResponse{
		Namespace: toPBNamespace(c.Namespace),
		Key:       &flurryv1.Key{Uuid: c.Key.UUID, Namespace: c.Key.Namespace},
		Auth:      c.Key.Auth,
	}, nil
}

func (s *adminServer) ListNamespaces(ctx context.Context, r *flurryv1.ListNamespacesRequest) (*flurryv1.ListNamespacesResponse, error) {
	const method = "ListNamespaces"
	id, err := s.caller(ctx, method, r)
	if err != nil {
		return nil, err
	}
	ns, err := s.admin.ListNamespaces(ctx, id)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	out := &flurryv1.ListNamespacesResponse{Namespaces: make([]*flurryv1.Namespace, 0, len(ns))}
	for _, n := range ns {
		out.Namespaces = append(out.Namespaces, toPBNamespace(n))
	}
	return out, nil
}

func (s *adminServer) GetNamespace(ctx context.Context, r *flurryv1.GetNamespaceRequest) (*flurryv1.GetNamespaceResponse, error) {
	const method = "GetNamespace"
	id, err := s.caller(ctx, method, r)
	if err != nil {
		return nil, err
	}
	info, err := s.admin.GetNamespace(ctx, id, r.GetName())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.GetNamespaceResponse{Namespace: toPBNamespace(info.Namespace), Keys: toPBKeys(info.Keys), Limits: toPBLimits(info.Limits)}, nil
}

func (s *adminServer) UpdateNamespace(ctx context.Context, r *flurryv1.UpdateNamespaceRequest) (*flurryv1.UpdateNamespaceResponse, error) {
	const method = "UpdateNamespace"
	id, err := s.caller(ctx, method, r)
	if err != nil {
		return nil, err
	}
	req := controller.SetNamespaceRequest{Name: r.GetName(), Network: r.Network}
	if l := r.GetEventSubjects(); l != nil {
		v := nonNil(l.GetValues())
		req.EventSubjects = &v
	}
	if l := r.GetEventStreams(); l != nil {
		v := nonNil(l.GetValues())
		req.EventStreams = &v
	}
	n, err := s.admin.SetNamespace(ctx, id, req)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.UpdateNamespaceResponse{Namespace: toPBNamespace(n)}, nil
}

func (s *adminServer) DeleteNamespace(ctx context.Context, r *flurryv1.DeleteNamespaceRequest) (*flurryv1.DeleteNamespaceResponse, error) {
	const method = "DeleteNamespace"
	id, err := s.caller(ctx, method, r)
	if err != nil {
		return nil, err
	}
	info, err := s.admin.DeleteNamespace(ctx, id, r.GetName())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	st := info.Stopped
	return &flurryv1.DeleteNamespaceResponse{Namespace: toPBNamespace(info.Namespace), RevokedKeys: toPBKeys(info.Keys),
		Stopped: &flurryv1.StoppedEntities{Triggers: int32(st.Triggers), Rules: int32(st.Rules), Routes: int32(st.Routes), Apps: int32(st.Apps)}}, nil
}

func (s *adminServer) CreateKey(ctx context.Context, r *flurryv1.CreateKeyRequest) (*flurryv1.CreateKeyResponse, error) {
	const method = "CreateKey"
	id, err := s.caller(ctx, method, r)
	if err != nil {
		return nil, err
	}
	k, err := s.admin.CreateKey(ctx, id, r.GetNamespace())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.CreateKeyResponse{Key: &flurryv1.Key{Uuid: k.UUID, Namespace: k.Namespace}, Auth: k.Auth}, nil
}

func (s *adminServer) ListKeys(ctx context.Context, r *flurryv1.ListKeysRequest) (*flurryv1.ListKeysResponse, error) {
	const method = "ListKeys"
	id, err := s.caller(ctx, method, r)
	if err != nil {
		return nil, err
	}
	ks, err := s.admin.ListKeys(ctx, id, r.GetNamespace())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.ListKeysResponse{Keys: toPBKeys(ks)}, nil
}

func (s *adminServer) RevokeKey(ctx context.Context, r *flurryv1.RevokeKeyRequest) (*flurryv1.RevokeKeyResponse, error) {
	const method = "RevokeKey"
	id, err := s.caller(ctx, method, r)
	if err != nil {
		return nil, err
	}
	k, err := s.admin.RevokeKey(ctx, id, r.GetNamespace(), r.GetUuid())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.RevokeKeyResponse{Key: &flurryv1.Key{Uuid: k.UUID, Namespace: k.Namespace}}, nil
}

func (s *adminServer) SetLimits(ctx context.Context, r *flurryv1.SetLimitsRequest) (*flurryv1.SetLimitsResponse, error) {
	const method = "SetLimits"
	id, err := s.caller(ctx, method, r)
	if err != nil {
		return nil, err
	}
	l := r.GetLimits()
	req := entity.NamespaceLimits{}
	if l != nil {
		req.ConcurrentInvocations, req.InvocationsPerMinute = l.ConcurrentInvocations, l.InvocationsPerMinute
	}
	got, err := s.admin.SetLimits(ctx, id, r.GetNamespace(), req)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.SetLimitsResponse{Limits: toPBLimits(got)}, nil
}

func (s *adminServer) GetLimits(ctx context.Context, r *flurryv1.GetLimitsRequest) (*flurryv1.GetLimitsResponse, error) {
	const method = "GetLimits"
	id, err := s.caller(ctx, method, r)
	if err != nil {
		return nil, err
	}
	got, err := s.admin.GetLimits(ctx, id, r.GetNamespace())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.GetLimitsResponse{Limits: toPBLimits(got)}, nil
}
