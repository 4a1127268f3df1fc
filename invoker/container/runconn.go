package container

import (
	"bufio"
	"bytes"
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
	resp, err := readPlainAnswer(rc.br)
	if err == nil && resp == nil {
		resp, err = http.ReadResponse(rc.br, nil)
	}
	if err != nil {
		return fail(err)
	}
	resp.Body = &runBody{body: resp.Body, p: p, rc: rc, stop: stop, keep: !resp.Close}
	return resp, nil
}

// readPlainAnswer reads an answer whose head is plain: HTTP/1.1, a final
// status, a Content-Length, no Transfer-Encoding, and each header one
// line of a token, a colon and printable text. It keeps only what the
// invoker uses: the status, the length, Connection: close and
// InlineLogsHeader. For any other answer it returns nil having read
// nothing, and net/http reads it (with its errors for bad ones). The
// direct-run launcher and the proxy answer plainly; net/http's parser,
// with its header map, was ≈ 1 % of the standalone's CPU.
func readPlainAnswer(br *bufio.Reader) (*http.Response, error) {
	head, err := peekHead(br)
	if err != nil || head == nil {
		return nil, err
	}
	line, rest, _ := bytes.Cut(head, crlf)
	status, ok := plainStatus(line)
	if !ok {
		return nil, nil
	}
	resp := &http.Response{StatusCode: status, ContentLength: -1}
	for len(rest) > len(crlf) {
		line, rest, _ = bytes.Cut(rest, crlf)
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !plainToken(name) || !plainText(value) {
			return nil, nil
		}
		value = bytes.Trim(value, " \t")
		switch {
		case equalFold(name, "Content-Length"):
			n, err := strconv.ParseUint(string(value), 10, 63)
			if err != nil || resp.ContentLength >= 0 {
				return nil, nil
			}
			resp.ContentLength = int64(n)
		case equalFold(name, "Transfer-Encoding"):
			return nil, nil
		case equalFold(name, "Connection"):
			switch {
			case equalFold(value, "close"):
				resp.Close = true
			case !equalFold(value, "keep-alive"):
				return nil, nil
			}
		case equalFold(name, InlineLogsHeader):
			if resp.Header != nil {
				return nil, nil
			}
			resp.Header = http.Header{InlineLogsHeader: {string(value)}}
		}
	}
	if resp.ContentLength < 0 || !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		return nil, nil
	}
	_, _ = br.Discard(len(head))
	resp.Body = &lengthBody{r: br, n: resp.ContentLength}
	return resp, nil
}

var crlf = []byte("\r\n")

// equalFold reports whether b equals s ignoring case; the head's text is
// ASCII here (plainToken, plainText), where bytes.EqualFold is ASCII's.
func equalFold(b []byte, s string) bool { return len(b) == len(s) && bytes.EqualFold(b, []byte(s)) }

// peekHead returns an answer's head, through its empty line, without
// reading it from br; nil when it does not fit br's buffer. The head may
// end in bare line feeds here (readPlainAnswer leaves such a head to
// net/http), so that waiting for a CRLF never outlasts the answer.
func peekHead(br *bufio.Reader) ([]byte, error) {
	from := 0
	for {
		buf, err := br.Peek(max(br.Buffered(), 1))
		if err != nil {
			return nil, err
		}
		for i := from; i < len(buf); i++ {
			if buf[i] != '\n' {
				continue
			}
			j := i + 1
			if j < len(buf) && buf[j] == '\r' {
				j++
			}
			if j < len(buf) && buf[j] == '\n' {
				return buf[:j+1], nil
			}
		}
		if len(buf) == br.Size() {
			return nil, nil
		}
		from = max(len(buf)-2, 0)
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return nil, err
		}
	}
}

// lengthBody is the body of a plain answer: its next n bytes. An end of
// the connection before them is io.ErrUnexpectedEOF, as with net/http.
type lengthBody struct {
	r io.Reader
	n int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	if err == io.EOF {
		err = nil
		if b.n > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }

// plainStatus parses a status line "HTTP/1.1 NNN reason" with a final
// status that has a body (not 1xx, 204 or 304).
func plainStatus(line []byte) (int, bool) {
	if len(line) < len("HTTP/1.1 200") || string(line[:9]) != "HTTP/1.1 " ||
		len(line) > 12 && line[12] != ' ' || !plainText(line) {
		return 0, false
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, false
		}
		status = status*10 + int(c-'0')
	}
	return status, status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// plainToken reports whether b is a header name of letters, digits and
// "-".
func plainToken(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return len(b) > 0
}

// plainText reports whether b is printable ASCII, spaces and tabs.
func plainText(b []byte) bool {
	for _, c := range b {
		if (c < ' ' || c > '~') && c != '\t' {
			return false
		}
	}
	return true
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
