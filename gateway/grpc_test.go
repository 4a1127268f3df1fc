package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/testutil"
	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
)

// served is a gateway serving on loopback listeners.
type served struct {
	f       *fakeBackend
	apiURL  string
	conn    *grpc.ClientConn
	actions flurryv1.ActionServiceClient
	invoke  flurryv1.InvocationServiceClient
	records flurryv1.ActivationServiceClient
}

func serve(t *testing.T) *served {
	t.Helper()
	g, f := newTestGateway(t)
	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, api, grpcLn) }()
	conn, err := grpc.NewClient(grpcLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not return after cancel")
		}
	})
	return &served{f: f, apiURL: "http://" + api.Addr().String(), conn: conn,
		actions: flurryv1.NewActionServiceClient(conn), invoke: flurryv1.NewInvocationServiceClient(conn),
		records: flurryv1.NewActivationServiceClient(conn)}
}

func authed(auth string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", auth)
}

func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func TestGRPCAuth(t *testing.T) {
	s := serve(t)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"none", context.Background(), codes.Unauthenticated},
		{"wrong key", authed(basic(testUUID + ":nope")), codes.Unauthenticated},
		{"garbage", authed("Basic %%%"), codes.Unauthenticated},
		{"basic", authed(goodAuth), codes.OK},
		{"raw uuid:key", authed(testAuth), codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.actions.ListActions(tc.ctx, &flurryv1.ListActionsRequest{Namespace: "_"})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v, want %v (%v)", got, tc.want, err)
			}
		})
	}
}

