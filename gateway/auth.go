package gateway

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/metadata"

	"github.com/flurryfn/flurry/controller"
)

// credentials extracts "uuid:key" from an Authorization value: HTTP Basic
// (base64 of uuid:key), or the raw "uuid:key" that gRPC clients may send.
func credentials(value string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", fmt.Errorf("missing authorization: %w", controller.ErrUnauthenticated)
	}
	if scheme, rest, ok := strings.Cut(value, " "); ok && strings.EqualFold(scheme, "basic") {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return "", fmt.Errorf("malformed basic authorization: %w", controller.ErrUnauthenticated)
		}
		value = string(b)
	}
	if uuid, key, ok := strings.Cut(value, ":"); !ok || uuid == "" || key == "" {
		return "", fmt.Errorf("authorization must be uuid:key: %w", controller.ErrUnauthenticated)
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
// Authorization header arrives as "authorization" metadata).
func (g *Gateway) authGRPC(ctx context.Context) (controller.Identity, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var value string
	if v := md.Get("authorization"); len(v) > 0 {
		value = v[0]
	}
	auth, err := credentials(value)
	if err != nil {
		return controller.Identity{}, err
	}
	return g.backend.Authenticate(ctx, auth)
}
