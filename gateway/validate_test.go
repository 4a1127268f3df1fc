package gateway

import (
	"strings"
	"testing"
)

// TestEdgeValidation: what the edge refuses before the backend is asked,
// with the status a caller sees.
func TestEdgeValidation(t *testing.T) {
	long := strings.Repeat("a", 5000)
	const ns = "/api/v1/namespaces/_"
	runRESTCases(t, []restCase{
		{name: "long basic user", method: "GET", path: ns + "/actions", auth: basic(long + ":x"), status: 401},
		{name: "long raw user", method: "GET", path: ns + "/actions", auth: long + ":x", status: 401},
		{name: "user not plain", method: "GET", path: ns + "/actions", auth: basic("a.b:x"), status: 401},
		{name: "long key", method: "GET", path: ns + "/actions", auth: basic("u:" + long), status: 401},
		{name: "long activation id", method: "GET", path: ns + "/activations/" + long, auth: goodAuth, status: 400},
		{name: "activation id not plain", method: "GET", path: ns + "/activations/a.b", auth: goodAuth, status: 400},
		{name: "long dead letter id", method: "DELETE", path: ns + "/deadletters/" + long, auth: goodAuth, status: 400},
		{name: "long namespace", method: "GET", path: "/api/v1/namespaces/" + long + "/actions", auth: goodAuth, status: 400},
		{name: "long action", method: "POST", path: ns + "/actions/" + long, auth: goodAuth, status: 400},
		{name: "long name filter", method: "GET", path: ns + "/activations?name=" + long, auth: goodAuth, status: 400},
		{name: "since out of range", method: "GET", path: ns + "/activations?since=9223372036854775807", auth: goodAuth, status: 400},
		{name: "upto out of range", method: "GET", path: ns + "/activations?upto=253402300800000", auth: goodAuth, status: 400},
		{name: "timeout 0", method: "PUT", path: ns + "/actions/z", auth: goodAuth, status: 400,
			body: `{"exec":{"kind":"go","binary":true,"code":"Y29kZQ=="},"limits":{"timeout":0}}`},
		{name: "concurrency 0", method: "PUT", path: ns + "/actions/z", auth: goodAuth, status: 400,
			body: `{"exec":{"kind":"go","binary":true,"code":"Y29kZQ=="},"limits":{"concurrency":0}}`},
		{name: "limits left out", method: "PUT", path: ns + "/actions/z", auth: goodAuth, status: 200,
			body: `{"exec":{"kind":"go","binary":true,"code":"Y29kZQ=="},"limits":{"logs":0}}`},
		{name: "v1 long activation id", method: "GET", path: "/v1/namespaces/_/activations/" + long, auth: goodAuth, status: 400},
		{name: "v1 since out of range", method: "GET", path: "/v1/namespaces/_/activations?since=9223372036854775807", auth: goodAuth, status: 400},
		{name: "v1 long basic user", method: "GET", path: "/v1/namespaces/_/actions", auth: basic(long + ":x"), status: 401},
		{name: "v1 bad JSON", method: "PUT", path: "/v1/namespaces/_/actions/j", auth: goodAuth, body: `{"exec":`, status: 400},
	})
}
