package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
)

// The fake's dead letters: d1 (newest) and d0 of action hello; "gone"
// and anything else are unknown. Delete and re-drive do not change them.
func fakeDeadLetters() []*activation.DeadLetter {
	var out []*activation.DeadLetter
	for _, id := range []string{"d1", "d0"} {
		out = append(out, &activation.DeadLetter{ActivationID: id, Namespace: testNS, Name: "hello",
			Reason: activation.ReasonRetriesExhausted, Attempts: 3, Time: 2000,
			Message: activation.Message{ActivationID: id, Namespace: testNS, Params: json.RawMessage(`{"x":1}`), Admitted: 1000},
			Record: activation.Record{ActivationID: id, Namespace: testNS, Name: "hello",
				Response: activation.NewResponse(activation.StatusApplicationError, activation.ErrorResult("boom"))}})
	}
	return out
}

func (f *fakeBackend) ListDeadLetters(_ context.Context, id controller.Identity, ns string, skip, limit int) ([]*activation.DeadLetter, error) {
	if _, err := resolve(id, ns); err != nil {
		return nil, err
	}
	out := fakeDeadLetters()
	out = out[min(skip, len(out)):]
	return out[:min(limit, len(out))], nil
}

func (f *fakeBackend) GetDeadLetter(_ context.Context, id controller.Identity, ns, activationID string) (*activation.DeadLetter, error) {
	if _, err := resolve(id, ns); err != nil {
		return nil, err
	}
	for _, dl := range fakeDeadLetters() {
		if dl.ActivationID == activationID {
			return dl, nil
		}
	}
	return nil, fmt.Errorf("dead letter %s: %w", activationID, controller.ErrNotFound)
}

func (f *fakeBackend) DeleteDeadLetter(ctx context.Context, id controller.Identity, ns, activationID string) (*activation.DeadLetter, error) {
	return f.GetDeadLetter(ctx, id, ns, activationID)
}

func (f *fakeBackend) RedriveDeadLetter(ctx context.Context, id controller.Identity, ns, activationID string) (*controller.InvokeResult, error) {
	dl, err := f.GetDeadLetter(ctx, id, ns, activationID)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.invokes = append(f.invokes, controller.InvokeRequest{Namespace: ns, Name: dl.Name, Params: dl.Message.Params, Cause: dl.ActivationID})
	f.mu.Unlock()
	return &controller.InvokeResult{ActivationID: "new-" + activationID}, nil
}

func TestOpenWhiskDeadLetters(t *testing.T) {
	const base = "/api/v1/namespaces/_/deadletters"
	runRESTCases(t, []restCase{
		{name: "list", method: "GET", path: base, auth: goodAuth, status: 200,
			want: map[string]any{"0.activationId": "d1", "1.activationId": "d0", "0.reason": "retries exhausted",
				"0.attempts": 3.0, "0.record.logs": []any{}, "0.message.params.x": 1.0}},
		{name: "list page", method: "GET", path: base + "?skip=1&limit=1", auth: goodAuth, status: 200,
			want: map[string]any{"0.activationId": "d0", "1": nil}},
		{name: "list bad limit", method: "GET", path: base + "?limit=1000", auth: goodAuth, status: 400},
		{name: "list unauthenticated", method: "GET", path: base, status: 401},
		{name: "list other namespace", method: "GET", path: "/api/v1/namespaces/other/deadletters", auth: goodAuth, status: 403},
		{name: "get", method: "GET", path: base + "/d0", auth: goodAuth, status: 200,
			want: map[string]any{"activationId": "d0", "record.response.result.error": "boom", "message.admitted": 1000.0}},
		{name: "get unknown", method: "GET", path: base + "/gone", auth: goodAuth, status: 404},
		{name: "get other namespace", method: "GET", path: "/api/v1/namespaces/other/deadletters/d0", auth: goodAuth, status: 403},
		{name: "delete", method: "DELETE", path: base + "/d1", auth: goodAuth, status: 200, want: map[string]any{"activationId": "d1"}},
		{name: "delete unknown", method: "DELETE", path: base + "/gone", auth: goodAuth, status: 404},
		{name: "redrive", method: "POST", path: base + "/d1/redrive", auth: goodAuth, status: 202,
			want: map[string]any{"activationId": "new-d1"}, header: map[string]string{headerActivationID: "new-d1"}},
		{name: "redrive unknown", method: "POST", path: base + "/gone/redrive", auth: goodAuth, status: 404},
		{name: "redrive by GET", method: "GET", path: base + "/d1/redrive", auth: goodAuth, status: 405},
		{name: "put not allowed", method: "PUT", path: base + "/d1", auth: goodAuth, status: 405},
	})
}

