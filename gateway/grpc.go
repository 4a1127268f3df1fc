package gateway

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/entity"
	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
)

// The gRPC services, implemented over Backend. They authenticate from the
// "authorization" metadata themselves (not in an interceptor) because the
// grpc-gateway calls them in process, where interceptors do not run, and
// they return only status errors for the same reason.

type actionServer struct {
	flurryv1.UnimplementedActionServiceServer
	g *Gateway
}

type invocationServer struct {
	flurryv1.UnimplementedInvocationServiceServer
	g *Gateway
}

type activationServer struct {
	flurryv1.UnimplementedActivationServiceServer
	g *Gateway
}

var (
	_ flurryv1.ActionServiceServer     = (*actionServer)(nil)
	_ flurryv1.InvocationServiceServer = (*invocationServer)(nil)
	_ flurryv1.ActivationServiceServer = (*activationServer)(nil)
)

// listBounds applies OpenWhisk's listing defaults and bounds.
func listBounds(skip, limit int) (int, int, error) {
	switch {
	case skip < 0:
		return 0, 0, fmt.Errorf("skip %d is negative: %w", skip, controller.ErrInvalid)
	case limit < 0 || limit > controller.MaxListLimit:
		return 0, 0, fmt.Errorf("limit %d is not in [0, %d]: %w", limit, controller.MaxListLimit, controller.ErrInvalid)
	case limit == 0:
		limit = controller.DefaultListLimit
	}
	return skip, limit, nil
}

func (s *actionServer) PutAction(ctx context.Context, r *flurryv1.PutActionRequest) (*flurryv1.PutActionResponse, error) {
	const method = "PutAction"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	req, err := fromPBPut(r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	a, err := s.g.backend.PutAction(ctx, id, req)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.PutActionResponse{Action: toPBAction(a)}, nil
}

func (s *actionServer) GetAction(ctx context.Context, r *flurryv1.GetActionRequest) (*flurryv1.GetActionResponse, error) {
	const method = "GetAction"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	a, code, err := s.g.backend.GetAction(ctx, id, r.GetNamespace(), r.GetName(), r.GetCode())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.GetActionResponse{Action: toPBAction(a), Code: code}, nil
}

func (s *actionServer) ListActions(ctx context.Context, r *flurryv1.ListActionsRequest) (*flurryv1.ListActionsResponse, error) {
	const method = "ListActions"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	skip, limit, err := listBounds(int(r.GetSkip()), int(r.GetLimit()))
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	as, err := s.g.backend.ListActions(ctx, id, r.GetNamespace(), skip, limit)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	out := &flurryv1.ListActionsResponse{Actions: make([]*flurryv1.Action, 0, len(as))}
	for _, a := range as {
		out.Actions = append(out.Actions, toPBAction(a))
	}
	return out, nil
}

func (s *actionServer) DeleteAction(ctx context.Context, r *flurryv1.DeleteActionRequest) (*flurryv1.DeleteActionResponse, error) {
	const method = "DeleteAction"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	a, err := s.g.backend.DeleteAction(ctx, id, r.GetNamespace(), r.GetName())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.DeleteActionResponse{Action: toPBAction(a)}, nil
}

// Invoke answers with the activation whatever its status: a failing action
// is a result, not an RPC error.
func (s *invocationServer) Invoke(ctx context.Context, r *flurryv1.InvokeRequest) (*flurryv1.InvokeResponse, error) {
	const method = "Invoke"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	params := []byte("{}")
	if r.GetParams() != nil {
		if params, err = protojson.Marshal(r.GetParams()); err != nil {
			return nil, s.g.grpcError(ctx, method, fmt.Errorf("encode params: %w: %w", err, controller.ErrInvalid))
		}
	}
	if len(params) > entity.MaxPayloadBytes {
		return nil, s.g.grpcError(ctx, method, fmt.Errorf("parameters of %d bytes exceed %d bytes: %w", len(params), entity.MaxPayloadBytes, controller.ErrTooLarge))
	}
	if r.GetWaitMs() < 0 {
		return nil, s.g.grpcError(ctx, method, fmt.Errorf("wait_ms %d is negative: %w", r.GetWaitMs(), controller.ErrInvalid))
	}
	key, err := grpcIdempotencyKey(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	res, err := s.g.backend.Invoke(ctx, id, controller.InvokeRequest{
		Namespace: r.GetNamespace(),
		Name:      r.GetName(),
		Params:    params,
		Blocking:  r.GetBlocking(),
		Wait:      time.Duration(r.GetWaitMs()) * time.Millisecond,

		IdempotencyKey: key,
	})
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.InvokeResponse{ActivationId: res.ActivationID, Activation: toPBActivation(res.Record)}, nil
}

// grpcIdempotencyKey returns the request's idempotency_key, or else the
// idempotency-key metadata that /v1 REST makes of the Idempotency-Key
// header; "" when neither is given.
func grpcIdempotencyKey(ctx context.Context, r *flurryv1.InvokeRequest) (string, error) {
	key := r.GetIdempotencyKey()
	if key == "" {
		md, _ := metadata.FromIncomingContext(ctx)
		v := md.Get(headerIdempotencyKey)
		switch len(v) {
		case 0:
			return "", nil
		case 1:
			key = v[0]
		default:
			return "", fmt.Errorf("%s given %d times: %w", headerIdempotencyKey, len(v), controller.ErrInvalid)
		}
	}
	if err := controller.CheckIdempotencyKey(key); err != nil {
		return "", err
	}
	return key, nil
}

func (s *activationServer) GetActivation(ctx context.Context, r *flurryv1.GetActivationRequest) (*flurryv1.GetActivationResponse, error) {
	const method = "GetActivation"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	rec, err := s.g.backend.GetActivation(ctx, id, r.GetNamespace(), r.GetActivationId())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.GetActivationResponse{Activation: toPBActivation(rec)}, nil
}

func (s *activationServer) ListActivations(ctx context.Context, r *flurryv1.ListActivationsRequest) (*flurryv1.ListActivationsResponse, error) {
	const method = "ListActivations"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	skip, limit, err := listBounds(int(r.GetSkip()), int(r.GetLimit()))
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	recs, err := s.g.backend.ListActivations(ctx, id, controller.ListActivationsRequest{
		Namespace: r.GetNamespace(),
		Name:      r.GetName(),
		Skip:      skip,
		Limit:     limit,
		Since:     r.GetSince(),
		Upto:      r.GetUpto(),
	})
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	out := &flurryv1.ListActivationsResponse{Activations: make([]*flurryv1.Activation, 0, len(recs))}
	for _, rec := range recs {
		out.Activations = append(out.Activations, toPBActivation(rec))
	}
	return out, nil
}

func (s *activationServer) GetActivationLogs(ctx context.Context, r *flurryv1.GetActivationLogsRequest) (*flurryv1.GetActivationLogsResponse, error) {
	const method = "GetActivationLogs"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	rec, err := s.g.backend.GetActivation(ctx, id, r.GetNamespace(), r.GetActivationId())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.GetActivationLogsResponse{Logs: rec.Logs}, nil
}

func (s *activationServer) GetActivationResult(ctx context.Context, r *flurryv1.GetActivationResultRequest) (*flurryv1.GetActivationResultResponse, error) {
	const method = "GetActivationResult"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	rec, err := s.g.backend.GetActivation(ctx, id, r.GetNamespace(), r.GetActivationId())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.GetActivationResultResponse{
		Result:     jsonValue(rec.Response.Result),
		Status:     rec.Response.Status,
		StatusCode: int32(rec.Response.StatusCode),
		Success:    rec.Response.Success,
	}, nil
}
