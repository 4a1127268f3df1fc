package proxy

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/flurryfn/flurry/invoker/container"
)

// App mode (ADR 010): an /init whose value has "app": true loads a whole
// WSGI application instead of an action function, /register lists its
// routes, /specialize pins the container to one of its endpoints, and
// /run serves one HTTP request event. Only the Python launcher does this.

//go:embed launchers/app.py
var pythonAppLauncher string

// defaultAppMain is the WSGI object an app runs when its main names none
// ("" or the action default "main"): the attribute app of module app.
const defaultAppMain = "app:app"

// appMain is "module[:attr]": a dotted module path and an identifier.
var appMain = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?::([A-Za-z_][A-Za-z0-9_]*))?$`)

// errNoApps is returned (wrapped) when a runtime other than Python is
// asked to serve an app; the proxy answers it with 501.
var errNoApps = errors.New("apps need the python runtime")

// maxSpecializeBody bounds /specialize's optional JSON body.
const maxSpecializeBody = 64 << 10

// parseAppMain splits main into the module to import and the attribute
// holding the WSGI object; a bare module means its attribute app.
func parseAppMain(main string) (module, attr string, err error) {
	if main == "" || main == "main" {
		main = defaultAppMain
	}
	m := appMain.FindStringSubmatch(main)
	if m == nil {
		return "", "", fmt.Errorf("main %q is not module:attr (a dotted module path and a name, such as app:app)", main)
	}
	module, attr = m[1], m[2]
	if attr == "" {
		attr = "app"
	}
	return module, attr, nil
}

// noAppsError says why this runtime cannot serve apps.
func (p *server) noAppsError() error {
	lang := string(p.cfg.Language)
	if p.cfg.Language == Native {
		lang = "native"
	}
	return fmt.Errorf("this runtime runs %s actions: %w", lang, errNoApps)
}

// prepareApp puts an app's code into the action dir and returns the
// command line of the app launcher. Text code is one module, written as
// <module>.py; binary code is a zip of the app's directory (which may
// hold a virtualenv/), unpacked as it is.
func (p *server) prepareApp(code []byte, binary bool, main string) ([]string, error) {
	module, attr, err := parseAppMain(main)
	if err != nil {
		return nil, err
	}
	switch {
	case binary && !isZip(code):
		return nil, errors.New("binary code of an app must be a zip of its directory")
	case binary:
		// Virtualenvs hold symlinks (bin/python) the app does not need;
		// they are skipped, never followed.
		if err := unpackZip(code, p.cfg.Dir, maxUnpacked, true); err != nil {
			return nil, fmt.Errorf("unpack zip: %w", err)
		}
	case strings.Contains(module, "."):
		return nil, fmt.Errorf("main %q names a module inside a package: send the app as a zip of its directory", main)
	default:
		if err := os.WriteFile(filepath.Join(p.cfg.Dir, module+".py"), code, 0o644); err != nil {
			return nil, fmt.Errorf("write code: %w", err)
		}
	}
	return []string{p.cfg.interpreter(), "-u", "-c", pythonAppLauncher, module, attr}, nil
}

// appOp is a line of the app launcher's protocol other than a run (see
// launchers/app.py).
type appOp struct {
	Op       string `json:"op"`
	Endpoint string `json:"endpoint,omitempty"`
}

// sendOp sends op to the app launcher and turns its answer into the HTTP
// answer: the launcher's object as it is, or {"error"} with the status
// the launcher asked for when the op failed.
func (p *server) sendOp(ctx context.Context, c *child, op appOp) (int, []byte) {
	line, err := json.Marshal(op)
	if err != nil {
		return errorBody(http.StatusInternalServerError, fmt.Sprintf("encode %s: %v", op.Op, err))
	}
	res, err := c.run(ctx, line)
	if err != nil {
		p.cfg.Logger.Warn("app op failed", "op", op.Op, "error", err)
		return errorBody(http.StatusBadGateway, err.Error())
	}
	var failed struct {
		Error  *string `json:"error"`
		Status int     `json:"status"`
	}
	if err := json.Unmarshal(res, &failed); err != nil {
		return errorBody(http.StatusBadGateway, fmt.Sprintf("app launcher answered %s with %q", op.Op, truncate(res, 128)))
	}
	if failed.Error != nil {
		status := failed.Status
		if status < 400 || status > 599 {
			status = http.StatusBadGateway
		}
		return errorBody(status, *failed.Error)
	}
	return http.StatusOK, res
}

// handleRegister answers POST /register with the app's routes. Like /run
// it ends an activation (the deploy's register activation), so the end
// marker follows whatever it answers.
func (p *server) handleRegister(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	c, app := p.child, p.app
	p.mu.Unlock()
	var status int
	var body []byte
	switch {
	case p.cfg.Language != Python:
		status, body = errorBody(http.StatusNotImplemented, p.noAppsError().Error())
	case c == nil || !app:
		status, body = errorBody(http.StatusConflict, "no app is initialized: /register needs a successful /init of an app")
	default:
		status, body = p.sendOp(r.Context(), c, appOp{Op: "register"})
	}
	p.finish(w, r, c, status, body)
}

// handleSpecialize answers POST /specialize?endpoint=E (or a body
// {"endpoint": E}). It is the step between /init and the first /run of a
// serve activation, so it writes the end marker only when it fails: the
// activation ends there and the invoker discards the container.
func (p *server) handleSpecialize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("endpoint") == "echo" && q.Has("echo") {
		// The self-test: it proves the proxy speaks this protocol, in any state.
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "endpoint": "echo", "echo": q.Get("echo")})
		return
	}
	endpoint := q.Get("endpoint")
	var bodyErr error
	if endpoint == "" {
		endpoint, bodyErr = endpointFromBody(r)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	status, body := p.specializeLocked(r.Context(), endpoint, bodyErr)
	if status != http.StatusOK {
		if p.child != nil {
			p.child.mark(container.EndMarker)
		} else {
			p.markLocked()
		}
	}
	p.answer(w, r, status, body)
}

// specializeLocked checks the request and the state and, the first time,
// asks the launcher whether the app has the endpoint. Called with mu held,
// so that concurrent /specialize calls see each other's outcome.
func (p *server) specializeLocked(ctx context.Context, endpoint string, bodyErr error) (int, []byte) {
	switch {
	case p.cfg.Language != Python:
		return errorBody(http.StatusNotImplemented, p.noAppsError().Error())
	case bodyErr != nil:
		return errorBody(http.StatusBadRequest, fmt.Sprintf("malformed specialize request: %v", bodyErr))
	case endpoint == "":
		return errorBody(http.StatusBadRequest, "no endpoint given: use /specialize?endpoint=E or a body {\"endpoint\": E}")
	case p.child == nil || !p.app:
		return errorBody(http.StatusConflict, "no app is initialized: /specialize needs a successful /init of an app")
	case p.endpoint == endpoint:
		return okSpecialized(endpoint)
	case p.endpoint != "":
		return errorBody(http.StatusConflict, fmt.Sprintf("the container is specialized for endpoint %q, not %q", p.endpoint, endpoint))
	}
	status, body := p.sendOp(ctx, p.child, appOp{Op: "specialize", Endpoint: endpoint})
	if status == http.StatusOK {
		p.endpoint = endpoint
		return okSpecialized(endpoint)
	}
	return status, body
}

func okSpecialized(endpoint string) (int, []byte) {
	b, _ := json.Marshal(map[string]any{"ok": true, "endpoint": endpoint})
	return http.StatusOK, b
}

// endpointFromBody reads an optional {"endpoint": E} body; an empty body
// gives "".
func endpointFromBody(r *http.Request) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxSpecializeBody+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSpecializeBody {
		return "", fmt.Errorf("body is larger than %d bytes", maxSpecializeBody)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return "", nil
	}
	var req struct {
		Endpoint string `json:"endpoint"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		return "", err
	}
	return req.Endpoint, nil
}
