package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/entity"
)

// This file is the one place where errors become HTTP statuses and gRPC
// codes. Everything else returns (wrapped) sentinels.

// errMethodNotAllowed is the gateway's own error for a known path with a
// method it does not serve.
var errMethodNotAllowed = errors.New("method not allowed")

// errorDomain qualifies the ErrorInfo reasons the gRPC API attaches, so a
// gRPC client (and the grpc-gateway error handler) can tell "too large"
// from "throttled", which share codes.ResourceExhausted.
const errorDomain = "flurry.dev"

// ErrorInfo reasons attached to gRPC errors.
const (
	reasonTooLarge  = "PAYLOAD_TOO_LARGE"
	reasonThrottled = "THROTTLED"
	reasonKeyReused = "IDEMPOTENCY_KEY_REUSED"
)

type errorMapping struct {
	err    error
	http   int
	code   codes.Code
	reason string
}

// mappings is ordered: the first sentinel that errors.Is matches wins.
var mappings = []errorMapping{
	{controller.ErrUnauthenticated, http.StatusUnauthorized, codes.Unauthenticated, ""},
	{controller.ErrForbidden, http.StatusForbidden, codes.PermissionDenied, ""},
	{controller.ErrNotFound, http.StatusNotFound, codes.NotFound, ""},
	{controller.ErrExists, http.StatusConflict, codes.AlreadyExists, ""},
	{controller.ErrConflict, http.StatusConflict, codes.Aborted, ""},
	{controller.ErrInvalid, http.StatusBadRequest, codes.InvalidArgument, ""},
	{entity.ErrInvalid, http.StatusBadRequest, codes.InvalidArgument, ""},
	{controller.ErrTooLarge, http.StatusRequestEntityTooLarge, codes.ResourceExhausted, reasonTooLarge},
	{controller.ErrThrottled, http.StatusTooManyRequests, codes.ResourceExhausted, reasonThrottled},
	{controller.ErrUnavailable, http.StatusServiceUnavailable, codes.Unavailable, ""},
	{controller.ErrKeyReused, http.StatusUnprocessableEntity, codes.FailedPrecondition, reasonKeyReused},
	{controller.ErrKeyUnresolved, http.StatusConflict, codes.Aborted, ""},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, codes.Unimplemented, ""},
	{errTooManyConns, http.StatusServiceUnavailable, codes.Unavailable, ""},
	{errSlowBody, http.StatusRequestTimeout, codes.DeadlineExceeded, ""},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, codes.DeadlineExceeded, ""},
	{context.Canceled, http.StatusServiceUnavailable, codes.Canceled, ""},
}

// internalMessage replaces the text of unmapped errors: their details are
// logged with the request id, not shown to callers.
const internalMessage = "internal server error"

func lookup(err error) (errorMapping, bool) {
	for _, m := range mappings {
		if errors.Is(err, m.err) {
			return m, true
		}
	}
	return errorMapping{http: http.StatusInternalServerError, code: codes.Internal}, false
}

// grpcError turns a backend or gateway error into a gRPC status error.
// Errors that already are statuses pass through.
func (g *Gateway) grpcError(ctx context.Context, method string, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	m, known := lookup(err)
	msg := err.Error()
	if !known {
		g.log.ErrorContext(ctx, "grpc call failed", "method", method, "request_id", requestID(ctx), "err", err)
		msg = internalMessage
	}
	st := status.New(m.code, msg)
	if m.reason != "" {
		if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: m.reason, Domain: errorDomain}); derr == nil {
			st = d
		}
	}
	return st.Err()
}

// errorBody is OpenWhisk's error response; Code is the request id.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// writeError answers an /api/v1 request with OpenWhisk's error body and status.
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, err error) {
	m, known := lookup(err)
	msg := err.Error()
	if !known {
		g.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "request_id", requestID(r.Context()), "err", err)
		msg = internalMessage
	}
	g.writeErrorStatus(w, r, m.http, msg)
}

// writeErrorStatus writes an error body with the headers its status calls for.
func (g *Gateway) writeErrorStatus(w http.ResponseWriter, r *http.Request, code int, msg string) {
	switch code {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="flurry"`)
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(int(g.cfg.RetryAfter.Seconds())))
	case http.StatusMethodNotAllowed:
		// Allow is set by the route that knows its methods.
	}
	writeJSON(w, code, errorBody{Error: msg, Code: requestID(r.Context())})
}

// httpStatusOf maps a gRPC status to HTTP for the grpc-gateway routes; it
// is runtime.HTTPStatusFromCode except that "too large" is 413 and a
// reused idempotency key 422, as on /api/v1.
func httpStatusOf(st *status.Status) int {
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != errorDomain {
			continue
		}
		switch {
		case st.Code() == codes.ResourceExhausted && info.GetReason() == reasonTooLarge:
			return http.StatusRequestEntityTooLarge
		case st.Code() == codes.FailedPrecondition && info.GetReason() == reasonKeyReused:
			return http.StatusUnprocessableEntity
		}
	}
	return runtime.HTTPStatusFromCode(st.Code())
}

// gatewayErrorHandler renders grpc-gateway errors in the same body as /api/v1.
func (g *Gateway) gatewayErrorHandler(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	st := status.Convert(err)
	code := httpStatusOf(st)
	if bodyLimitExceeded(ctx) {
		code = http.StatusRequestEntityTooLarge
	}
	g.writeErrorStatus(w, r, code, st.Message())
}

// gatewayRoutingErrorHandler answers unknown /v1 paths (404) and wrong
// methods (405) with the HTTP status the router found.
func (g *Gateway) gatewayRoutingErrorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
	g.writeErrorStatus(w, r, code, http.StatusText(code))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only values built by this package are written; failing here is a bug.
		slog.Error("gateway: encode response", "err", err)
		code = http.StatusInternalServerError
		b = []byte(`{"error":"internal server error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
