package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
)

// Config configures a Gateway. Zero fields take the defaults.
type Config struct {
	// Log receives the gateway's logs (default slog.Default()).
	Log *slog.Logger
	// MaxBodyBytes bounds every request body except an action's: an
	// invocation's parameters are at most entity.MaxPayloadBytes, and the
	// slack leaves room for envelopes (default MaxPayloadBytes + 64 KiB).
	// Larger bodies are refused with 413 before they are read.
	MaxBodyBytes int64
	// MaxActionBytes bounds a request that creates or updates an action,
	// whose code may be up to entity.MaxCodeBytes (base64 when binary), and
	// is the gRPC server's largest message (default 4/3 MaxCodeBytes + 1 MiB).
	MaxActionBytes int64
	// ShutdownTimeout bounds the graceful stop of Serve; connections still
	// open after it are closed (default 10 s).
	ShutdownTimeout time.Duration
	// RetryAfter is sent as Retry-After with 429 and 503 (default 1 s).
	RetryAfter time.Duration
	// ReadHeaderTimeout bounds reading request headers, and a gRPC
	// connection's handshake (default 10 s).
	ReadHeaderTimeout time.Duration
	// ReadBodyTimeout and BodyMinRate bound reading a request body: it may
	// take ReadBodyTimeout plus a second per BodyMinRate bytes (defaults
	// 20 s and 500 bytes/s, mod_reqtimeout's), so a large upload on a slow
	// link gets through and a trickle does not hold a connection.
	ReadBodyTimeout time.Duration
	BodyMinRate     int64
	// IdleTimeout closes HTTP keep-alive connections, and gRPC connections
	// without an RPC, idle this long (default 2 min: longer than the 90 s
	// after which Go's and most clients' pools drop idle connections, so
	// the client closes first and never races a closing server).
	IdleTimeout time.Duration
	// WriteTimeout closes a connection whose client takes none of a
	// response for this long (default 60 s, as nginx's send_timeout). It
	// bounds a stall, not a response: a blocking invoke may wait longer
	// before it writes, and a large response may take longer to send.
	WriteTimeout time.Duration
	// MaxConns bounds the open connections of both listeners together, and
	// MaxConnsPerAddr those from one client address (an IPv6 /64). One
	// over a bound is answered 503 with Retry-After (gRPC: closed) at once.
	// The command derives MaxConns from the descriptor limit; here it
	// defaults to DefaultMaxConns, and MaxConnsPerAddr to an eighth of
	// MaxConns. Behind a proxy every client has the proxy's address: set
	// MaxConnsPerAddr to MaxConns there.
	MaxConns        int
	MaxConnsPerAddr int
	// GRPCMaxStreams bounds the concurrent RPCs of one gRPC connection
	// (default 100).
	GRPCMaxStreams uint32
}

// Defaults of Config.
const (
	DefaultMaxBodyBytes      = entity.MaxPayloadBytes + 64<<10
	DefaultMaxActionBytes    = entity.MaxCodeBytes/3*4 + 1<<20
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultRetryAfter        = time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadBodyTimeout   = 20 * time.Second
	DefaultBodyMinRate       = 500
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultWriteTimeout      = time.Minute
	DefaultMaxConns          = 4096
	DefaultGRPCMaxStreams    = 100
)

// WithDefaults returns c with zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxActionBytes == 0 {
		c.MaxActionBytes = DefaultMaxActionBytes
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadBodyTimeout == 0 {
		c.ReadBodyTimeout = DefaultReadBodyTimeout
	}
	if c.BodyMinRate == 0 {
		c.BodyMinRate = DefaultBodyMinRate
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = max(c.MaxConns/8, 1)
	}
	if c.GRPCMaxStreams == 0 {
		c.GRPCMaxStreams = DefaultGRPCMaxStreams
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MaxBodyBytes < 0 || c.MaxActionBytes < 0:
		return errors.New("gateway config: body limits must not be negative")
	case c.MaxActionBytes > 0 && c.MaxActionBytes < c.MaxBodyBytes:
		return fmt.Errorf("gateway config: MaxActionBytes %d is below MaxBodyBytes %d", c.MaxActionBytes, c.MaxBodyBytes)
	case c.MaxActionBytes > 1<<31-1:
		return fmt.Errorf("gateway config: MaxActionBytes %d exceeds a gRPC message's 2 GiB", c.MaxActionBytes)
	case c.ShutdownTimeout < 0 || c.RetryAfter < 0 || c.ReadHeaderTimeout < 0 || c.ReadBodyTimeout < 0 || c.IdleTimeout < 0 || c.WriteTimeout < 0:
		return errors.New("gateway config: durations must not be negative")
	case c.BodyMinRate < 0:
		return errors.New("gateway config: BodyMinRate must not be negative")
	case c.MaxConns < 0 || c.MaxConnsPerAddr < 0:
		return errors.New("gateway config: connection bounds must not be negative")
	case c.MaxConns > 0 && c.MaxConnsPerAddr > c.MaxConns:
		return fmt.Errorf("gateway config: MaxConnsPerAddr %d exceeds MaxConns %d", c.MaxConnsPerAddr, c.MaxConns)
	}
	return nil
}

// Gateway is the public edge: a gRPC server, the grpc-gateway REST
// binding of it under /v1, and the OpenWhisk-compatible REST API under
// /api/v1. It is safe for concurrent use; Serve may be called once.
type Gateway struct {
	backend Backend
	cfg     Config
	log     *slog.Logger
	grpc    *grpc.Server
	handler http.Handler
	conns   *connLimiter
}

