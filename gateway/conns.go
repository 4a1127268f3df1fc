package gateway

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// This file bounds the connections the gateway holds open: overall, so
// that a flood can never take the descriptors JetStream and the invoker
// need, and per client address, so that one client cannot take them all
// from the others. A connection over a bound is answered and closed at
// once, never held.

// errTooManyConns is why a connection over a bound is refused; errors.go
// maps it to the refusal's status.
var errTooManyConns = errors.New("too many open connections")

// Refusals in flight at once that still wait for the client's half-close
// (see refuseHTTP); past that, a refusal closes right after its answer.
const maxLingeringRefusals = 64

// refusalLinger bounds how long a refusal waits for the client to stop
// sending before it closes: closing a socket with unread input resets it,
// and a reset can overtake the answer on its way to the client.
const refusalLinger = time.Second

// writeChunk is the most a connection writes under one write deadline,
// so that WriteTimeout bounds a stall, not the time to send a large
// response.
const writeChunk = 64 << 10

// refusalLogEvery spaces out the warnings about refused connections, so
// that a flood does not turn into a flood of log lines.
const refusalLogEvery = 10 * time.Second

// connLimiter counts the open connections of all the gateway's listeners,
// in total and per client address. It is safe for concurrent use.
type connLimiter struct {
	max, perAddr int
	writeTimeout time.Duration // 0: writes without a deadline
	log          *slog.Logger

	mu     sync.Mutex
	total  int
	byAddr map[netip.Addr]int

	lingering chan struct{} // a slot per refusal waiting for its half-close
	refused   atomic.Int64  // since the last warning
	lastWarn  atomic.Int64  // unix nanoseconds
}

func newConnLimiter(max, perAddr int, writeTimeout time.Duration, log *slog.Logger) *connLimiter {
	return &connLimiter{
		max: max, perAddr: perAddr, writeTimeout: writeTimeout, log: log,
		byAddr:    make(map[netip.Addr]int),
		lingering: make(chan struct{}, maxLingeringRefusals),
	}
}

// clientKey is the address a connection counts against: the IPv4 address,
// or the /64 of an IPv6 one, since one IPv6 host usually holds a whole /64.
func clientKey(a net.Addr) netip.Addr {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{} // one bucket for every non-TCP client
	}
	ip := ta.AddrPort().Addr().Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return ip
}

// acquire counts a new connection from key, or reports that it is over a
// bound.
func (l *connLimiter) acquire(key netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.byAddr[key] >= l.perAddr {
		return false
	}
	l.total++
	l.byAddr[key]++
	return true
}

func (l *connLimiter) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.byAddr[key] - 1; n > 0 {
		l.byAddr[key] = n
	} else {
		delete(l.byAddr, key)
	}
}

// open returns the connections counted now, in total and from key.
func (l *connLimiter) open(key netip.Addr) (total, fromKey int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.byAddr[key]
}

// noteRefused logs a refusal now and then, with how many there were.
func (l *connLimiter) noteRefused(key netip.Addr, listener string) {
	n := l.refused.Add(1)
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(refusalLogEvery) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.refused.Add(-n)
	total, fromKey := l.open(key)
	l.log.Warn("connections refused: over the open-connection bound", "listener", listener,
		"refused", n, "client", key.String(), "open", total, "openFromClient", fromKey,
		"max", l.max, "maxPerAddr", l.perAddr)
}

// listener wraps ln so that each accepted connection is counted until it
// is closed, and one over a bound is passed to refuse instead of being
// returned. name tells the listeners apart in logs.
func (l *connLimiter) listener(ln net.Listener, name string, refuse func(net.Conn)) net.Listener {
	return &limitedListener{Listener: ln, lim: l, name: name, refuse: refuse}
}

type limitedListener struct {
	net.Listener
	lim    *connLimiter
	name   string
	refuse func(net.Conn)
}

func (ln *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		if ln.lim.acquire(key) {
			return &limitedConn{Conn: c, lim: ln.lim, key: key}, nil
		}
		ln.lim.noteRefused(key, ln.name)
		ln.refuse(c)
	}
}

