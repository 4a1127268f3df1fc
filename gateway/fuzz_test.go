package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/testutil"
	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
)

// The fuzz targets drive the real gateway over a real controller on
// embedded JetStream with whatever a caller may send, and require that no
// input gets a 5xx and that the controller's NATS connection survives
// every input: one oversized subject closes it for everyone (issue 19).
// Their seeds are the long values that did.

// fuzzGuestAuth is the guest key of the fuzzed system.
const fuzzGuestAuth = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

// long is the length of the values that closed the connection: a subject
// over the server's 4 KiB control line.
const long = 5000

// fuzzEnv is a controller on embedded JetStream behind a gateway.
type fuzzEnv struct {
	g  *Gateway
	nc *nats.Conn // the controller's, without reconnects: as standalone's in-process one
}

func newFuzzEnv(t testing.TB) *fuzzEnv {
	t.Helper()
	_, url := testutil.JetStream(t)
	nc, err := testutil.Connect(url, nats.NoReconnect())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctl, err := controller.New(ctx, nc, controller.Config{GuestAuth: fuzzGuestAuth, DefaultWait: 100 * time.Millisecond}, log)
	if err != nil {
		t.Fatalf("new controller: %v", err)
	}
	t.Cleanup(ctl.Close)
	id, err := ctl.Authenticate(ctx, fuzzGuestAuth)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	// An action to find, invoke and list, so inputs reach past "not found".
	if _, err := ctl.PutAction(ctx, id, controller.PutActionRequest{Namespace: "_", Name: "hello",
		Exec: entity.Exec{Kind: entity.KindGo, Binary: true}, Code: []byte(fuzzExec)}); err != nil {
		t.Fatalf("put action: %v", err)
	}
	g, err := New(ctl, Config{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return &fuzzEnv{g: g, nc: nc}
}

// fuzzExec is base64 of an ELF executable's header: what PutAction checks
// of a go action's code (nothing runs it here).
var fuzzExec = func() string {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	b[16] = 2
	return base64.StdEncoding.EncodeToString(b)
}()

// alive fails the test unless the controller's connection is up and
// answers a round trip to the server.
func (e *fuzzEnv) alive(t *testing.T, input string) {
	t.Helper()
	if !e.nc.IsConnected() {
		t.Fatalf("after %s: NATS connection is %v (last error %v)", input, e.nc.Status(), e.nc.LastError())
	}
	if err := e.nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatalf("after %s: NATS round trip: %v", input, err)
	}
}

func basicAuth(auth string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(auth)) }

