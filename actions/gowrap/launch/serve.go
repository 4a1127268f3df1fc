package launch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
)

// The proxy's /run format, which the invoker's client reads (see
// invoker/container): the end-of-activation marker and the request header
// that asks for the activation's log lines in the answer. Tests check that
// they match the invoker's.
const (
	EndMarker  = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
	LogsHeader = "Flurry-Logs"
)

// maxRunBody bounds a /run request's body, as the proxy does (the
// platform allows 1 MiB of parameters).
const maxRunBody = 64 << 20

// serve answers /run on a unix socket at path until the process is
// stopped, once it has acknowledged on ack that it does. Stdin closing
// (the proxy gone) ends the process. It returns only when it cannot
// listen or capture its output, before acknowledging: the caller then
// speaks actionloop.
func serve(path string, action Action, ack *os.File) error {
	s, err := newServer(path, action)
	if err != nil {
		return err
	}
	writeLine(ack, []byte(`{"ok":true,"protocol":"`+Protocol+`"}`))
	go func() {
		_, _ = io.Copy(io.Discard, setNonblock(0))
		os.Exit(0)
	}()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "flurry: direct run:", err)
			os.Exit(2)
		}
		go s.serveConn(conn)
	}
}

// server is the direct-run /run handler.
type server struct {
	ln     net.Listener
	action Action
	// out and errs capture what the process writes on stdout and stderr;
	// orig are where those went before: the proxy's pipes, which pass an
	// activation's lines on when its request did not ask for them.
	out, errs *capture
	origOut   *os.File
	origErrs  *os.File
	mu        sync.Mutex // one activation at a time: the env is the process's
}

func newServer(path string, action Action) (*server, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// The invoker is not the container's user; the socket's directory is
	// what guards it, as for the proxy's own socket.
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, err
	}
	s := &server{ln: ln, action: action}
	if s.origOut, s.out, err = redirect(1); err == nil {
		if s.origErrs, s.errs, err = redirect(2); err != nil {
			restore(1, s.origOut)
		}
	}
	if err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("capture output: %w", err)
	}
	return s, nil
}

// serveConn answers the requests on one connection in turn, on this
// goroutine: net/http's server would add a goroutine per connection
// reading in the background and waking at the end of every request, which
// costs more than the no-op action it serves (ADR 014). Requests are read
// by readRequest, answers written in one piece, and the socket read and
// written with raw system calls (rawio.go).
func (s *server) serveConn(conn net.Conn) {
	defer conn.Close()
	rw, err := newRawConn(conn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flurry: direct run:", err)
		return
	}
	br := bufio.NewReaderSize(rw, maxHeader)
	var buf, body []byte
	for {
		req, err := readRequest(br, body)
		if err != nil {
			var bad *requestError
			if errors.As(err, &bad) {
				_, _ = rw.Write(answer(buf[:0], bad.status, errorResult(bad.msg), nil, nil))
			}
			return
		}
		if body = req.body; cap(body) > 1<<20 {
			body = nil // a rare large request's buffer is not kept
		}
		var lines [2][]byte
		buf, lines = s.handle(buf[:0], &req)
		if _, err := rw.Write(buf); err != nil {
			// The invoker gave up (a timeout): the activation's lines go
			// where the proxy's would, the container's output.
			WriteText(s.origOut, lines[0])
			WriteText(s.origErrs, lines[1])
			return
		}
		if req.close {
			return
		}
	}
}

// handle answers req into buf, with lines the activation's stdout and
// stderr when they are in the answer.
func (s *server) handle(buf []byte, req *request) (_ []byte, lines [2][]byte) {
	if !req.run {
		return answer(buf, http.StatusNotFound, errorResult("not found: this socket serves only POST /run"), nil, nil), lines
	}
	if !req.post {
		return answer(buf, http.StatusMethodNotAllowed, errorResult("/run takes POST"), nil, nil), lines
	}
	var msg activation
	if err := decodeActivation(req.body, &msg); err != nil {
		return answer(buf, http.StatusBadRequest, errorResult("malformed run request: body must be a JSON object"), nil, nil), lines
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	res := run(s.action, &msg)
	out, errs := s.out.take(), s.errs.take()
	if !req.logs {
		// Nobody takes the lines from the answer: they go where the
		// proxy's would, the container's output.
		WriteText(s.origOut, out)
		WriteText(s.origErrs, errs)
		return answer(buf, http.StatusOK, res, nil, nil), lines
	}
	return answer(buf, http.StatusOK, res, out, errs), [2][]byte{out, errs}
}

// answer appends an HTTP/1.1 response to buf: body, and when out or errs
// is given, the activation's log lines after it, with their lengths in
// LogsHeader, in the proxy's format.
func answer(buf []byte, status int, body, out, errs []byte) []byte {
	buf = append(buf, "HTTP/1.1 "...)
	buf = strconv.AppendInt(buf, int64(status), 10)
	buf = append(buf, ' ')
	buf = append(buf, http.StatusText(status)...)
	buf = append(buf, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	buf = strconv.AppendInt(buf, int64(len(body)+len(out)+len(errs)), 10)
	if out != nil || errs != nil {
		buf = append(buf, "\r\n"+LogsHeader+": "...)
		buf = strconv.AppendInt(buf, int64(len(body)), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(len(out)), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(len(errs)), 10)
	}
	buf = append(buf, "\r\n\r\n"...)
	buf = append(buf, body...)
	buf = append(buf, out...)
	return append(buf, errs...)
}

// WriteText writes stamped log lines ("<unix nanos> <text>\n", the
// inline-log format of the proxy and of this package) to w without their
// stamps. The proxy uses it too.
func WriteText(w io.Writer, seg []byte) {
	if len(seg) == 0 {
		return
	}
	var out []byte
	for len(seg) > 0 {
		line := seg
		if i := bytes.IndexByte(seg, '\n'); i >= 0 {
			line = seg[:i+1]
		}
		seg = seg[len(line):]
		if i := bytes.IndexByte(line, ' '); i >= 0 {
			line = line[i+1:]
		}
		out = append(out, line...)
	}
	_, _ = w.Write(out)
}
