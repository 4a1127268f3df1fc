package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/flurryfn/flurry/internal/entity"
)

// apiPath is the prefix of the OpenWhisk-compatible API on the host.
const apiPath = "/api/v1"

// maxBodyBytes bounds a response body: an action fetched with its code
// carries up to entity.MaxCodeBytes of base64 (4/3 larger) plus metadata.
const maxBodyBytes = entity.MaxCodeBytes/3*4 + 8<<20

// Client calls one Flurry API host with one key. It is safe for
// concurrent use.
type Client struct {
	base      string // scheme://host[/prefix]/api/v1, no trailing slash
	host      string // the normalised API host, without /api/v1
	user      string
	pass      string
	hc        *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: a client without an overall
// timeout, because blocking invocations wait for the action; bound calls
// with their context instead).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of apiHost ("http://127.0.0.1:3233", "https://host",
// or "127.0.0.1:3233", which means http) that authenticates with auth
// ("uuid:key").
func New(apiHost, auth string, opts ...Option) (*Client, error) {
	host, err := NormalizeAPIHost(apiHost)
	if err != nil {
		return nil, err
	}
	user, pass, err := entity.ParseAuth(auth)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c := &Client{base: host + apiPath, host: host, user: user, pass: pass, hc: http.DefaultClient, userAgent: "flurry-client"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// NormalizeAPIHost turns an API host as users write it into a base URL:
// http is assumed without a scheme, and a trailing "/" or "/api/v1" is
// dropped.
func NormalizeAPIHost(apiHost string) (string, error) {
	s := strings.TrimSpace(apiHost)
	if s == "" {
		return "", errors.New("client: empty api host")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("client: api host %q: %w", apiHost, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("client: api host %q: scheme must be http or https", apiHost)
	}
	if u.Host == "" {
		return "", fmt.Errorf("client: api host %q has no host", apiHost)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), apiPath)
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return strings.TrimRight(u.String(), "/"), nil
}

// APIHost returns the normalised API host the client calls.
func (c *Client) APIHost() string { return c.host }

// APIError is a non-2xx answer of the API.
type APIError struct {
	StatusCode int
	// Message is the "error" field of the answer, or its text when the
	// answer is not OpenWhisk's error object.
	Message string
	// Code is the "code" field (OpenWhisk's transaction id), if any.
	Code string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// StatusCode returns the HTTP status of an *APIError in err's chain, or 0.
func StatusCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

// path joins escaped segments under /api/v1.
func (c *Client) url(q url.Values, segments ...string) string {
	var b strings.Builder
	b.WriteString(c.base)
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	if len(q) > 0 {
		b.WriteByte('?')
		b.WriteString(q.Encode())
	}
	return b.String()
}

// do sends one request and returns the answer. Statuses in pass are
// returned as they are; any other non-2xx becomes an *APIError.
func (c *Client) do(ctx context.Context, method, u string, body any, pass ...int) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read answer: %w", method, req.URL.Path, err)
	}
	if len(data) > maxBodyBytes {
		return nil, nil, fmt.Errorf("%s %s: answer larger than %d bytes", method, req.URL.Path, maxBodyBytes)
	}
	for _, p := range pass {
		if resp.StatusCode == p {
			return resp, data, nil
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, data, newAPIError(resp.StatusCode, data)
	}
	return resp, data, nil
}

func newAPIError(status int, body []byte) *APIError {
	e := &APIError{StatusCode: status}
	var eb struct {
		Error string          `json:"error"`
		Code  json.RawMessage `json:"code"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		e.Message = eb.Error
		var s string
		if json.Unmarshal(eb.Code, &s) == nil {
			e.Code = s
		} else if len(eb.Code) > 0 {
			e.Code = string(eb.Code)
		}
		return e
	}
	e.Message = strings.TrimSpace(string(body))
	if len(e.Message) > 512 {
		e.Message = e.Message[:512] + "..."
	}
	if e.Message == "" {
		e.Message = strings.ToLower(http.StatusText(status))
	}
	return e
}

// getJSON GETs u and decodes the answer into out.
func (c *Client) getJSON(ctx context.Context, u string, out any) error {
	_, data, err := c.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	return decode(data, out)
}

func decode(data []byte, out any) error {
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}
