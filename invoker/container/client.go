package container

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
)

// maxResponseCount bounds how many bytes of an oversized /run response are
// read to report its size; past it the connection is dropped.
const maxResponseCount = 64 << 20

// maxInitResponse bounds the body of an /init response.
const maxInitResponse = 64 << 10

// Client speaks the OpenWhisk action protocol to one container's proxy.
// It is safe for concurrent use and keeps connections alive between calls.
// It has no timeout of its own: every call's ctx carries the deadline.
type Client struct {
	base string
	addr string
	http *http.Client
	// run sends /run on a unix socket (nil for host:port): the proxy's,
	// or the action's own once /init said the action serves /run itself
	// (direct run, ADR 014).
	run atomic.Pointer[runConns]
	// onLogs receives the log parts of answers (InlineLogs); nil when the
	// client does not ask for them.
	onLogs func(stdout, stderr []byte)
}

// NewClient returns a client for the proxy at addr: host:port, or
// unix:<path> for a proxy on a unix socket.
func NewClient(addr string) *Client {
	c := &Client{base: "http://" + addr, addr: addr, http: httpClient(addr)}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		c.base = "http://proxy"
		c.run.Store(&runConns{path: path})
	}
	return c
}

// httpClient returns an HTTP client whose connections go to addr: host:port,
// or unix:<path>.
func httpClient(addr string) *http.Client {
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	dial := dialer.DialContext
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", path)
		}
	}
	// A Transport per container: its idle connections die with the client
	// instead of lingering in a shared pool keyed by stale addresses.
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         dial,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr}
}

// InlineLogs makes every request ask the proxy (started with
// --inline-logs) for the logs of the activation it ends, and hands them to
// f before the call returns: stdout's and stderr's lines, each in the
// InlineLogsHeader format ending with EndMarker (LogCollector.Feed takes
// them). Call it before the first request.
func (c *Client) InlineLogs(f func(stdout, stderr []byte)) { c.onLogs = f }

// Close releases the client's idle connections.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
	if r := c.run.Load(); r != nil {
		r.close()
	}
}

// ActionError is a non-200 answer of the proxy: the action (or its /init)
// failed. It is the action developer's error, not the platform's.
type ActionError struct {
	StatusCode int
	Message    string
}

func (e *ActionError) Error() string {
	return fmt.Sprintf("action error (status %d): %s", e.StatusCode, e.Message)
}

// WaitReady polls the proxy until it answers HTTP (any status) or ctx is
// done. The poll starts every 2 ms and backs off to 20 ms, so a proxy that
// comes up quickly costs little latency.
func (c *Client) WaitReady(ctx context.Context) error {
	interval := 2 * time.Millisecond
	var last error
	for {
		if last = c.probe(ctx); last == nil {
			return nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("proxy at %s not ready: %w (last: %v)", c.addr, ctx.Err(), last)
		case <-t.C:
		}
		if interval = interval * 3 / 2; interval > 20*time.Millisecond {
			interval = 20 * time.Millisecond
		}
	}
}

// probe makes one GET / and accepts any HTTP answer: a published port
// (docker-proxy) accepts TCP before the proxy inside listens, so a TCP
// connect alone would not prove readiness. The connection stays in the
// pool for the /init that follows.
func (c *Client) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, c.base+"/", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return resp.Body.Close()
}

// InitRequest is the value of an /init call.
type InitRequest struct {
	Name   string
	Main   string
	Code   string // text, or base64 when Binary
	Binary bool
	Env    map[string]string
	// App asks for app mode (ADR 010): Main names the WSGI object.
	App bool
}

