package gateway

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// decodeRegistrar registers gRPC services so that a request message that
// does not decode is the caller's error, codes.InvalidArgument, rather
// than the codes.Internal grpc-go gives it. The message is decoded before
// any interceptor runs, so the method handlers' decode function is
// wrapped instead.
type decodeRegistrar struct{ s grpc.ServiceRegistrar }

var _ grpc.ServiceRegistrar = decodeRegistrar{}

// RegisterService registers a copy of desc whose methods wrap decoding.
func (r decodeRegistrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	d := *desc
	d.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		h := m.Handler
		m.Handler = func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			return h(srv, ctx, func(v any) error { return decodeError(dec(v)) }, in)
		}
		d.Methods[i] = m
	}
	r.s.RegisterService(&d, impl)
}

// decodeError turns grpc-go's Internal status for a message that failed
// to unmarshal (or decompress) into InvalidArgument; other statuses (a
// message over the size limit is ResourceExhausted) pass unchanged.
func decodeError(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Internal {
		return status.Error(codes.InvalidArgument, st.Message())
	}
	return err
}