// New builds a gateway over b. It starts nothing; see Serve.
func New(b Backend, cfg Config) (*Gateway, error) {
	if b == nil {
		return nil, errors.New("gateway: nil backend")
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{backend: b, cfg: cfg, log: cfg.Log}
	g.conns = newConnLimiter(cfg.MaxConns, cfg.MaxConnsPerAddr, cfg.WriteTimeout, cfg.Log)
	as, is, vs := &actionServer{g: g}, &invocationServer{g: g}, &activationServer{g: g}

	// decodeCodec and decodeRegistrar (grpcdecode.go): an undecodable
	// message is InvalidArgument.
	g.grpc = grpc.NewServer(append(grpcConnOptions(cfg), grpc.MaxRecvMsgSize(int(cfg.MaxActionBytes)), grpc.ForceServerCodecV2(newDecodeCodec()))...)
	reg := decodeRegistrar{g.grpc}
	flurryv1.RegisterActionServiceServer(reg, as)
	flurryv1.RegisterInvocationServiceServer(reg, is)
	flurryv1.RegisterActivationServiceServer(reg, vs)
	flurryv1.RegisterDeadLetterServiceServer(reg, &deadLetterServer{g: g})
	adm := newAdminServer(g, b) // admin.go
	flurryv1.RegisterAdminServiceServer(reg, adm)
	reflection.Register(g.grpc)

	// The REST binding calls the services in process (RegisterXxxHandlerServer)
	// rather than dialing our own gRPC listener: no second hop or
	// re-encoding, no dependence on the listener's address being dialable,
	// and Handler works without Serve. What that gives up (streaming RPCs
	// and gRPC interceptors) we do not use: the services authenticate and
	// map errors themselves.
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		}),
		runtime.WithErrorHandler(g.gatewayErrorHandler),
		runtime.WithRoutingErrorHandler(g.gatewayRoutingErrorHandler),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
	)
	ctx := context.Background()
	for _, reg := range []error{
		flurryv1.RegisterActionServiceHandlerServer(ctx, gw, as),
		flurryv1.RegisterInvocationServiceHandlerServer(ctx, gw, is),
		flurryv1.RegisterActivationServiceHandlerServer(ctx, gw, vs),
		flurryv1.RegisterDeadLetterServiceHandlerServer(ctx, gw, &deadLetterServer{g: g}),
		flurryv1.RegisterAdminServiceHandlerServer(ctx, gw, adm),
	} {
		if reg != nil {
			return nil, fmt.Errorf("gateway: register rest binding: %w", reg)
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/openapi.json", g.openAPI)
	mux.HandleFunc("GET /api/v1/openapi.json", g.openAPI)
	mux.Handle("/v1/", g.limitBody(g.checkIdempotencyKey(gw)))
	g.routeOpenWhisk(mux)
	g.routeRoutes(mux)
	g.routeApps(mux)
	g.handler = g.withRequestID(mux)
	return g, nil
}

// Handler returns the HTTP handler of the API listener (/v1 and /api/v1).
func (g *Gateway) Handler() http.Handler { return g.handler }

// Serve serves HTTP on api and gRPC on grpcLn until ctx is done, then stops
// both gracefully within Config.ShutdownTimeout. It closes the listeners.
// Both listeners share the connection bounds of Config.
// It returns nil after a stop by ctx, or the error of a server that failed
// (after stopping the other).
func (g *Gateway) Serve(ctx context.Context, api, grpcLn net.Listener) error {
	hs := &http.Server{
		Handler:           g.boundBodyRead(g.handler),
		ReadHeaderTimeout: g.cfg.ReadHeaderTimeout,
		IdleTimeout:       g.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	api = g.conns.listener(api, "http", g.conns.refuseHTTP(refusalResponse(g.cfg.RetryAfter)))
	grpcLn = g.conns.listener(grpcLn, "grpc", refuseGRPC)
	errc := make(chan error, 2)
	go func() {
		err := hs.Serve(api)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	go func() { errc <- g.grpc.Serve(grpcLn) }()
	g.log.Info("gateway serving", "http", api.Addr().String(), "grpc", grpcLn.Addr().String())

	var first error
	pending := 2
	select {
	case <-ctx.Done():
	case first = <-errc:
		pending--
	}

	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		g.grpc.GracefulStop()
		close(stopped)
	}()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	select {
	case <-stopped:
	case <-sctx.Done():
		g.grpc.Stop()
		<-stopped
	}
	for ; pending > 0; pending-- {
		if err := <-errc; first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("gateway: %w", first)
	}
	g.log.Info("gateway stopped")
	return nil
}

func (g *Gateway) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(flurryv1.OpenAPI)
}

type requestIDKey struct{}

// requestID is the id of the request in ctx: OpenWhisk's "code" in error
// bodies and the X-Request-Id response header.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func (g *Gateway) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := activation.NewID()
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

type bodyLimitKey struct{}

// limitedBody records that a read hit its http.MaxBytesReader limit, so
// the grpc-gateway error handler (which only sees a status) can answer 413.
type limitedBody struct {
	io.ReadCloser
	exceeded bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		b.exceeded = true
	}
	return n, err
}

func bodyLimitExceeded(ctx context.Context) bool {
	b, _ := ctx.Value(bodyLimitKey{}).(*limitedBody)
	return b != nil && b.exceeded
}

// bodyLimit is the largest body a request may have: actions are written
// with PUT and may carry code, everything else is small.
func (g *Gateway) bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPut {
		return g.cfg.MaxActionBytes
	}
	return g.cfg.MaxBodyBytes
}

// limitBody refuses declared oversize bodies with 413 before reading and
// caps the read of the rest.
func (g *Gateway) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := g.bodyLimit(r)
		if r.ContentLength > limit {
			g.writeErrorStatus(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds %d bytes", r.ContentLength, limit))
			return
		}
		lb := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit)}
		r.Body = lb
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyLimitKey{}, lb)))
	})
}
