package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
)

// Issue 19, the API edge: a caller's long value must not reach a NATS
// subject (the embedded server closes the shared in-process connection
// and every call answers 503 until a restart), and an entity that could
// never run is refused when it is created, with the reason.

// longValue is longer than the NATS server's 4 KiB control line.
var longValue = strings.Repeat("a", 5000)

func TestSecurityEdge(t *testing.T) {
	s := startSystem(t, "")
	s.createAction(t, "hello", "hello", nil)
	// Creates first: a long value that closes the connection would fail
	// them for another reason.
	t.Run("refused at create", func(t *testing.T) { edgeRefusedAtCreate(t, s) })
	t.Run("long values", func(t *testing.T) { edgeLongValues(t, s) })
}

// stillInvokes fails the test unless a normal blocking invoke succeeds.
func (s *system) stillInvokes(t *testing.T, after string) {
	t.Helper()
	r := s.invoke(t, "hello", map[string]any{"name": "edge"}, "blocking=true&result=true")
	if r.status != http.StatusOK {
		t.Fatalf("after %s, a normal invoke answers %d: %s", after, r.status, r.body)
	}
}

// doHeader sends a request with a raw Authorization header ("" sends none).
func (s *system) doHeader(t *testing.T, method, path, authorization string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, s.api+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %.80s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func basicHeader(auth string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(auth))
}

// edgeLongValues sends every long-value path of finding 1, with and
// without a key, over REST /api/v1, /v1 and gRPC.
func edgeLongValues(t *testing.T, s *system) {
	guest := basicHeader(guestAuth)
	longUser := basicHeader(longValue + ":x")
	rest := []struct {
		name, method, path, auth string
		want                     int // 0: any 4xx
	}{
		{"api/v1 basic user without key", "GET", "/api/v1/namespaces/_/actions", longUser, 401},
		{"api/v1 raw user without key", "GET", "/api/v1/namespaces/_/actions", longValue + ":x", 401},
		{"api/v1 invoke basic user without key", "POST", "/api/v1/namespaces/_/actions/hello", longUser, 401},
		{"v1 basic user without key", "GET", "/v1/namespaces/_/actions", longUser, 401},
		{"v1 invoke basic user without key", "POST", "/v1/namespaces/_/actions/hello:invoke", longUser, 401},
		{"api/v1 activation id", "GET", "/api/v1/namespaces/_/activations/" + longValue, guest, 400},
		{"api/v1 activation logs", "GET", "/api/v1/namespaces/_/activations/" + longValue + "/logs", guest, 400},
		{"api/v1 activation result", "GET", "/api/v1/namespaces/_/activations/" + longValue + "/result", guest, 400},
		{"api/v1 activation id without key", "GET", "/api/v1/namespaces/_/activations/" + longValue, "", 0},
		{"v1 activation id", "GET", "/v1/namespaces/_/activations/" + longValue, guest, 400},
		{"v1 activation logs", "GET", "/v1/namespaces/_/activations/" + longValue + "/logs", guest, 400},
		{"api/v1 dead letter", "GET", "/api/v1/namespaces/_/deadletters/" + longValue, guest, 400},
		{"api/v1 dead letter delete", "DELETE", "/api/v1/namespaces/_/deadletters/" + longValue, guest, 400},
		{"api/v1 dead letter redrive", "POST", "/api/v1/namespaces/_/deadletters/" + longValue + "/redrive", guest, 400},
		{"v1 dead letter", "GET", "/v1/namespaces/_/deadletters/" + longValue, guest, 400},
		{"api/v1 namespace", "GET", "/api/v1/namespaces/" + longValue + "/actions", guest, 400},
		{"api/v1 action name", "POST", "/api/v1/namespaces/_/actions/" + longValue, guest, 400},
		{"api/v1 activations name filter", "GET", "/api/v1/namespaces/_/activations?name=" + longValue, guest, 400},
		{"web action without key", "GET", "/api/v1/web/" + longValue + "/default/" + longValue + ".json", "", 0},
		{"route without key", "GET", "/r/" + longValue + "/x", "", 0},
		{"app without key", "GET", "/apps/" + longValue + "/", "", 0},
	}
	for _, c := range rest {
		t.Run(c.name, func(t *testing.T) {
			r := s.doHeader(t, c.method, c.path, c.auth, []byte("{}"))
			if c.want != 0 && r.status != c.want || c.want == 0 && (r.status < 400 || r.status >= 500) {
				t.Errorf("status %d, want %d: %.300s", r.status, c.want, r.body)
			}
			s.stillInvokes(t, c.name)
		})
	}

	conn, err := grpc.NewClient(s.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	withAuth := func(v string) context.Context { return metadata.AppendToOutgoingContext(ctx, "authorization", v) }
	acts := flurryv1.NewActivationServiceClient(conn)
	dls := flurryv1.NewDeadLetterServiceClient(conn)
	inv := flurryv1.NewInvocationServiceClient(conn)
	calls := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"grpc basic user without key", func() error {
			_, err := inv.Invoke(withAuth(longUser), &flurryv1.InvokeRequest{Namespace: "_", Name: "hello"})
			return err
		}, codes.Unauthenticated},
		{"grpc raw user without key", func() error {
			_, err := acts.ListActivations(withAuth(longValue+":x"), &flurryv1.ListActivationsRequest{Namespace: "_"})
			return err
		}, codes.Unauthenticated},
		{"grpc GetActivation", func() error {
			_, err := acts.GetActivation(withAuth(guest), &flurryv1.GetActivationRequest{Namespace: "_", ActivationId: longValue})
			return err
		}, codes.InvalidArgument},
		{"grpc GetActivationResult", func() error {
			_, err := acts.GetActivationResult(withAuth(guest), &flurryv1.GetActivationResultRequest{Namespace: "_", ActivationId: longValue})
			return err
		}, codes.InvalidArgument},
		{"grpc GetDeadLetter", func() error {
			_, err := dls.GetDeadLetter(withAuth(guest), &flurryv1.GetDeadLetterRequest{Namespace: "_", ActivationId: longValue})
			return err
		}, codes.InvalidArgument},
		{"grpc RedriveDeadLetter", func() error {
			_, err := dls.RedriveDeadLetter(withAuth(guest), &flurryv1.RedriveDeadLetterRequest{Namespace: "_", ActivationId: longValue})
			return err
		}, codes.InvalidArgument},
		{"grpc Invoke long namespace", func() error {
			_, err := inv.Invoke(withAuth(guest), &flurryv1.InvokeRequest{Namespace: longValue, Name: "hello"})
			return err
		}, codes.InvalidArgument},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); status.Code(err) != c.want {
				t.Errorf("got %v, want %v", err, c.want)
			}
			s.stillInvokes(t, c.name)
		})
	}
}

