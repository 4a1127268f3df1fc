package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/flurryfn/flurry/actions/gowrap/launch"
	"github.com/flurryfn/flurry/invoker/container"
)

// Defaults for Config.
const (
	DefaultDir = "/tmp/action"
	// ExecName is the executable an action's zip must hold at its root.
	ExecName = "exec"
)

// Request body limits: /init carries base64 code (4/3 of the 256 MiB
// unpacked cap, plus slack), /run the activation (the platform allows 1 MiB).
const (
	maxInitBody = 400 << 20
	maxRunBody  = 64 << 20
)

// Config configures Serve.
type Config struct {
	// Dir is where the action's code is unpacked. Default DefaultDir.
	Dir string
	// Stdout and Stderr receive the action's output and the end marker
	// after each activation. Default io.Discard.
	Stdout, Stderr io.Writer
	// Env is the base environment of the action ("K=V"), to which /init's
	// env and the __OW_ variables are added. The proxy reads no
	// environment itself; cmd/flurry passes os.Environ().
	Env []string
	// Language is the kind of code /init accepts: Native (default)
	// executables, or Python or Nodejs source (text, or a zip with its
	// dependencies) run by the embedded launcher.
	Language Language
	// Interpreter runs Python or Nodejs code. Default DefaultPython or
	// DefaultNode.
	Interpreter string
	// Logger receives the proxy's own diagnostics. Default: discard, since
	// the proxy's stdout and stderr are the action's logs.
	Logger *slog.Logger
	// InlineLogs keeps the action's output in the proxy and returns each
	// activation's lines in the answer to a request that asks for them
	// with container.InlineLogsHeader (see inline.go); Stdout and Stderr get only
	// the lines no request took.
	InlineLogs bool
	// RunSocket, with InlineLogs, is where a Go action built by gowrap is
	// asked to serve /run itself (direct run, ADR 014): a unix socket path
	// in the directory of the proxy's own socket. Empty: never offered.
	RunSocket string
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Dir == "" {
		out.Dir = DefaultDir
	}
	if out.Stdout == nil {
		out.Stdout = io.Discard
	}
	if out.Stderr == nil {
		out.Stderr = io.Discard
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	d := c.withDefaults()
	if !filepath.IsAbs(d.Dir) {
		return fmt.Errorf("proxy: dir %q must be an absolute path", d.Dir)
	}
	if _, err := ParseLanguage(string(d.Language)); err != nil {
		return err
	}
	return nil
}

// Serve serves the action protocol on ln until ctx is done, then stops the
// action and returns nil. It returns an error when ln fails or cfg is
// invalid. ln is closed on return.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		_ = ln.Close()
		return err
	}
	p := &server{cfg: cfg.withDefaults()}
	p.out, p.errs = p.cfg.Stdout, p.cfg.Stderr
	if cfg.InlineLogs {
		p.inline = [2]*logBuffer{newLogBuffer(), newLogBuffer()}
		p.out, p.errs = p.inline[0], p.inline[1]
	}
	srv := &http.Server{
		Handler:           p.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		// In-flight runs see ctx end and give up, so shutdown is quick.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(p.cfg.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
		<-errc
	}
	p.stop()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("proxy: serve: %w", err)
	}
	return nil
}

type server struct {
	cfg Config
	// out and errs receive the action's output and the end markers: the
	// real Stdout and Stderr, or with InlineLogs the inline buffers.
	out, errs io.Writer
	inline    [2]*logBuffer // nil without InlineLogs

	mu          sync.Mutex
	initialized bool // set by the first /init, successful or not
	child       *child
	stopped     bool
	app         bool   // the child is an app (ADR 010), loaded by a successful /init
	endpoint    string // the app endpoint /specialize pinned, "" before
	direct      bool   // the child serves /run itself on cfg.RunSocket (ADR 014)
}

func (p *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /init", p.handleInit)
	mux.HandleFunc("POST /run", p.handleRun)
	mux.HandleFunc("POST /register", p.handleRegister)
	mux.HandleFunc("POST /specialize", p.handleSpecialize)
	return mux
}