// Init sends /init. A non-200 answer is an *ActionError carrying the
// proxy's "error" message (403 for a second /init); any other error is a
// transport failure or ctx being done.
func (c *Client) Init(ctx context.Context, req InitRequest) error {
	body, err := initBody(req)
	if err != nil {
		return fmt.Errorf("encode init: %w", err)
	}
	resp, err := c.post(ctx, "/init", body)
	if err != nil {
		return fmt.Errorf("init %s: %w", c.addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxInitResponse))
	if err != nil {
		return fmt.Errorf("init %s: read response: %w", c.addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &ActionError{StatusCode: resp.StatusCode, Message: errorMessage(resp.StatusCode, data)}
	}
	return c.useRunSocket(data)
}

// useRunSocket sends later /run requests to the socket an /init answer
// names, if it names one: the action serves /run itself (ADR 014).
func (c *Client) useRunSocket(answer []byte) error {
	var a struct {
		RunSocket string `json:"runSocket"`
	}
	if json.Unmarshal(answer, &a) != nil || a.RunSocket == "" {
		return nil
	}
	path, ok := strings.CutPrefix(c.addr, "unix:")
	name := filepath.Base(a.RunSocket)
	if !ok || name != a.RunSocket || name == "." || name == ".." {
		return fmt.Errorf("init %s: the proxy named a run socket %q; only a name next to its own unix socket is allowed", c.addr, a.RunSocket)
	}
	if old := c.run.Swap(&runConns{path: filepath.Join(filepath.Dir(path), name)}); old != nil {
		old.close()
	}
	return nil
}

// initBody encodes an /init request. Code is megabytes of base64 on the
// cold and prewarm path, and encoding/json's string escaping of it cost
// more than the rest of /init (≈13 ms for a 2 MB executable); base64 text
// needs no JSON escaping, so it is spliced in as is when it is plain
// base64, and everything else goes through encoding/json.
func initBody(req InitRequest) ([]byte, error) {
	type value struct {
		Name   string            `json:"name"`
		Main   string            `json:"main"`
		Binary bool              `json:"binary"`
		Env    map[string]string `json:"env,omitempty"`
		App    bool              `json:"app,omitempty"`
		Code   string            `json:"code"`
	}
	if !req.Binary || !plainBase64(req.Code) {
		return json.Marshal(struct {
			Value value `json:"value"`
		}{value{req.Name, req.Main, req.Binary, req.Env, req.App, req.Code}})
	}
	head, err := json.Marshal(value{Name: req.Name, Main: req.Main, Binary: req.Binary, Env: req.Env, App: req.App})
	if err != nil {
		return nil, err
	}
	// head ends in `"code":""}`: drop `""}` and splice the code in.
	head = head[:len(head)-3]
	body := make([]byte, 0, len(`{"value":`)+len(head)+len(req.Code)+4)
	body = append(body, `{"value":`...)
	body = append(body, head...)
	body = append(body, '"')
	body = append(body, req.Code...)
	body = append(body, `"}}`...)
	return body, nil
}

// plainBase64 reports whether s holds only the standard base64 alphabet,
// none of which JSON escapes. It looks each byte up in a table: the
// chain of range tests it replaces mispredicted on every few bytes of
// base64 and cost 17 ms for a 2.6 MB executable, most of initBody.
func plainBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		if !base64Alphabet[s[i]] {
			return false
		}
	}
	return true
}

// base64Alphabet marks the bytes of standard base64 and its padding.
var base64Alphabet = func() (t [256]bool) {
	for _, b := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") {
		t[b] = true
	}
	return t
}()

// errorMessage is the "error" field of a JSON body, else the body's text.
func errorMessage(status int, data []byte) string {
	var obj struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &obj) == nil && len(obj.Error) > 0 {
		var s string
		if json.Unmarshal(obj.Error, &s) == nil {
			return s
		}
		return string(obj.Error)
	}
	if s := strings.TrimSpace(string(data)); s != "" {
		return s
	}
	return http.StatusText(status)
}

// RunRequest is one activation sent to /run.
type RunRequest struct {
	Value         json.RawMessage // the parameters, a JSON object
	Namespace     string
	ActionName    string
	ActionVersion string
	ActivationID  string
	Deadline      int64 // unix milliseconds
	APIKey        string
}

// RunResponse is the proxy's answer to /run.
type RunResponse struct {
	StatusCode int
	// Body is the response body, nil when Truncated.
	Body json.RawMessage
	// Truncated is true when the body exceeded entity.MaxPayloadBytes.
	Truncated bool
	// Size is the number of body bytes read (counting stops at 64 MiB).
	Size int64
}

// Run sends /run. Whatever the proxy answers is a RunResponse (the caller
// decides success from StatusCode and Body); the error is only for a
// transport failure or ctx being done (errors.Is(err, context.DeadlineExceeded)
// for a timeout).
func (c *Client) Run(ctx context.Context, req RunRequest) (RunResponse, error) {
	value := req.Value
	if len(bytes.TrimSpace(value)) == 0 {
		value = json.RawMessage("{}")
	}
	// The value goes last: the Go launcher then reads the other members
	// in this order without a JSON decoder, and decodes only the value
	// (actions/gowrap/launch, decode.go).
	body, err := json.Marshal(struct {
		Namespace     string          `json:"namespace"`
		ActionName    string          `json:"action_name"`
		ActionVersion string          `json:"action_version"`
		ActivationID  string          `json:"activation_id"`
		Deadline      string          `json:"deadline"`
		APIKey        string          `json:"api_key,omitempty"`
		Value         json.RawMessage `json:"value"`
	}{req.Namespace, req.ActionName, req.ActionVersion, req.ActivationID,
		strconv.FormatInt(req.Deadline, 10), req.APIKey, value})
	if err != nil {
		return RunResponse{}, fmt.Errorf("encode run: %w", err)
	}
	var resp *http.Response
	if r := c.run.Load(); r != nil {
		if resp, err = r.do(ctx, body, c.onLogs != nil); err == nil {
			resp, err = c.takeLogs(resp)
		} else {
			err = withCtxErr(ctx, err)
		}
	} else {
		resp, err = c.post(ctx, "/run", body)
	}
	if err != nil {
		return RunResponse{}, fmt.Errorf("run %s: %w", c.addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, entity.MaxPayloadBytes+1))
	if err != nil {
		return RunResponse{}, fmt.Errorf("run %s: read response: %w", c.addr, err)
	}
	out := RunResponse{StatusCode: resp.StatusCode, Body: data, Size: int64(len(data))}
	if len(data) > entity.MaxPayloadBytes {
		n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseCount-int64(len(data))))
		if err != nil {
			return RunResponse{}, fmt.Errorf("run %s: read response: %w", c.addr, err)
		}
		out.Body, out.Truncated, out.Size = nil, true, int64(len(data))+n
	}
	return out, nil
}

