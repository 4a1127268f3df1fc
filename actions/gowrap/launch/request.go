package launch

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// maxHeader bounds a request's line and headers together.
const maxHeader = 64 << 10

// request is what the direct-run server reads of an HTTP/1.1 request.
//
// The server's one client is the invoker, which sends a request line,
// four headers and a body with its Content-Length (invoker/container);
// a person with curl on the socket sends much the same. net/http's parser
// builds a Request, a URL and a header map for that, which was a fifth
// of an idle action's CPU per call (docs/benchmarks.md, "An idle action's
// wake-up"). This reads the fields the server uses in place and the body
// into a buffer that is reused.
type request struct {
	post  bool // the method is POST
	run   bool // the target is /run (a query is ignored)
	logs  bool // LogsHeader asks for the activation's lines
	close bool // the client closes the connection after the answer
	body  []byte
}

// requestError is a request the server cannot read, with the status and
// message to answer it with. The connection is not used again after it.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// readRequest reads one request from br, its body into body's array. It
// returns io.EOF when the connection ended cleanly before a request, and
// a *requestError for a request it cannot serve.
func readRequest(br *bufio.Reader, body []byte) (request, error) {
	var req request
	n := 0
	line, err := readLine(br, &n)
	if err != nil {
		if err == io.EOF && n == 0 {
			return req, io.EOF
		}
		return req, err
	}
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, proto, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 || !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(proto) != 8 {
		return req, &requestError{http.StatusBadRequest, "malformed HTTP request line " + strconv.Quote(string(line))}
	}
	req.post = string(method) == http.MethodPost
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	req.run = string(target) == "/run"
	req.close = proto[7] == '0' // HTTP/1.0 closes unless asked to keep alive

	length := -1
	for {
		line, err := readLine(br, &n)
		if err != nil {
			return req, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			return req, &requestError{http.StatusBadRequest, "malformed HTTP header line " + strconv.Quote(string(line))}
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			v, err := strconv.ParseUint(string(value), 10, 63)
			if err != nil || (length >= 0 && int(v) != length) {
				return req, &requestError{http.StatusBadRequest, "malformed Content-Length " + strconv.Quote(string(value))}
			}
			length = int(v)
		case asciiEqualFold(name, "Transfer-Encoding"):
			if !asciiEqualFold(value, "identity") {
				return req, &requestError{http.StatusLengthRequired, "send the request body with a Content-Length, not Transfer-Encoding " + strconv.Quote(string(value))}
			}
		case asciiEqualFold(name, "Connection"):
			for _, token := range bytes.Split(value, []byte{','}) {
				switch token = bytes.TrimSpace(token); {
				case asciiEqualFold(token, "close"):
					req.close = true
				case asciiEqualFold(token, "keep-alive"):
					req.close = false
				}
			}
		case asciiEqualFold(name, LogsHeader):
			req.logs = len(value) > 0
		}
	}

	switch {
	case length < 0:
		length = 0 // a request without a length has no body (RFC 9112, 6.3)
	case length > maxRunBody:
		return req, &requestError{http.StatusRequestEntityTooLarge, "run request over 64 MiB"}
	}
	if cap(body) < length {
		body = make([]byte, length)
	}
	req.body = body[:length]
	if _, err := io.ReadFull(br, req.body); err != nil {
		return req, &requestError{http.StatusBadRequest, "read run request: " + err.Error()}
	}
	return req, nil
}

// readLine reads one line of the request's head without its CRLF (or LF),
// counting its bytes into n against maxHeader.
func readLine(br *bufio.Reader, n *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	*n += len(line)
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || *n > maxHeader:
		return nil, &requestError{http.StatusRequestHeaderFieldsTooLarge, "HTTP request head over 64 KiB"}
	case err == io.EOF && *n > 0:
		return nil, &requestError{http.StatusBadRequest, "HTTP request cut off in its head"}
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, nil
}

// asciiEqualFold reports whether b is s, ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
