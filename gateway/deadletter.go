package gateway

import (
	"context"
	"net/http"

	"github.com/flurryfn/flurry/internal/activation"
	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
)

// Dead letters (asynchronous activations that failed after their last
// attempt) over the OpenWhisk-style REST API and gRPC (DeadLetterService):
//
//	GET    /api/v1/namespaces/{ns}/deadletters[?skip&limit]   list, newest first (summaries)
//	GET    /api/v1/namespaces/{ns}/deadletters/{id}           one entry
//	DELETE /api/v1/namespaces/{ns}/deadletters/{id}           remove it (200 + the entry)
//	POST   /api/v1/namespaces/{ns}/deadletters/{id}/redrive   new activation: 202 {activationId}
//
// OpenWhisk has no dead letters; the paths follow its style.

func (g *Gateway) routeDeadLetters(mux *http.ServeMux) {
	mux.Handle("/api/v1/namespaces/{ns}/deadletters", g.route(methods{http.MethodGet: g.listDeadLetters}))
	mux.Handle("/api/v1/namespaces/{ns}/deadletters/{id}", g.route(methods{
		http.MethodGet:    g.getDeadLetter,
		http.MethodDelete: g.deleteDeadLetter,
	}))
	mux.Handle("/api/v1/namespaces/{ns}/deadletters/{id}/redrive", g.limitBody(g.route(methods{http.MethodPost: g.redriveDeadLetter})))
}

// owDeadLetter prepares an entry for the wire: slices as [] rather than null.
func owDeadLetter(dl *activation.DeadLetter) *activation.DeadLetter {
	c := *dl
	c.Record = *owRecord(&dl.Record, true)
	c.Message.Action.Parameters = nonNil(c.Message.Action.Parameters)
	c.Message.Action.Annotations = nonNil(c.Message.Action.Annotations)
	return &c
}

func (g *Gateway) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	skip, limit, err := listParams(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	dls, err := g.backend.ListDeadLetters(r.Context(), id, r.PathValue("ns"), skip, limit)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	out := make([]*activation.DeadLetter, 0, len(dls))
	for _, dl := range dls {
		out = append(out, owDeadLetter(dl))
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *Gateway) getDeadLetter(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	dl, err := g.backend.GetDeadLetter(r.Context(), id, r.PathValue("ns"), r.PathValue("id"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, owDeadLetter(dl))
}

func (g *Gateway) deleteDeadLetter(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	dl, err := g.backend.DeleteDeadLetter(r.Context(), id, r.PathValue("ns"), r.PathValue("id"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, owDeadLetter(dl))
}

// redriveDeadLetter answers 202 with the new activation's id, as a
// non-blocking invoke does.
func (g *Gateway) redriveDeadLetter(w http.ResponseWriter, r *http.Request) {
	id, err := g.authHTTP(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	res, err := g.backend.RedriveDeadLetter(r.Context(), id, r.PathValue("ns"), r.PathValue("id"))
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	w.Header().Set(headerActivationID, res.ActivationID)
	writeJSON(w, http.StatusAccepted, map[string]string{"activationId": res.ActivationID})
}

type deadLetterServer struct {
	flurryv1.UnimplementedDeadLetterServiceServer
	g *Gateway
}

var _ flurryv1.DeadLetterServiceServer = (*deadLetterServer)(nil)

func toPBDeadLetter(dl *activation.DeadLetter) *flurryv1.DeadLetter {
	if dl == nil {
		return nil
	}
	return &flurryv1.DeadLetter{
		ActivationId: dl.ActivationID,
		Namespace:    dl.Namespace,
		Name:         dl.Name,
		Reason:       dl.Reason,
		Attempts:     int32(dl.Attempts),
		Time:         dl.Time,
		Params:       jsonValue(dl.Message.Params),
		Admitted:     dl.Message.Admitted,
		Cause:        dl.Message.Cause,
		Activation:   toPBActivation(&dl.Record),
	}
}

func (s *deadLetterServer) ListDeadLetters(ctx context.Context, r *flurryv1.ListDeadLettersRequest) (*flurryv1.ListDeadLettersResponse, error) {
	const method = "ListDeadLetters"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	skip, limit, err := listBounds(int(r.GetSkip()), int(r.GetLimit()))
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	dls, err := s.g.backend.ListDeadLetters(ctx, id, r.GetNamespace(), skip, limit)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	out := &flurryv1.ListDeadLettersResponse{DeadLetters: make([]*flurryv1.DeadLetter, 0, len(dls))}
	for _, dl := range dls {
		out.DeadLetters = append(out.DeadLetters, toPBDeadLetter(dl))
	}
	return out, nil
}

func (s *deadLetterServer) GetDeadLetter(ctx context.Context, r *flurryv1.GetDeadLetterRequest) (*flurryv1.GetDeadLetterResponse, error) {
	const method = "GetDeadLetter"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	dl, err := s.g.backend.GetDeadLetter(ctx, id, r.GetNamespace(), r.GetActivationId())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.GetDeadLetterResponse{DeadLetter: toPBDeadLetter(dl)}, nil
}

func (s *deadLetterServer) DeleteDeadLetter(ctx context.Context, r *flurryv1.DeleteDeadLetterRequest) (*flurryv1.DeleteDeadLetterResponse, error) {
	const method = "DeleteDeadLetter"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	dl, err := s.g.backend.DeleteDeadLetter(ctx, id, r.GetNamespace(), r.GetActivationId())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.DeleteDeadLetterResponse{DeadLetter: toPBDeadLetter(dl)}, nil
}

func (s *deadLetterServer) RedriveDeadLetter(ctx context.Context, r *flurryv1.RedriveDeadLetterRequest) (*flurryv1.RedriveDeadLetterResponse, error) {
	const method = "RedriveDeadLetter"
	id, err := s.g.authGRPC(ctx, r)
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	res, err := s.g.backend.RedriveDeadLetter(ctx, id, r.GetNamespace(), r.GetActivationId())
	if err != nil {
		return nil, s.g.grpcError(ctx, method, err)
	}
	return &flurryv1.RedriveDeadLetterResponse{ActivationId: res.ActivationID}, nil
}
