package gateway

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/metadata"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
)

// credentials extracts "uuid:key" from an Authorization value: HTTP Basic
// (base64 of uuid:key), or the raw "uuid:key" that gRPC clients may send.
func credentials(value string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", fmt.Errorf("missing authorization: %w", controller.ErrUnauthenticated)
	}
	if len(value) > maxAuthorizationBytes {
		return "", fmt.Errorf("authorization of %d bytes is over %d: %w", len(value), maxAuthorizationBytes, controller.ErrUnauthenticated)
	}
	if scheme, rest, ok := strings.Cut(value, " "); ok && strings.EqualFold(scheme, "basic") {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return "", fmt.Errorf("malformed basic authorization: %w", controller.ErrUnauthenticated)
		}
		value = string(b)
	}
	uuid, key, ok := strings.Cut(value, ":")
	if !ok || uuid == "" || key == "" {
		return "", fmt.Errorf("authorization must be uuid:key: %w", controller.ErrUnauthenticated)
	}
	// The uuid is a KV key: only a plain token of bounded length may reach
	// the backend.
	if len(uuid) > entity.MaxKeyUUIDBytes || len(key) > entity.MaxKeySecretBytes || !names.Plain(uuid) {
		return "", fmt.Errorf("authorization must be uuid:key with a uuid of at most %d letters, digits, _ and - and a key of at most %d bytes: %w",
			entity.MaxKeyUUIDBytes, entity.MaxKeySecretBytes, controller.ErrUnauthenticated)
	}
	return value, nil
}

// authHTTP authenticates an /api/v1 request.
func (g *Gateway) authHTTP(r *http.Request) (controller.Identity, error) {
	auth, err := credentials(r.Header.Get("Authorization"))
	if err != nil {
		return controller.Identity{}, err
	}
	return g.backend.Authenticate(r.Context(), auth)
}

// authGRPC authenticates a gRPC call (or a grpc-gateway request, whose
// Authorization header arrives as "authorization" metadata) and checks
// the names and ids of its request message (validate.go) before anything
// reaches the backend.
func (g *Gateway) authGRPC(ctx context.Context, req any) (controller.Identity, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var value string
	if v := md.Get("authorization"); len(v) > 0 {
		value = v[0]
	}
	auth, err := credentials(value)
	if err != nil {
		return controller.Identity{}, err
	}
	if err := checkRequest(req); err != nil {
		return controller.Identity{}, err
	}
	return g.backend.Authenticate(ctx, auth)
}
