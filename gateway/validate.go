package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

// Caller input is checked here, at the edge, before it reaches the
// backend: names, ids and the Authorization value become NATS subjects and
// KV keys, and a subject over the server's control line closes the shared
// connection for every caller. The controller checks the same again, since
// a separate gateway reaches it over NATS.

// maxAuthorizationBytes bounds an Authorization value: Basic with base64
// of the longest uuid:key entity.ParseAuth accepts, and room to spare.
const maxAuthorizationBytes = 1024

// maxQuoted bounds how much of a refused value an error message repeats.
const maxQuoted = 64

// quoteShort quotes s for an error message, cut to maxQuoted bytes.
func quoteShort(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:maxQuoted], len(s))
}

// checkNamespace checks a namespace a caller names: "_" (or empty, the
// caller's own) or an entity name.
func checkNamespace(ns string) error {
	if ns == "" || ns == "_" || entity.ValidName(ns) {
		return nil
	}
	return fmt.Errorf("namespace %s is not a valid name: %w", quoteShort(ns), controller.ErrInvalid)
}

// checkName checks an entity name a caller names (action, trigger, rule,
// route, app); empty is left to the backend, which knows whether the
// name is optional.
func checkName(what, name string) error {
	if name == "" || entity.ValidName(name) {
		return nil
	}
	return fmt.Errorf("%s name %s is not a valid name (letters, digits, _, @, ., -; at most 256): %w", what, quoteShort(name), controller.ErrInvalid)
}

// checkID checks an activation id a caller names.
func checkID(id string) error {
	if activation.ValidID(id) {
		return nil
	}
	return fmt.Errorf("activation id %s is not valid (at most %d of letters, digits, _ and -): %w", quoteShort(id), activation.MaxIDBytes, controller.ErrInvalid)
}

// checkPathValues checks the wildcards of an /api/v1 path ({ns}, {name},
// {id}) before the request is dispatched.
func checkPathValues(r *http.Request) error {
	if err := checkNamespace(r.PathValue("ns")); err != nil {
		return err
	}
	if err := checkName("entity", r.PathValue("name")); err != nil {
		return err
	}
	if id := r.PathValue("id"); id != "" {
		return checkID(id)
	}
	return nil
}

// checkTime checks a since/upto bound in Unix ms.
func checkTime(name string, v int64) error {
	if v < 0 || v > controller.MaxTimeMs {
		return fmt.Errorf("%s %d is outside [0, %d] ms: %w", name, v, int64(controller.MaxTimeMs), controller.ErrInvalid)
	}
	return nil
}

// The request fields of the gRPC services that name things.
type (
	namespaced    interface{ GetNamespace() string }
	named         interface{ GetName() string }
	identified    interface{ GetActivationId() string }
	timeBoundable interface {
		GetSince() int64
		GetUpto() int64
	}
)

// checkRequest checks the names, ids and time bounds of a gRPC (or /v1)
// request message.
func checkRequest(req any) error {
	if r, ok := req.(namespaced); ok {
		if err := checkNamespace(r.GetNamespace()); err != nil {
			return err
		}
	}
	if r, ok := req.(named); ok {
		if err := checkName("entity", r.GetName()); err != nil {
			return err
		}
	}
	if r, ok := req.(identified); ok {
		if err := checkID(r.GetActivationId()); err != nil {
			return err
		}
	}
	if r, ok := req.(timeBoundable); ok {
		if err := checkTime("since", r.GetSince()); err != nil {
			return err
		}
		if err := checkTime("upto", r.GetUpto()); err != nil {
			return err
		}
	}
	return nil
}

// headerIdempotencyKey carries a client's Idempotency-Key (ADR 025) on
// /api/v1 and /v1 invokes; as gRPC metadata its lower-case form.
const headerIdempotencyKey = "Idempotency-Key"

// idempotencyKey returns the request's Idempotency-Key header, "" when
// there is none. A header that is present must hold one usable key: an
// empty or repeated one is refused rather than ignored, as the client
// meant its retries to be safe.
func idempotencyKey(h http.Header) (string, error) {
	v, ok := h[http.CanonicalHeaderKey(headerIdempotencyKey)]
	if !ok {
		return "", nil
	}
	if len(v) != 1 {
		return "", fmt.Errorf("%s given %d times: %w", headerIdempotencyKey, len(v), controller.ErrInvalid)
	}
	if err := controller.CheckIdempotencyKey(v[0]); err != nil {
		return "", err
	}
	return v[0], nil
}

// incomingHeader passes the Idempotency-Key header of a /v1 request on
// to the gRPC service as metadata, and the rest as grpc-gateway does.
func incomingHeader(key string) (string, bool) {
	if strings.EqualFold(key, headerIdempotencyKey) {
		return strings.ToLower(headerIdempotencyKey), true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// checkIdempotencyKey refuses a /v1 request whose Idempotency-Key is
// unusable before grpc-gateway sees it: grpc-gateway drops a header that
// is not valid metadata, and the invoke would then run without the key
// its client counted on.
func (g *Gateway) checkIdempotencyKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := idempotencyKey(r.Header); err != nil {
			g.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