// zipOf builds a zip; an entry whose name starts with "@" is a symlink
// to its content.
func zipOf(t *testing.T, entries map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, content := range entries {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o644)
		if n, ok := strings.CutPrefix(name, "@"); ok {
			h.Name = n
			h.SetMode(os.ModeSymlink | 0o777)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bombZip is a small zip whose one entry unpacks to n zero bytes.
func bombZip(t *testing.T, n int64) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "__main__.py", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(w, zeros{}, n); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// manyEntries is a zip of n empty files.
func manyEntries(t *testing.T, n int) []byte {
	t.Helper()
	m := map[string]string{"__main__.py": "def main(a):\n    return a\n"}
	for i := range n {
		m[fmt.Sprintf("f/%d", i)] = ""
	}
	return zipOf(t, m)
}

// edgeRefusedAtCreate: every item of finding 7 is a 400 when created.
func edgeRefusedAtCreate(t *testing.T, s *system) {
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	main := "def main(a):\n    return a\n"
	action := func(kind string, code []byte, limits map[string]any) map[string]any {
		body := map[string]any{"exec": map[string]any{"kind": kind, "binary": true, "code": b64(code)}}
		if limits != nil {
			body["limits"] = limits
		}
		return body
	}
	hello := example(t, "hello")
	cases := []struct {
		name, method, path string
		body               any
	}{
		{"go: not an executable", "PUT", "/api/v1/namespaces/_/actions/bad-text", action("go", []byte("#!/bin/sh\necho hello\n"), nil)},
		{"go: zero-filled", "PUT", "/api/v1/namespaces/_/actions/bad-zeros", action("go", make([]byte, 4096), nil)},
		{"go: zip without exec", "PUT", "/api/v1/namespaces/_/actions/bad-noexec", action("go", zipOf(t, map[string]string{"main": "x"}), nil)},
		{"go: empty zip", "PUT", "/api/v1/namespaces/_/actions/bad-goempty", action("go", zipOf(t, nil), nil)},
		{"python: empty zip", "PUT", "/api/v1/namespaces/_/actions/bad-empty", action("python:3", zipOf(t, nil), nil)},
		{"zip path traversal", "PUT", "/api/v1/namespaces/_/actions/bad-dotdot", action("python:3", zipOf(t, map[string]string{"__main__.py": main, "../../evil.py": "x"}), nil)},
		{"zip absolute path", "PUT", "/api/v1/namespaces/_/actions/bad-abs", action("python:3", zipOf(t, map[string]string{"__main__.py": main, "/tmp/evil.py": "x"}), nil)},
		{"zip symlink escaping", "PUT", "/api/v1/namespaces/_/actions/bad-link", action("python:3", zipOf(t, map[string]string{"__main__.py": main, "@data": "../../../etc/passwd"}), nil)},
		{"zip bomb", "PUT", "/api/v1/namespaces/_/actions/bad-bomb", action("python:3", bombZip(t, 300<<20), nil)},
		{"zip of too many entries", "PUT", "/api/v1/namespaces/_/actions/bad-many", action("python:3", manyEntries(t, 10001), nil)},
		{"timeout 0", "PUT", "/api/v1/namespaces/_/actions/bad-timeout", action("go", hello, map[string]any{"timeout": 0})},
		{"concurrency 0", "PUT", "/api/v1/namespaces/_/actions/bad-conc", action("go", hello, map[string]any{"concurrency": 0})},
		{"memory 0", "PUT", "/api/v1/namespaces/_/actions/bad-mem", action("go", hello, map[string]any{"memory": 0})},
		{"route path with ..", "PUT", "/api/v1/namespaces/_/routes/bad-route", map[string]any{"methods": []string{"GET"}, "path": "/a/../b", "action": "hello"}},
		{"sequence in another namespace", "PUT", "/api/v1/namespaces/_/actions/bad-seq", map[string]any{"exec": map[string]any{"kind": "sequence", "components": []string{"/other/hello"}}}},
		{"trigger parameters over 1 MiB", "PUT", "/api/v1/namespaces/_/triggers/bad-trigger", map[string]any{"parameters": []map[string]any{{"key": "big", "value": strings.Repeat("x", 1<<20+1)}}}},
		{"since out of range", "GET", "/api/v1/namespaces/_/activations?since=9223372036854775807", nil},
		{"upto out of range", "GET", "/api/v1/namespaces/_/activations?upto=9223372036854775807", nil},
		{"limit out of range", "GET", "/api/v1/namespaces/_/activations?limit=201", nil},
		{"v1 since out of range", "GET", "/v1/namespaces/_/activations?since=9223372036854775807", nil},
		{"v1 bad JSON", "PUT", "/v1/namespaces/_/actions/bad-json", json.RawMessage(`{"exec":{"kind":"go"},"code":`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if raw, ok := c.body.(json.RawMessage); ok {
				body = raw
			} else if c.body != nil {
				body, _ = json.Marshal(c.body)
			}
			r := s.doHeader(t, c.method, c.path, basicHeader(guestAuth), body)
			if r.status != http.StatusBadRequest {
				t.Errorf("status %d, want 400: %.300s", r.status, r.body)
			}
		})
	}
	t.Run("grpc undecodable message", func(t *testing.T) {
		conn, err := grpc.NewClient(s.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", basicHeader(guestAuth))
		in, out := []byte("\x0a\xff\xff\xff\xff\x0f"), []byte(nil)
		err = conn.Invoke(ctx, flurryv1.ActivationService_GetActivation_FullMethodName, &in, &out, grpc.ForceCodec(rawCodec{}))
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("got %v, want InvalidArgument", err)
		}
	})
	s.stillInvokes(t, "the refused creates")
}

// rawCodec sends a message as the bytes it is.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }
