package launch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// The proxy's /run format, which the invoker's client reads (see
// invoker/container): the end-of-activation marker and the request header
// that asks for the activation's log lines in the answer. Tests check that
// they match the invoker's.
const (
	EndMarker  = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
	LogsHeader = "Flurry-Logs"
)

// maxRunBody bounds a /run request, as the proxy does (the platform allows
// 1 MiB of parameters).
const maxRunBody = 64 << 20

// serve answers /run on a unix socket at path until the process is
// stopped. It acknowledges on ack once it listens, or reports there why it
// could not. Stdin closing (the proxy gone) ends the process.
func serve(path string, action Action, ack *os.File) error {
	s, err := newServer(path, action)
	if err != nil {
		b, _ := json.Marshal(map[string]string{"error": "direct run: " + err.Error()})
		writeLine(ack, b)
		return err
	}
	writeLine(ack, []byte(`{"ok":true,"protocol":"`+Protocol+`"}`))
	go func() {
		_, _ = io.Copy(io.Discard, setNonblock(0))
		os.Exit(0)
	}()
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(s.ln)
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
		s.origErrs, s.errs, err = redirect(2)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("capture output: %w", err)
	}
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/run" {
		writeError(w, http.StatusNotFound, "not found: this socket serves only POST /run")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "/run takes POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRunBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read run request: "+err.Error())
		return
	}
	var msg activation
	if err := json.Unmarshal(body, &msg); err != nil {
		writeError(w, http.StatusBadRequest, "malformed run request: body must be a JSON object")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	res := run(s.action, &msg)
	out, errs := s.out.take(), s.errs.take()
	if r.Header.Get(LogsHeader) == "" || r.Context().Err() != nil {
		// Nobody takes the lines from the answer: they go where the
		// proxy's would, the container's output.
		writeText(s.origOut, out)
		writeText(s.origErrs, errs)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(res)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(LogsHeader, strconv.Itoa(len(res))+" "+strconv.Itoa(len(out))+" "+strconv.Itoa(len(errs)))
	h.Set("Content-Length", strconv.Itoa(len(res)+len(out)+len(errs)))
	_, _ = w.Write(res)
	_, _ = w.Write(out)
	_, _ = w.Write(errs)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorResult(msg))
}

// writeText writes stamped lines to f without their stamps.
func writeText(f *os.File, seg []byte) {
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
	_, _ = f.Write(out)
}