// stop kills the action; later requests fail.
func (p *server) stop() {
	p.mu.Lock()
	c := p.child
	p.stopped = true
	p.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// initRequest is /init's body.
type initRequest struct {
	Value *struct {
		Name   string                     `json:"name"`
		Main   string                     `json:"main"`
		Code   codeText                   `json:"code"`
		Binary bool                       `json:"binary"`
		Env    map[string]json.RawMessage `json:"env"`
		// App asks for app mode: code is a WSGI app, main its module:attr.
		App bool `json:"app"`
	} `json:"value"`
}

func (p *server) handleInit(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.initialized || p.stopped {
		writeError(w, http.StatusForbidden, "Cannot initialize the action more than once.")
		return
	}
	var req initRequest
	if err := decodeInit(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("malformed init request: %v", err))
		return
	}
	// Only a well-formed request uses up the one /init, so a client bug
	// can be retried; a bad action cannot.
	p.initialized = true
	c, direct, err := p.init(r.Context(), &req)
	if err != nil {
		p.cfg.Logger.Warn("init failed", "error", err)
		// The marker closes the failed init's output (a traceback), so
		// the invoker can put it in the record without waiting.
		if c != nil {
			c.mark(container.EndMarker)
			c.close()
		} else {
			p.markLocked()
		}
		status := http.StatusBadGateway
		if errors.Is(err, errNoApps) {
			status = http.StatusNotImplemented
		}
		status, body := errorBody(status, err.Error())
		p.answer(w, r, status, body)
		return
	}
	p.child = c
	p.app = req.Value.App
	if direct {
		p.direct = true
		writeJSON(w, http.StatusOK, initAnswer{OK: true, RunSocket: filepath.Base(p.cfg.RunSocket)})
		return
	}
	writeJSON(w, http.StatusOK, initAnswer{OK: true})
}

// initAnswer is /init's answer to a request it took. RunSocket, the name
// of a socket next to the proxy's, says the action serves /run there
// itself (ADR 014) and the proxy no longer does.
type initAnswer struct {
	OK        bool   `json:"ok"`
	RunSocket string `json:"runSocket,omitempty"`
}

// init prepares the action and starts it; direct is true when the action
// took the offer to serve /run itself. On an error after the start it also
// returns the (stopped) child, whose output still has to be marked.
func (p *server) init(ctx context.Context, req *initRequest) (c *child, direct bool, err error) {
	v := req.Value
	if v == nil {
		return nil, false, errors.New("init request has no value")
	}
	if len(v.Code) == 0 {
		return nil, false, errors.New("init request has no code")
	}
	if v.App && p.cfg.Language != Python {
		return nil, false, p.noAppsError()
	}
	if !v.Binary && p.cfg.Language == Native {
		return nil, false, errors.New("this runtime runs native executables only: send code as a base64 zip holding an executable named exec, or the executable itself, with binary=true")
	}
	code := []byte(v.Code)
	if v.Binary {
		var err error
		if code, err = decodeBase64(v.Code); err != nil {
			return nil, false, fmt.Errorf("code is not valid base64: %w", err)
		}
	}
	if err := os.MkdirAll(p.cfg.Dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("create action dir: %w", err)
	}
	var argv []string
	switch {
	case v.App:
		argv, err = p.prepareApp(code, v.Binary, v.Main)
	case p.cfg.Language == Native:
		argv, err = p.prepareExecutable(code)
	default:
		argv, err = p.prepareSource(code, v.Binary, v.Main)
	}
	if err != nil {
		return nil, false, err
	}
	env, err := actionEnv(p.cfg.Env, v.Name, v.Env)
	if err != nil {
		return nil, false, err
	}
	if !hasVar(env, "GOMAXPROCS") {
		// An action answers one activation at a time and its container
		// gets a share of the CPU, not cores: a Go runtime with one P per
		// host core only adds idle threads that spin and wake (ADR 012).
		env = append(env, "GOMAXPROCS=1")
	}
	direct = p.offerDirect(v.App, code)
	if direct {
		_ = os.Remove(p.cfg.RunSocket)
		env = append(env, launch.RunSocketEnv+"="+p.cfg.RunSocket)
	}
	if p.cfg.Language != Native || direct {
		// The launcher loads the code first and says whether it could, so
		// a syntax error or a missing main fails /init, not the first /run.
		env = append(env, "__OW_WAIT_FOR_ACK=1")
	}
	c, err = startChild(argv, p.cfg.Dir, env, p.out, p.errs)
	if err != nil {
		return nil, false, fmt.Errorf("start action executable: %w", err)
	}
	if p.cfg.Language != Native || direct {
		protocol, err := c.awaitAck(ctx)
		if err != nil {
			return c, false, err
		}
		// A launcher that could not serve its socket says so on stderr
		// and speaks actionloop instead.
		direct = direct && protocol == launch.Protocol
	}
	if direct {
		// The action answers /run with its own logs from now on; what
		// still reaches its pipes (the lines of a /run that did not ask
		// for them, with their markers) goes to the container's output.
		c.out.setWriter(p.cfg.Stdout)
		c.errs.setWriter(p.cfg.Stderr)
	}
	return c, direct, nil
}