func TestGRPCDeadLetters(t *testing.T) {
	s := serve(t)
	dl := flurryv1.NewDeadLetterServiceClient(s.conn)
	ctx := authed(goodAuth)
	list, err := dl.ListDeadLetters(ctx, &flurryv1.ListDeadLettersRequest{Namespace: "_"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetDeadLetters()) != 2 || list.GetDeadLetters()[0].GetActivationId() != "d1" ||
		list.GetDeadLetters()[0].GetActivation().GetResponse().GetStatusCode() != activation.StatusApplicationError ||
		list.GetDeadLetters()[0].GetParams().GetStructValue().GetFields()["x"].GetNumberValue() != 1 {
		t.Fatalf("list = %v", list)
	}
	got, err := dl.GetDeadLetter(ctx, &flurryv1.GetDeadLetterRequest{Namespace: "_", ActivationId: "d0"})
	if err != nil || got.GetDeadLetter().GetReason() != activation.ReasonRetriesExhausted || got.GetDeadLetter().GetAttempts() != 3 {
		t.Fatalf("get = %v, %v", got, err)
	}
	red, err := dl.RedriveDeadLetter(ctx, &flurryv1.RedriveDeadLetterRequest{Namespace: "_", ActivationId: "d0"})
	if err != nil || red.GetActivationId() != "new-d0" {
		t.Fatalf("redrive = %v, %v", red, err)
	}
	if _, err := dl.DeleteDeadLetter(ctx, &flurryv1.DeleteDeadLetterRequest{Namespace: "_", ActivationId: "gone"}); status.Code(err) != codes.NotFound {
		t.Fatalf("delete unknown: %v", err)
	}
	if _, err := dl.ListDeadLetters(ctx, &flurryv1.ListDeadLettersRequest{Namespace: "other"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("other namespace: %v", err)
	}
	if _, err := dl.ListDeadLetters(context.Background(), &flurryv1.ListDeadLettersRequest{Namespace: "_"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no auth: %v", err)
	}

	// The same through grpc-gateway under /v1.
	for _, c := range []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/v1/namespaces/_/deadletters?limit=1", 200, `"activationId":"d1"`},
		{"GET", "/v1/namespaces/_/deadletters/d0", 200, `"reason":"retries exhausted"`},
		{"POST", "/v1/namespaces/_/deadletters/d0:redrive", 200, `"activationId":"new-d0"`},
		{"DELETE", "/v1/namespaces/_/deadletters/gone", 404, ``},
	} {
		req, _ := http.NewRequest(c.method, s.apiURL+c.path, strings.NewReader("{}"))
		req.Header.Set("Authorization", goodAuth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("%s %s = %d %s, want %d with %s", c.method, c.path, resp.StatusCode, body, c.status, c.want)
		}
	}
}

// putRecorder keeps the last PutActionRequest and echoes its retry policy
// and destinations in the stored action.
type putRecorder struct {
	*fakeBackend
	last controller.PutActionRequest
}

func (p *putRecorder) PutAction(ctx context.Context, id controller.Identity, req controller.PutActionRequest) (*entity.Action, error) {
	p.last = req
	a, err := p.fakeBackend.PutAction(ctx, id, req)
	if err == nil {
		a.Retry, a.Destinations = req.Retry, req.Destinations
	}
	return a, err
}

func TestActionRetryAndDestinationsOnTheWire(t *testing.T) {
	rec := &putRecorder{fakeBackend: newFakeBackend()}
	g, err := New(rec, Config{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"exec":{"kind":"go","code":"eA==","binary":true},
		"retry":{"maxAttempts":3,"initialBackoff":100,"maxBackoff":1000,"maxEventAge":60000},
		"destinations":{"onSuccess":"app.ok","onFailure":"app.failed"}}`
	w := request(t, g.Handler(), "PUT", "/api/v1/namespaces/_/actions/async", goodAuth, strings.NewReader(body))
	if w.Code != 200 {
		t.Fatalf("put = %d %s", w.Code, w.Body.String())
	}
	want := entity.RetryPolicy{MaxAttempts: 3, InitialBackoff: 100, MaxBackoff: 1000, MaxEventAge: 60000}
	if rec.last.Retry == nil || *rec.last.Retry != want || rec.last.Destinations == nil || rec.last.Destinations.OnFailure != "app.failed" {
		t.Fatalf("request %+v %+v", rec.last.Retry, rec.last.Destinations)
	}
	v := decode(t, w)
	if field(v, "retry.maxAttempts") != 3.0 || field(v, "destinations.onSuccess") != "app.ok" {
		t.Fatalf("answer %s", w.Body.String())
	}
	// Without them, an update leaves them nil (kept by the controller).
	w = request(t, g.Handler(), "PUT", "/api/v1/namespaces/_/actions/async?overwrite=true", goodAuth, strings.NewReader(`{}`))
	if w.Code != 200 || rec.last.Retry != nil || rec.last.Destinations != nil {
		t.Fatalf("update = %d %s; request %+v", w.Code, w.Body.String(), rec.last)
	}

	// gRPC carries them both ways.
	pb := toPBAction(&entity.Action{Retry: &want, Destinations: &entity.Destinations{OnSuccess: "a.b"}})
	if pb.GetRetry().GetMaxEventAge() != 60000 || pb.GetDestinations().GetOnSuccess() != "a.b" {
		t.Fatalf("toPBAction = %v", pb)
	}
	req, err := fromPBPut(&flurryv1.PutActionRequest{Name: "x", Retry: pb.GetRetry(), Destinations: pb.GetDestinations()})
	if err != nil || req.Retry == nil || *req.Retry != want || req.Destinations.OnSuccess != "a.b" {
		t.Fatalf("fromPBPut = %+v, %v", req, err)
	}
	if req, _ := fromPBPut(&flurryv1.PutActionRequest{Name: "x"}); req.Retry != nil || req.Destinations != nil {
		t.Fatalf("unset fields became %+v %+v", req.Retry, req.Destinations)
	}
}
