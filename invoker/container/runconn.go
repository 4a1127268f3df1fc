package container

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// runConns sends /run requests to one unix socket over connections it
// keeps itself: each request is one write, and its answer is read on the
// caller's goroutine. net/http's Transport passes every request through
// two goroutines of its own per connection (a writer and a reader), which
// cost about 13 % of the standalone's CPU at saturation (ADR 014); /run is
// the only request on the hot path, so only /run comes here.
type runConns struct {
	path string

	mu     sync.Mutex
	idle   []*runConn
	closed bool
}

// runConn is one connection and its reader.
type runConn struct {
	net.Conn
	br  *bufio.Reader
	buf []byte // the request being written, kept for the next one
}

// maxIdleRunConns bounds the connections kept per socket: as many as
// activations may run in one container at once, within reason.
const maxIdleRunConns = 64

// pastDeadline unblocks a connection's I/O when ctx ends.
var pastDeadline = time.Unix(1, 0)

// do posts body to /run and returns the answer. The caller must close its
// body: a connection whose answer was read to the end goes back for reuse.
// With logs the request asks for the activation's lines (InlineLogsHeader).
func (p *runConns) do(ctx context.Context, body []byte, logs bool) (*http.Response, error) {
	rc, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = rc.SetDeadline(pastDeadline) })
	fail := func(err error) (*http.Response, error) {
		stop()
		rc.Close()
		return nil, err
	}
	rc.buf = appendRunRequest(rc.buf[:0], body, logs)
	if _, err := rc.Write(rc.buf); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		return fail(err)
	}
	resp.Body = &runBody{body: resp.Body, p: p, rc: rc, stop: stop, keep: !resp.Close}
	return resp, nil
}

// appendRunRequest appends the HTTP/1.1 request posting body to /run.
func appendRunRequest(b, body []byte, logs bool) []byte {
	b = append(b, "POST /run HTTP/1.1\r\nHost: action\r\nContent-Type: application/json\r\n"...)
	if logs {
		b = append(b, InlineLogsHeader+": 1\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

func (p *runConns) get(ctx context.Context) (*runConn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		rc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return rc, nil
	}
	p.mu.Unlock()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", p.path)
	if err != nil {
		return nil, err
	}
	return &runConn{Conn: c, br: bufio.NewReaderSize(c, 64<<10)}, nil
}

func (p *runConns) put(rc *runConn) {
	p.mu.Lock()
	if !p.closed && len(p.idle) < maxIdleRunConns {
		p.idle = append(p.idle, rc)
		rc = nil
	}
	p.mu.Unlock()
	if rc != nil {
		rc.Close()
	}
}

// close closes the idle connections; those in use close when their
// answers are done.
func (p *runConns) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, rc := range idle {
		rc.Close()
	}
}

// runBody is an answer's body; closing it releases the connection.
type runBody struct {
	body   io.ReadCloser
	p      *runConns
	rc     *runConn
	stop   func() bool
	keep   bool // the server did not say it closes the connection
	closed bool
}

func (b *runBody) Read(p []byte) (int, error) { return b.body.Read(p) }

// Close keeps the connection for the next request when the answer was
// read to its end (or nearly: a little is drained) and ctx did not end;
// otherwise it closes the connection rather than read an unknown rest.
func (b *runBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	_, err := io.CopyN(io.Discard, b.body, 4<<10)
	if b.stop() && b.keep && err == io.EOF {
		b.p.put(b.rc)
		return nil
	}
	return b.rc.Close()
}
