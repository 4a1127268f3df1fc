package gateway

import (
	"context"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// A request message that does not decode is the caller's error,
// codes.InvalidArgument. grpc-go answers it itself with codes.Internal
// the moment its codec fails, before any handler or interceptor runs, so
// the server's codec (decodeCodec) does not fail for Flurry's messages:
// it notes the error against the message, and the method handlers, as
// registered by decodeRegistrar, answer it.

// undecodable maps a request message that failed to decode to its error,
// from the codec's Unmarshal to the handler's decode, which removes it.
var undecodable sync.Map

// flurryPackage prefixes the full names of Flurry's own messages; others
// (server reflection) keep grpc-go's handling.
const flurryPackage = "flurry.v1."

// decodeCodec is the proto codec, except as described above.
type decodeCodec struct{ encoding.CodecV2 }

// newDecodeCodec wraps grpc-go's registered proto codec.
func newDecodeCodec() decodeCodec { return decodeCodec{encoding.GetCodecV2(protoenc.Name)} }

// Unmarshal decodes data into v; a failure for a Flurry message is noted
// for the handler instead of returned.
func (c decodeCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	if m, ok := v.(proto.Message); ok && strings.HasPrefix(string(m.ProtoReflect().Descriptor().FullName()), flurryPackage) {
		undecodable.Store(v, err)
		return nil
	}
	return err
}

// decodeRegistrar registers gRPC services whose method handlers answer a
// message decodeCodec could not decode with codes.InvalidArgument.
type decodeRegistrar struct{ s grpc.ServiceRegistrar }

var _ grpc.ServiceRegistrar = decodeRegistrar{}

// RegisterService registers a copy of desc whose methods check decoding.
func (r decodeRegistrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	d := *desc
	d.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		h := m.Handler
		m.Handler = func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			return h(srv, ctx, func(v any) error {
				err := dec(v)
				if bad, ok := undecodable.LoadAndDelete(v); ok && err == nil {
					err = status.Errorf(codes.InvalidArgument, "request message does not decode: %v", bad)
				}
				return err
			}, in)
		}
		d.Methods[i] = m
	}
	r.s.RegisterService(&d, impl)
}