func TestGRPCActions(t *testing.T) {
	s := serve(t)
	ctx := authed(goodAuth)
	put := &flurryv1.PutActionRequest{Namespace: "_", Name: "a", Exec: &flurryv1.Exec{Kind: "go"}, Code: []byte("code"),
		Parameters: []*flurryv1.KeyValue{{Key: "p", Value: structpb.NewNumberValue(3)}}, Limits: &flurryv1.Limits{Timeout: 500}}
	res, err := s.actions.PutAction(ctx, put)
	if err != nil {
		t.Fatal(err)
	}
	if a := res.GetAction(); a.GetName() != "a" || a.GetNamespace() != testNS || a.GetLimits().GetTimeout() != 500 || a.GetParameters()[0].GetValue().GetNumberValue() != 3 {
		t.Fatalf("put returned %v", a)
	}
	if got := string(s.f.actions[testNS+"/a"].Parameters[0].Value); got != "3" {
		t.Errorf("stored parameter value %s", got)
	}
	get, err := s.actions.GetAction(ctx, &flurryv1.GetActionRequest{Namespace: "_", Name: "a", Code: true})
	if err != nil || string(get.GetCode()) != "code" {
		t.Fatalf("get: %v, code %q", err, get.GetCode())
	}
	list, err := s.actions.ListActions(ctx, &flurryv1.ListActionsRequest{Namespace: "_", Limit: 2})
	if err != nil || len(list.GetActions()) != 2 {
		t.Fatalf("list: %v, %d actions", err, len(list.GetActions()))
	}
	if _, err := s.actions.DeleteAction(ctx, &flurryv1.DeleteActionRequest{Namespace: "_", Name: "a"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"exists", func() error {
			_, err := s.actions.PutAction(ctx, &flurryv1.PutActionRequest{Namespace: "_", Name: "hello", Exec: &flurryv1.Exec{Kind: "go"}})
			return err
		}, codes.AlreadyExists},
		{"stale", func() error {
			_, err := s.actions.PutAction(ctx, &flurryv1.PutActionRequest{Namespace: "_", Name: "stale", Overwrite: true})
			return err
		}, codes.Aborted},
		{"invalid", func() error {
			_, err := s.actions.PutAction(ctx, &flurryv1.PutActionRequest{Namespace: "_", Name: "nokind"})
			return err
		}, codes.InvalidArgument},
		{"forbidden", func() error {
			_, err := s.actions.GetAction(ctx, &flurryv1.GetActionRequest{Namespace: "other", Name: "x"})
			return err
		}, codes.PermissionDenied},
		{"deleted", func() error {
			_, err := s.actions.GetAction(ctx, &flurryv1.GetActionRequest{Namespace: "_", Name: "a"})
			return err
		}, codes.NotFound},
		{"delete missing", func() error {
			_, err := s.actions.DeleteAction(ctx, &flurryv1.DeleteActionRequest{Namespace: "_", Name: "a"})
			return err
		}, codes.NotFound},
		{"limit too big", func() error {
			_, err := s.actions.ListActions(ctx, &flurryv1.ListActionsRequest{Namespace: "_", Limit: 201})
			return err
		}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(tc.call()); got != tc.want {
				t.Fatalf("code = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGRPCInvoke(t *testing.T) {
	s := serve(t)
	ctx := authed(goodAuth)
	params := func(m map[string]any) *structpb.Struct {
		p, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("application error is a result", func(t *testing.T) {
		res, err := s.invoke.Invoke(ctx, &flurryv1.InvokeRequest{Namespace: "_", Name: "hello", Blocking: true, Params: params(map[string]any{"status": 1})})
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		r := res.GetActivation().GetResponse()
		if res.GetActivationId() == "" || r.GetStatusCode() != 1 || r.GetSuccess() || r.GetResult().GetStructValue().GetFields()["error"].GetStringValue() != "it failed" {
			t.Fatalf("response %v", res)
		}
	})
	t.Run("success", func(t *testing.T) {
		res, err := s.invoke.Invoke(ctx, &flurryv1.InvokeRequest{Namespace: "_", Name: "hello", Blocking: true, WaitMs: 250, Params: params(map[string]any{"n": 1})})
		if err != nil || !res.GetActivation().GetResponse().GetSuccess() {
			t.Fatalf("invoke: %v %v", err, res)
		}
		last := s.f.invokes[len(s.f.invokes)-1]
		if last.Wait != 250*time.Millisecond || string(last.Params) != `{"n":1}` {
			t.Errorf("backend got %+v", last)
		}
	})
	t.Run("non-blocking", func(t *testing.T) {
		res, err := s.invoke.Invoke(ctx, &flurryv1.InvokeRequest{Namespace: "_", Name: "hello"})
		if err != nil || res.GetActivationId() == "" || res.GetActivation() != nil {
			t.Fatalf("invoke: %v %v", err, res)
		}
	})
	big := params(map[string]any{"a": strings.Repeat("x", entity.MaxPayloadBytes)})
	for _, tc := range []struct {
		name, action string
		params       *structpb.Struct
		code         codes.Code
		reason       string
	}{
		{"too large", "hello", big, codes.ResourceExhausted, reasonTooLarge},
		{"throttled", "throttled", nil, codes.ResourceExhausted, reasonThrottled},
		{"unavailable", "busy", nil, codes.Unavailable, ""},
		{"internal", "boom", nil, codes.Internal, ""},
		{"not found", "missing", nil, codes.NotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.invoke.Invoke(ctx, &flurryv1.InvokeRequest{Namespace: "_", Name: tc.action, Params: tc.params})
			if status.Code(err) != tc.code || reason(err) != tc.reason {
				t.Fatalf("error %v (reason %q), want %v %q", err, reason(err), tc.code, tc.reason)
			}
			if tc.code == codes.Internal && status.Convert(err).Message() != internalMessage {
				t.Errorf("internal detail leaked: %v", err)
			}
		})
	}
}

func TestGRPCActivations(t *testing.T) {
	s := serve(t)
	ctx := authed(goodAuth)
	get, err := s.records.GetActivation(ctx, &flurryv1.GetActivationRequest{Namespace: "_", ActivationId: "a1"})
	if a := get.GetActivation(); err != nil || a.GetName() != "hello" || a.GetStart() != 1000 || a.GetDuration() != 10 {
		t.Fatalf("get: %v %v", err, get)
	}
	list, err := s.records.ListActivations(ctx, &flurryv1.ListActivationsRequest{Namespace: "_", Name: "hello"})
	if err != nil || len(list.GetActivations()) != 1 {
		t.Fatalf("list: %v %v", err, list)
	}
	logs, err := s.records.GetActivationLogs(ctx, &flurryv1.GetActivationLogsRequest{Namespace: "_", ActivationId: "a1"})
	if err != nil || !slices.Equal(logs.GetLogs(), []string{"line 1", "line 2"}) {
		t.Fatalf("logs: %v %v", err, logs)
	}
	res, err := s.records.GetActivationResult(ctx, &flurryv1.GetActivationResultRequest{Namespace: "_", ActivationId: "a1"})
	if err != nil || !res.GetSuccess() || res.GetStatus() != "success" || res.GetResult().GetStructValue().GetFields()["msg"].GetStringValue() != "hi" {
		t.Fatalf("result: %v %v", err, res)
	}
	if _, err := s.records.GetActivation(ctx, &flurryv1.GetActivationRequest{Namespace: "_", ActivationId: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("missing: %v", err)
	}
}

func TestGRPCReflection(t *testing.T) {
	s := serve(t)
	stream, err := reflectionpb.NewServerReflectionClient(s.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	res, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range res.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	for _, want := range []string{"flurry.v1.ActionService", "flurry.v1.InvocationService", "flurry.v1.ActivationService"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
	stream.CloseSend()
}

// TestServeOpenWhiskOverTCP checks the /api/v1 API and the OpenAPI
// document through a real listener.
func TestServeOpenWhiskOverTCP(t *testing.T) {
	s := serve(t)
	for _, path := range []string{"/v1/openapi.json", "/api/v1/openapi.json"} {
		res, err := http.Get(s.apiURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), `"swagger": "2.0"`) || !strings.Contains(string(b), "/v1/namespaces/{namespace}/actions/{name}:invoke") {
			t.Errorf("%s: %d %.100s", path, res.StatusCode, b)
		}
	}
	req, _ := http.NewRequest("POST", s.apiURL+"/api/v1/namespaces/_/actions/hello?blocking=true", strings.NewReader(`{"x":1}`))
	req.SetBasicAuth(testUUID, "secret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get(headerActivationID) == "" {
		t.Fatalf("invoke: %d, id %q", res.StatusCode, res.Header.Get(headerActivationID))
	}
}

// TestServeStopsGracefully checks that Serve returns nil once ctx is
// cancelled and that its listeners are closed.
func TestServeStopsGracefully(t *testing.T) {
	f := newFakeBackend()
	g, err := New(f, Config{Log: slog.New(slog.DiscardHandler), ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	api, _ := net.Listen("tcp", "127.0.0.1:0")
	grpcLn, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, api, grpcLn) }()
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		res, err := http.Get("http://" + api.Addr().String() + "/api/v1")
		if err != nil {
			return err
		}
		res.Body.Close()
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return")
	}
	if _, err := net.Dial("tcp", api.Addr().String()); err == nil {
		t.Error("api listener still accepts after stop")
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(nil, Config{}); err == nil {
		t.Error("nil backend accepted")
	}
	for _, cfg := range []Config{{MaxBodyBytes: -1}, {MaxBodyBytes: 10, MaxActionBytes: 5}, {ShutdownTimeout: -time.Second}} {
		if _, err := New(newFakeBackend(), cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	if err := (Config{}).WithDefaults().Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}