// limitedConn gives its count back on the first Close, and fails a write
// that makes no progress for the limiter's writeTimeout: a client that
// stops reading would otherwise hold its connection, and the handler
// writing to it, forever.
type limitedConn struct {
	net.Conn
	lim    *connLimiter
	key    netip.Addr
	closed atomic.Bool
}

func (c *limitedConn) Write(p []byte) (int, error) {
	if c.lim.writeTimeout == 0 {
		return c.Conn.Write(p)
	}
	var n int
	for len(p) > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.lim.writeTimeout))
		m, err := c.Conn.Write(p[:min(len(p), writeChunk)])
		n += m
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

func (c *limitedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.lim.release(c.key)
	}
	return c.Conn.Close()
}

// CloseWrite keeps net/http's half-close before a close working through
// the wrapper.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return nil
}

type closeWriter interface{ CloseWrite() error }

// refusalResponse is the whole answer to an HTTP connection over a bound.
func refusalResponse(retryAfter time.Duration) []byte {
	m, _ := lookup(errTooManyConns)
	body := errTooManyConns.Error() + "\n"
	secs := int(retryAfter.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nRetry-After: %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		m.http, http.StatusText(m.http), strconv.Itoa(secs), len(body), body)
}

// refuseHTTP answers c with resp and closes it. The answer fits in a fresh
// socket's send buffer, so the write does not wait on the client; the
// wait for the client's half-close runs in the background, in at most
// maxLingeringRefusals goroutines, so a flood holds few descriptors.
func (l *connLimiter) refuseHTTP(resp []byte) func(net.Conn) {
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(refusalLinger))
		if _, err := c.Write(resp); err != nil {
			c.Close()
			return
		}
		select {
		case l.lingering <- struct{}{}:
		default:
			c.Close()
			return
		}
		go func() {
			defer func() { <-l.lingering }()
			if cw, ok := c.(closeWriter); ok {
				cw.CloseWrite()
			}
			io.Copy(io.Discard, io.LimitReader(c, 64<<10))
			c.Close()
		}()
	}
}

// refuseGRPC closes c: before the HTTP/2 handshake there is no way to
// answer a gRPC client, which sees the connection fail and backs off.
func refuseGRPC(c net.Conn) { c.Close() }

// gRPC keep-alive settings. A client may ping every 10 s (grpc-go's
// default policy refuses more than one ping in 5 min, which breaks clients
// that keep their connections warm through NAT); the server pings a
// connection quiet for a minute and drops it when no answer comes in 20 s.
//
// A connection is asked to go away after grpcMaxConnAge and closed
// grpcMaxConnAgeGrace later: grpc-go has no deadline for receiving a
// request message, so this is what ends a stream trickled in by a client
// that answers pings. Clients reconnect on their own; the grace outlasts
// a blocking invoke and a large upload at the body rate of HTTP.
const (
	grpcMinClientPing   = 10 * time.Second
	grpcPingAfter       = time.Minute
	grpcPingTimeout     = 20 * time.Second
	grpcMaxConnAge      = 30 * time.Minute
	grpcMaxConnAgeGrace = 5 * time.Minute
)

// grpcConnOptions bound a gRPC connection as the HTTP server's are: the
// handshake within ReadHeaderTimeout, no RPC for IdleTimeout closes it,
// a dead peer is found by pings, its life is bounded, and it runs
// GRPCMaxStreams RPCs at most.
func grpcConnOptions(cfg Config) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ConnectionTimeout(cfg.ReadHeaderTimeout),
		grpc.MaxConcurrentStreams(cfg.GRPCMaxStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             grpcMinClientPing,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     cfg.IdleTimeout,
			MaxConnectionAge:      grpcMaxConnAge,
			MaxConnectionAgeGrace: grpcMaxConnAgeGrace,
			Time:                  grpcPingAfter,
			Timeout:               grpcPingTimeout,
		}),
	}
}