// FuzzREST sends one request to the HTTP edge: /api/v1 (OpenWhisk), /v1
// (grpc-gateway), routes, web actions and apps.
func FuzzREST(f *testing.F) {
	longS := strings.Repeat("a", long)
	guest := basicAuth(fuzzGuestAuth)
	seeds := []struct {
		method, path, auth, query, body string
	}{
		// Finding 1: long Authorization users, with and without a key.
		{"GET", "/api/v1/namespaces/_/actions", basicAuth(longS + ":x"), "", ""},
		{"GET", "/api/v1/namespaces/_/actions", longS + ":x", "", ""},
		{"GET", "/v1/namespaces/_/actions", basicAuth(longS + ":x"), "", ""},
		{"POST", "/v1/namespaces/_/actions/hello:invoke", basicAuth(longS + ":x"), "", "{}"},
		// Finding 1: long activation and dead-letter ids.
		{"GET", "/api/v1/namespaces/_/activations/" + longS, guest, "", ""},
		{"GET", "/api/v1/namespaces/_/activations/" + longS + "/logs", guest, "", ""},
		{"GET", "/api/v1/namespaces/_/activations/" + longS + "/result", guest, "", ""},
		{"GET", "/v1/namespaces/_/activations/" + longS, guest, "", ""},
		{"GET", "/api/v1/namespaces/_/deadletters/" + longS, guest, "", ""},
		{"DELETE", "/api/v1/namespaces/_/deadletters/" + longS, guest, "", ""},
		{"POST", "/api/v1/namespaces/_/deadletters/" + longS + "/redrive", guest, "", ""},
		{"GET", "/v1/namespaces/_/deadletters/" + longS, guest, "", ""},
		// Long names and namespaces, with and without a key.
		{"GET", "/api/v1/namespaces/" + longS + "/actions/hello", guest, "", ""},
		{"POST", "/api/v1/namespaces/_/actions/" + longS, guest, "", "{}"},
		{"GET", "/api/v1/web/" + longS + "/default/" + longS + ".json", "", "", ""},
		{"GET", "/r/" + longS + "/x", "", "", ""},
		{"GET", "/apps/" + longS + "/", "", "", ""},
		{"PUT", "/api/v1/namespaces/_/triggers/" + longS, guest, "", "{}"},
		{"GET", "/api/v1/namespaces/_/activations", guest, "name=" + longS, ""},
		// Finding 7: out-of-range bounds and bad bodies.
		{"GET", "/api/v1/namespaces/_/activations", guest, "since=9223372036854775807", ""},
		{"GET", "/api/v1/namespaces/_/activations", guest, "upto=9223372036854775807&limit=201", ""},
		{"GET", "/v1/namespaces/_/activations", guest, "since=9223372036854775807", ""},
		{"PUT", "/api/v1/namespaces/_/actions/t0", guest, "", `{"exec":{"kind":"go","binary":true,"code":"` + fuzzExec + `"},"limits":{"timeout":0}}`},
		{"PUT", "/api/v1/namespaces/_/actions/e0", guest, "", `{"exec":{"kind":"go","binary":true,"code":""}}`},
		{"PUT", "/v1/namespaces/_/actions/j", guest, "", `{"exec":`},
		{"POST", "/v1/namespaces/_/actions/hello:invoke", guest, "", `{"params":[`},
		{"POST", "/api/v1/namespaces/_/actions/hello", guest, "blocking=true&timeout=9223372036854775807", "{}"},
		{"PUT", "/api/v1/namespaces/_/routes/r", guest, "", `{"path":"/a/../b","action":"hello","methods":["GET"]}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.auth, s.query, []byte(s.body))
	}
	e := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, method, path, auth, query string, body []byte) {
		// Only what can arrive over the wire: a valid method and URL, a
		// header value without line breaks.
		req, err := http.NewRequest(method, "http://flurry"+path+"?"+query, bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(path, "/") || strings.ContainsAny(auth, "\r\n\x00") || req.URL.Host != "flurry" {
			t.Skip()
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("Content-Type", "application/json")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rec := httptest.NewRecorder()
		e.g.Handler().ServeHTTP(rec, req.WithContext(ctx))
		input := method + " " + shorten(path) + "?" + shorten(query)
		if rec.Code >= 500 {
			t.Errorf("%s: status %d: %s", input, rec.Code, shorten(rec.Body.String()))
		}
		e.alive(t, input)
	})
}

// grpcMethods are the unary methods of the gRPC API with their request types.
var grpcMethods = []struct {
	name string
	req  func() proto.Message
}{
	{flurryv1.ActionService_PutAction_FullMethodName, func() proto.Message { return &flurryv1.PutActionRequest{} }},
	{flurryv1.ActionService_GetAction_FullMethodName, func() proto.Message { return &flurryv1.GetActionRequest{} }},
	{flurryv1.ActionService_ListActions_FullMethodName, func() proto.Message { return &flurryv1.ListActionsRequest{} }},
	{flurryv1.ActionService_DeleteAction_FullMethodName, func() proto.Message { return &flurryv1.DeleteActionRequest{} }},
	{flurryv1.InvocationService_Invoke_FullMethodName, func() proto.Message { return &flurryv1.InvokeRequest{} }},
	{flurryv1.ActivationService_GetActivation_FullMethodName, func() proto.Message { return &flurryv1.GetActivationRequest{} }},
	{flurryv1.ActivationService_ListActivations_FullMethodName, func() proto.Message { return &flurryv1.ListActivationsRequest{} }},
	{flurryv1.ActivationService_GetActivationLogs_FullMethodName, func() proto.Message { return &flurryv1.GetActivationLogsRequest{} }},
	{flurryv1.ActivationService_GetActivationResult_FullMethodName, func() proto.Message { return &flurryv1.GetActivationResultRequest{} }},
	{flurryv1.DeadLetterService_ListDeadLetters_FullMethodName, func() proto.Message { return &flurryv1.ListDeadLettersRequest{} }},
	{flurryv1.DeadLetterService_GetDeadLetter_FullMethodName, func() proto.Message { return &flurryv1.GetDeadLetterRequest{} }},
	{flurryv1.DeadLetterService_RedriveDeadLetter_FullMethodName, func() proto.Message { return &flurryv1.RedriveDeadLetterRequest{} }},
	{flurryv1.DeadLetterService_DeleteDeadLetter_FullMethodName, func() proto.Message { return &flurryv1.DeleteDeadLetterRequest{} }},
}

// rawCodec sends and receives messages as the bytes they are, so the
// fuzzer can send what no generated client would.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// setField sets the string or integer field name of m, if m has it.
func setField(m proto.Message, name string, v any) {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		return
	}
	switch x := v.(type) {
	case string:
		if fd.Kind() == protoreflect.StringKind {
			r.Set(fd, protoreflect.ValueOfString(x))
		}
	case int64:
		if fd.Kind() == protoreflect.Int64Kind {
			r.Set(fd, protoreflect.ValueOfInt64(x))
		}
	}
}

// FuzzGRPC calls one gRPC method over a loopback connection with fuzzed
// authorization metadata and request fields, or with arbitrary bytes as
// the request message.
func FuzzGRPC(f *testing.F) {
	longS := strings.Repeat("a", long)
	for i := range grpcMethods {
		m := uint8(i)
		f.Add(m, basicAuth(longS+":x"), "_", "hello", "0123", int64(0), []byte(nil), false)
		f.Add(m, longS+":x", "_", "hello", "0123", int64(0), []byte(nil), false)
		f.Add(m, fuzzGuestAuth, "_", longS, longS, int64(0), []byte(nil), false)
		f.Add(m, fuzzGuestAuth, longS, "hello", "0123", int64(0), []byte(nil), false)
		f.Add(m, fuzzGuestAuth, "_", "hello", "0123", int64(9223372036854775807), []byte(nil), false)
		f.Add(m, fuzzGuestAuth, "_", "", "", int64(0), []byte("\x0a\xff\xff\xff\xff\x0f"), true)
	}
	e := newFuzzEnv(f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go e.g.grpc.Serve(ln)
	f.Cleanup(e.g.grpc.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close() })

	f.Fuzz(func(t *testing.T, method uint8, auth, ns, name, id string, since int64, raw []byte, useRaw bool) {
		for i := 0; i < len(auth); i++ {
			if auth[i] < 0x20 || auth[i] > 0x7e {
				t.Skip() // grpc-go clients send printable ASCII metadata only
			}
		}
		m := grpcMethods[int(method)%len(grpcMethods)]
		msg := raw
		if !useRaw {
			req := m.req()
			setField(req, "namespace", ns)
			setField(req, "name", name)
			setField(req, "activation_id", id)
			setField(req, "since", since)
			b, err := proto.Marshal(req)
			if err != nil {
				t.Skip() // not valid UTF-8: no client sends it; raw inputs do
			}
			msg = b
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", auth)
		var out []byte
		err := conn.Invoke(ctx, m.name, &msg, &out, grpc.ForceCodec(rawCodec{}))
		input := m.name + " auth=" + shorten(auth) + " ns=" + shorten(ns) + " name=" + shorten(name) + " id=" + shorten(id)
		switch status.Code(err) {
		case codes.Internal, codes.Unknown, codes.Unavailable, codes.DataLoss, codes.Unimplemented, codes.DeadlineExceeded:
			t.Errorf("%s: %v", input, err)
		}
		e.alive(t, input)
	})
}

// shorten cuts a fuzzed value for a failure message.
func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func shortenErr(err error) string { return shorten(err.Error()) }
