package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
)

// grpcPath drives the gRPC API and its grpc-gateway REST twin.
func grpcPath(t *testing.T, s *system) {
	conn, err := grpc.NewClient(s.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(guestAuth)))

	actions := flurryv1.NewActionServiceClient(conn)
	code := base64.StdEncoding.EncodeToString(example(t, "hello"))
	_, err = actions.PutAction(authed, &flurryv1.PutActionRequest{
		Namespace: "_", Name: "hello-grpc", Overwrite: true,
		Exec: &flurryv1.Exec{Kind: "go", Binary: true}, Code: []byte(code),
	})
	if err != nil {
		t.Fatalf("PutAction: %v", err)
	}

	inv := flurryv1.NewInvocationServiceClient(conn)
	params, _ := structpb.NewStruct(map[string]any{"name": "Lin"})
	resp, err := inv.Invoke(authed, &flurryv1.InvokeRequest{Namespace: "_", Name: "hello-grpc", Params: params, Blocking: true})
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	act := resp.GetActivation()
	if act == nil || !act.GetResponse().GetSuccess() {
		t.Fatalf("Invoke returned %v", resp)
	}
	if g := act.GetResponse().GetResult().GetStructValue().GetFields()["greeting"].GetStringValue(); g != "Hello, Lin!" {
		t.Fatalf("greeting %q", g)
	}

	acts := flurryv1.NewActivationServiceClient(conn)
	got, err := acts.GetActivation(authed, &flurryv1.GetActivationRequest{Namespace: "_", ActivationId: resp.GetActivationId()})
	if err != nil || got.GetActivation().GetActivationId() != resp.GetActivationId() {
		t.Fatalf("GetActivation: %v %v", got, err)
	}

	// Bad paths are gRPC status codes.
	if _, err := inv.Invoke(ctx, &flurryv1.InvokeRequest{Namespace: "_", Name: "hello-grpc"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no auth: %v", err)
	}
	if _, err := inv.Invoke(authed, &flurryv1.InvokeRequest{Namespace: "_", Name: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown action: %v", err)
	}
	if _, err := inv.Invoke(authed, &flurryv1.InvokeRequest{Namespace: "other", Name: "hello-grpc"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("other namespace: %v", err)
	}

	// The same service over grpc-gateway REST.
	req, _ := http.NewRequest(http.MethodPost, s.api+"/v1/namespaces/_/actions/hello-grpc:invoke?blocking=true", strings.NewReader(`{"name":"Rest"}`))
	user, key, _ := strings.Cut(guestAuth, ":")
	req.SetBasicAuth(user, key)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK || !strings.Contains(string(body), "Hello, Rest!") {
		t.Fatalf("grpc-gateway invoke: %d %s", hr.StatusCode, body)
	}

	// OpenAPI document is served.
	hr, err = http.Get(s.api + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	err = json.NewDecoder(hr.Body).Decode(&doc)
	hr.Body.Close()
	if err != nil || doc["paths"] == nil {
		t.Fatalf("openapi: %v %v", err, fmt.Sprint(doc)[:min(200, len(fmt.Sprint(doc)))])
	}
}