// offerDirect reports whether the action just unpacked from code gets the
// offer to serve /run itself: a native executable with gowrap's launcher,
// which carries launch.Protocol, on a proxy with inline logs and a
// RunSocket. code is the executable itself unless it is a zip.
func (p *server) offerDirect(app bool, code []byte) bool {
	if app || p.cfg.Language != Native || p.cfg.RunSocket == "" || !p.cfg.InlineLogs {
		return false
	}
	exe := code
	if isZip(code) {
		var err error
		if exe, err = os.ReadFile(filepath.Join(p.cfg.Dir, ExecName)); err != nil {
			return false
		}
	}
	return bytes.Contains(exe, []byte(launch.Protocol))
}

// prepareExecutable puts a native action (an executable, or a zip holding
// one named exec) into the action dir and returns its command line.
func (p *server) prepareExecutable(code []byte) ([]string, error) {
	exe := filepath.Join(p.cfg.Dir, ExecName)
	if isZip(code) {
		if err := unzip(code, p.cfg.Dir, maxUnpacked); err != nil {
			return nil, fmt.Errorf("unpack zip: %w", err)
		}
		fi, err := os.Lstat(exe)
		if err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("zip has no executable file named %q at its root", ExecName)
		}
	} else if err := os.WriteFile(exe, code, 0o755); err != nil {
		return nil, fmt.Errorf("write executable: %w", err)
	}
	if err := os.Chmod(exe, 0o755); err != nil {
		return nil, fmt.Errorf("make executable: %w", err)
	}
	return []string{exe}, nil
}

// actionEnv is base plus init's env (strings as they are, other JSON values
// as their JSON text, as OpenWhisk does) plus __OW_ACTION_NAME.
func actionEnv(base []string, name string, extra map[string]json.RawMessage) ([]string, error) {
	env := append([]string(nil), base...)
	for k, raw := range extra {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("invalid environment variable name %q", k)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			s = string(raw)
		}
		env = append(env, k+"="+s)
	}
	if name != "" {
		env = append(env, "__OW_ACTION_NAME="+name)
	}
	return env, nil
}

// hasVar reports whether env ("K=V") sets name.
func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

func (p *server) handleRun(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	c, direct := p.child, p.direct
	p.mu.Unlock()
	if direct {
		writeError(w, http.StatusConflict, fmt.Sprintf("This action serves /run itself, on the socket %s next to this one.", filepath.Base(p.cfg.RunSocket)))
		return
	}

	status, body := p.run(r, c)
	p.finish(w, r, c, status, body)
}

// finish ends an activation: it writes the end marker, then the answer.
// The marker goes out before the response, so once the invoker has the
// response the activation's logs are complete up to the marker.
func (p *server) finish(w http.ResponseWriter, r *http.Request, c *child, status int, body []byte) {
	if c != nil {
		c.mark(container.EndMarker)
	} else {
		p.markNoChild()
	}
	p.answer(w, r, status, body)
}

