package main

import (
	"flag"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/flurryfn/flurry/gateway"
)

// gatewayFlags are the connection limits of standalone and gateway.
type gatewayFlags struct {
	readHeaderTimeout, readBodyTimeout, idleTimeout, writeTimeout time.Duration
	bodyMinRate                                                   int64
	maxConns, maxConnsPerAddr                                     int
	grpcMaxStreams                                                uint
}

func (f *gatewayFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.readHeaderTimeout, "read-header-timeout", gateway.DefaultReadHeaderTimeout,
		"time a client has to send a request's headers (and a gRPC client its handshake)")
	fs.DurationVar(&f.readBodyTimeout, "read-body-timeout", gateway.DefaultReadBodyTimeout,
		"time a client has to send a request body, plus a second per --body-min-rate bytes received")
	fs.Int64Var(&f.bodyMinRate, "body-min-rate", gateway.DefaultBodyMinRate,
		"slowest rate, in bytes/s, at which a request body may arrive once --read-body-timeout is spent")
	fs.DurationVar(&f.idleTimeout, "conn-idle-timeout", gateway.DefaultIdleTimeout,
		"an HTTP keep-alive connection, or a gRPC connection without an RPC, idle this long is closed")
	fs.DurationVar(&f.writeTimeout, "write-timeout", gateway.DefaultWriteTimeout,
		"a connection whose client takes none of a response for this long is closed")
	fs.IntVar(&f.maxConns, "max-conns", 0,
		fmt.Sprintf("open API connections (HTTP and gRPC together) at most; more are answered 503 (default: half the descriptor limit, at most %d)", maxAPIConns))
	fs.IntVar(&f.maxConnsPerAddr, "max-conns-per-addr", 0,
		"open API connections from one client address (IPv6: one /64) at most (default: an eighth of --max-conns; behind a proxy, set it to --max-conns)")
	fs.UintVar(&f.grpcMaxStreams, "grpc-max-streams", gateway.DefaultGRPCMaxStreams, "concurrent RPCs on one gRPC connection at most")
}

// config returns the gateway's configuration; fileLimit is the process's
// descriptor limit, from which --max-conns is derived when not given.
func (f gatewayFlags) config(log *slog.Logger, fileLimit uint64) (gateway.Config, error) {
	for name, d := range map[string]time.Duration{"read-header-timeout": f.readHeaderTimeout,
		"read-body-timeout": f.readBodyTimeout, "conn-idle-timeout": f.idleTimeout, "write-timeout": f.writeTimeout} {
		if d <= 0 {
			return gateway.Config{}, fmt.Errorf("--%s %v: must be positive", name, d)
		}
	}
	switch {
	case f.bodyMinRate <= 0:
		return gateway.Config{}, fmt.Errorf("--body-min-rate %d: must be positive", f.bodyMinRate)
	case f.maxConns < 0 || f.maxConnsPerAddr < 0:
		return gateway.Config{}, fmt.Errorf("--max-conns and --max-conns-per-addr must not be negative")
	case f.grpcMaxStreams == 0 || f.grpcMaxStreams > math.MaxUint32:
		return gateway.Config{}, fmt.Errorf("--grpc-max-streams %d: must be between 1 and %d", f.grpcMaxStreams, uint32(math.MaxUint32))
	}
	cfg := gateway.Config{
		Log:               log,
		ReadHeaderTimeout: f.readHeaderTimeout,
		ReadBodyTimeout:   f.readBodyTimeout,
		BodyMinRate:       f.bodyMinRate,
		IdleTimeout:       f.idleTimeout,
		WriteTimeout:      f.writeTimeout,
		MaxConns:          f.maxConns,
		MaxConnsPerAddr:   f.maxConnsPerAddr,
		GRPCMaxStreams:    uint32(f.grpcMaxStreams),
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = apiConnBound(fileLimit)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return gateway.Config{}, err
	}
	log.Info("API connection bounds", "maxConns", cfg.MaxConns, "maxConnsPerAddr", cfg.MaxConnsPerAddr, "descriptorLimit", fileLimit)
	return cfg, nil
}
