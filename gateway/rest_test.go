package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flurryfn/flurry/internal/entity"
)

// TestGatewayREST covers the grpc-gateway binding under /v1: the same
// services, proto JSON names, and the same error body and statuses as /api/v1.
func TestGatewayREST(t *testing.T) {
	const ns = "/v1/namespaces/_"
	runRESTCases(t, []restCase{
		{name: "put", method: "PUT", path: ns + "/actions/new", auth: goodAuth, status: 200,
			body: `{"exec":{"kind":"go"},"code":"Y29kZQ==","parameters":[{"key":"a","value":{"b":true}}],"limits":{"timeout":"900"}}`,
			want: map[string]any{"action.name": "new", "action.namespace": testNS, "action.exec.kind": "go", "action.limits.timeout": "900",
				"action.parameters.0.value.b": true}},
		{name: "put exists", method: "PUT", path: ns + "/actions/hello", auth: goodAuth, status: 409, body: `{"exec":{"kind":"go"}}`},
		{name: "put overwrite", method: "PUT", path: ns + "/actions/hello", auth: goodAuth, status: 200,
			body: `{"overwrite":true,"exec":{"kind":"go"}}`, want: map[string]any{"action.version": "0.0.2"}},
		{name: "put stale", method: "PUT", path: ns + "/actions/stale", auth: goodAuth, status: 409, body: `{"overwrite":true}`},
		{name: "put bad json", method: "PUT", path: ns + "/actions/new", auth: goodAuth, status: 400, body: `{"exec":`},
		{name: "get", method: "GET", path: ns + "/actions/hello?code=true", auth: goodAuth, status: 200,
			want: map[string]any{"action.name": "hello", "code": "cGFja2FnZSBtYWlu", "action.exec.binary": false}},
		{name: "get missing", method: "GET", path: ns + "/actions/missing", auth: goodAuth, status: 404},
		{name: "get unauthenticated", method: "GET", path: ns + "/actions/hello", status: 401,
			header: map[string]string{"WWW-Authenticate": `Basic realm="flurry"`}},
		{name: "get forbidden", method: "GET", path: "/v1/namespaces/other/actions/hello", auth: goodAuth, status: 403},
		{name: "list", method: "GET", path: ns + "/actions?skip=1&limit=1", auth: goodAuth, status: 200,
			want: map[string]any{"actions.0.name": "busy", "actions.1": nil}},
		{name: "delete", method: "DELETE", path: ns + "/actions/hello", auth: goodAuth, status: 200, want: map[string]any{"action.name": "hello"}},
		{name: "invoke blocking", method: "POST", path: ns + "/actions/hello:invoke?blocking=true&waitMs=100", auth: goodAuth, status: 200,
			body: `{"a":1}`, want: map[string]any{"activation.response.result.a": 1.0, "activation.response.success": true}},
		{name: "invoke application error is 200", method: "POST", path: ns + "/actions/hello:invoke?blocking=true", auth: goodAuth, status: 200,
			body: `{"status":2}`, want: map[string]any{"activation.response.statusCode": 2.0, "activation.response.status": "action developer error"}},
		{name: "invoke non-blocking", method: "POST", path: ns + "/actions/hello:invoke", auth: goodAuth, status: 200,
			body: `{}`, want: map[string]any{"activation": nil}},
		{name: "invoke throttled", method: "POST", path: ns + "/actions/throttled:invoke", auth: goodAuth, status: 429, body: `{}`,
			header: map[string]string{"Retry-After": "1"}},
		{name: "invoke unavailable", method: "POST", path: ns + "/actions/busy:invoke", auth: goodAuth, status: 503, body: `{}`,
			header: map[string]string{"Retry-After": "1"}},
		{name: "invoke internal", method: "POST", path: ns + "/actions/boom:invoke", auth: goodAuth, status: 500, body: `{}`,
			want: map[string]any{"error": internalMessage}},
		{name: "invoke params too large", method: "POST", path: ns + "/actions/hello:invoke", auth: goodAuth, status: 413,
			body: `{"a":"` + strings.Repeat("x", entity.MaxPayloadBytes) + `"}`},
		{name: "invoke body too large", method: "POST", path: ns + "/actions/hello:invoke", auth: goodAuth, status: 413,
			body: `{"a":"` + strings.Repeat("x", 2*entity.MaxPayloadBytes) + `"}`},
		{name: "activation", method: "GET", path: ns + "/activations/a1", auth: goodAuth, status: 200,
			want: map[string]any{"activation.activationId": "a1", "activation.start": "1000", "activation.logs.0": "line 1"}},
		{name: "activations", method: "GET", path: ns + "/activations?name=hello&limit=3&since=1&upto=5000", auth: goodAuth, status: 200,
			want: map[string]any{"activations.0.activationId": "a1"}},
		{name: "activation logs", method: "GET", path: ns + "/activations/a1/logs", auth: goodAuth, status: 200,
			want: map[string]any{"logs.1": "line 2"}},
		{name: "activation result", method: "GET", path: ns + "/activations/a1/result", auth: goodAuth, status: 200,
			want: map[string]any{"result.msg": "hi", "status": "success", "success": true, "statusCode": 0.0}},
		{name: "activation missing", method: "GET", path: ns + "/activations/nope", auth: goodAuth, status: 404},
		{name: "unknown path", method: "GET", path: "/v1/nothing", auth: goodAuth, status: 404},
		{name: "openapi", method: "GET", path: "/v1/openapi.json", status: 200, want: map[string]any{"swagger": "2.0", "info.title": "Flurry API"}},
		{name: "openapi under api", method: "GET", path: "/api/v1/openapi.json", status: 200, want: map[string]any{"swagger": "2.0"}},
	})
}

func TestGatewayRESTEdges(t *testing.T) {
	g, _ := newTestGateway(t)
	t.Run("chunked body over the limit", func(t *testing.T) {
		body := &countingReader{r: strings.NewReader(`{"a":"` + strings.Repeat("x", 2*entity.MaxPayloadBytes) + `"}`)}
		r := httptest.NewRequest("POST", "/v1/namespaces/_/actions/hello:invoke", body)
		r.ContentLength = -1
		r.Header.Set("Authorization", goodAuth)
		w := httptest.NewRecorder()
		g.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusRequestEntityTooLarge || body.n > DefaultMaxBodyBytes+64<<10 {
			t.Fatalf("status %d after reading %d bytes; body %s", w.Code, body.n, w.Body.String())
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		w := request(t, g.Handler(), "PATCH", "/v1/namespaces/_/actions/hello", goodAuth, nil)
		if w.Code != http.StatusMethodNotAllowed {
			t.Fatalf("status %d; body %s", w.Code, w.Body.String())
		}
	})
}