func (p *server) run(r *http.Request, c *child) (int, []byte) {
	if c == nil {
		return errorBody(http.StatusForbidden, "Cannot run an action that is not initialized.")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxRunBody)
	in, err := io.ReadAll(r.Body)
	if err != nil {
		return errorBody(http.StatusBadRequest, fmt.Sprintf("read run request: %v", err))
	}
	var line bytes.Buffer
	if err := json.Compact(&line, in); err != nil || !jsonObject(line.Bytes()) {
		return errorBody(http.StatusBadRequest, "malformed run request: body must be a JSON object")
	}
	res, err := c.run(r.Context(), line.Bytes())
	if err != nil {
		p.cfg.Logger.Warn("run failed", "error", err)
		return errorBody(http.StatusBadGateway, err.Error())
	}
	return http.StatusOK, res
}

// markNoChild writes the marker when there is no action to flush.
func (p *server) markNoChild() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.markLocked()
}

func (p *server) markLocked() {
	_, _ = io.WriteString(p.out, container.EndMarker+"\n")
	_, _ = io.WriteString(p.errs, container.EndMarker+"\n")
}

// codeText is /init's code string. Code is megabytes of base64 on every
// cold and prewarm start, so it is kept as the raw bytes between the
// quotes when it holds no escapes (base64 never does) instead of being
// copied into a string first.
type codeText []byte

// UnmarshalJSON implements json.Unmarshaler.
func (c *codeText) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && bytes.IndexByte(b, '\\') < 0 {
		*c = append((*c)[:0], b[1:len(b)-1]...)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*c = codeText(s)
	return nil
}

// decodeInit reads /init's body. The code is megabytes of base64 on every
// cold and prewarm start, and running encoding/json's scanner over it was
// half of /init's time (≈10 ms for a 2 MB executable). Base64 holds no
// quote or backslash, so when the body has exactly one `"code":"` it is
// cut out with a byte search, the small remainder is decoded as JSON, and
// the code is put back only if the remainder proves that the cut field
// was value.code. Anything else takes the ordinary path.
func decodeInit(w http.ResponseWriter, r *http.Request, req *initRequest) error {
	body, err := readBody(w, r, maxInitBody)
	if err != nil {
		return err
	}
	const key = `"code":"`
	if bytes.Count(body, []byte(key)) == 1 {
		start := bytes.Index(body, []byte(key)) + len(key)
		n := bytes.IndexByte(body[start:], '"')
		if n >= 0 && bytes.IndexByte(body[start:start+n], '\\') < 0 {
			rest := make([]byte, 0, len(body)-n)
			rest = append(append(rest, body[:start]...), body[start+n:]...)
			var probe struct {
				Value *struct {
					Code *string                    `json:"code"`
					Env  map[string]json.RawMessage `json:"env"`
				} `json:"value"`
			}
			if json.Unmarshal(rest, &probe) == nil && probe.Value != nil && probe.Value.Code != nil {
				if _, inEnv := probe.Value.Env["code"]; !inEnv {
					if err := json.Unmarshal(rest, req); err != nil {
						return err
					}
					req.Value.Code = codeText(body[start : start+n])
					return nil
				}
			}
		}
	}
	return json.Unmarshal(body, req)
}

// readBody reads r's body, at most limit bytes, into one buffer of the
// length the client declared when it declared one: /init's body is
// megabytes, and io.ReadAll's growing buffer copied and faulted in twice
// that on every cold start.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	if n := r.ContentLength; n > 0 && n <= limit {
		buf := make([]byte, n)
		if _, err := io.ReadFull(body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(body)
}

// decodeBase64 accepts standard base64 with or without padding and line
// breaks, as wsk and OpenWhisk clients send it. The usual text, padded
// and unbroken, is decoded in one pass (the decoder skips line breaks
// itself); only text it refuses is cleaned of blanks and tried unpadded.
func decodeBase64(s []byte) ([]byte, error) {
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	if n, err := base64.StdEncoding.Decode(dst, s); err == nil {
		return dst[:n], nil
	}
	s = bytes.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if n, err := base64.StdEncoding.Decode(dst, s); err == nil {
		return dst[:n], nil
	}
	return base64.RawStdEncoding.AppendDecode(nil, bytes.TrimRight(s, "="))
}

func jsonObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

func errorBody(status int, msg string) (int, []byte) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return status, b
}

// writeRaw answers with body, a JSON document.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