// Register asks an app container for its route table (ADR 010) and
// returns the proxy's JSON answer. A non-200 answer is an *ActionError.
func (c *Client) Register(ctx context.Context) (json.RawMessage, error) {
	return c.appCall(ctx, "/register", nil)
}

// Specialize dedicates an app container to endpoint (ADR 010). A non-200
// answer (unknown endpoint, already specialized) is an *ActionError.
func (c *Client) Specialize(ctx context.Context, endpoint string) error {
	body, err := json.Marshal(map[string]string{"endpoint": endpoint})
	if err != nil {
		return fmt.Errorf("encode specialize: %w", err)
	}
	_, err = c.appCall(ctx, "/specialize?endpoint="+url.QueryEscape(endpoint), body)
	return err
}

func (c *Client) appCall(ctx context.Context, path string, body []byte) (json.RawMessage, error) {
	resp, err := c.post(ctx, path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", path, c.addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, entity.MaxPayloadBytes))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", path, c.addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &ActionError{StatusCode: resp.StatusCode, Message: errorMessage(resp.StatusCode, data)}
	}
	return data, nil
}

func (c *Client) post(ctx context.Context, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.onLogs != nil {
		req.Header.Set(InlineLogsHeader, "1")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, withCtxErr(ctx, err)
	}
	return c.takeLogs(resp)
}

// withCtxErr keeps ctx's error visible to errors.Is even when the
// transport reports it in its own words.
func withCtxErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w: %v", ctxErr, err)
	}
	return err
}

// takeLogs hands the log parts of an answer with inline logs to onLogs
// once its body is closed, and leaves the result as the body.
func (c *Client) takeLogs(resp *http.Response) (*http.Response, error) {
	if h := resp.Header.Get(InlineLogsHeader); h != "" && c.onLogs != nil {
		body, err := splitLogs(resp.Body, h, c.onLogs)
		if err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("answer with inline logs: %w", err)
		}
		resp.Body = body
	}
	return resp, nil
}

// maxInlineLogs bounds the log parts of one answer; past it they are read
// and dropped (the proxy buffers at most 16 MiB per stream).
const maxInlineLogs = 32 << 20

// splitLogs makes an answer's body only its first part (the result); when
// the caller closes it, the log parts are read and passed to onLogs.
func splitLogs(body io.ReadCloser, header string, onLogs func(stdout, stderr []byte)) (io.ReadCloser, error) {
	var n [3]int64
	fields := strings.Fields(header)
	if len(fields) != 3 {
		return nil, fmt.Errorf("malformed %s header %q", InlineLogsHeader, header)
	}
	for i, f := range fields {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("malformed %s header %q", InlineLogsHeader, header)
		}
		n[i] = v
	}
	return &resultBody{Reader: io.LimitReader(body, n[0]), body: body, out: n[1], errs: n[2], onLogs: onLogs}, nil
}

// resultBody reads the result part of an answer with inline logs.
type resultBody struct {
	io.Reader
	body      io.ReadCloser
	out, errs int64
	onLogs    func(stdout, stderr []byte)
}

func (b *resultBody) Close() error {
	defer b.body.Close()
	// What the caller left of the result (an oversized one) comes first.
	if _, err := io.Copy(io.Discard, b.Reader); err != nil {
		return err
	}
	if b.out+b.errs > maxInlineLogs {
		_, err := io.Copy(io.Discard, b.body)
		return err
	}
	logs := make([]byte, b.out+b.errs)
	if _, err := io.ReadFull(b.body, logs); err != nil {
		return err
	}
	b.onLogs(logs[:b.out], logs[b.out:])
	return nil
}
