package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

const (
	testUUID = "0b2c8d1e-0000-4000-8000-000000000001"
	testAuth = testUUID + ":secret"
	testNS   = "guest"
)

// fakeBackend is an in-memory Backend. Invoke behaves by the parameters:
// {"status": n} finishes with status n, {"slow": true} outlives the wait;
// actions named "throttled", "busy" and "boom" fail the call itself.
type fakeBackend struct {
	mu      sync.Mutex
	actions map[string]*entity.Action
	code    map[string][]byte
	records map[string]*activation.Record
	invokes []controller.InvokeRequest
}

var _ Backend = (*fakeBackend)(nil)

func newFakeBackend() *fakeBackend {
	f := &fakeBackend{actions: map[string]*entity.Action{}, code: map[string][]byte{}, records: map[string]*activation.Record{}}
	f.actions[testNS+"/hello"] = &entity.Action{Namespace: testNS, Name: "hello", Version: "0.0.1", Revision: 1,
		Exec: entity.Exec{Kind: "go", Main: "main"}, Limits: entity.Limits{}.WithDefaults(),
		Parameters: []entity.KeyValue{{Key: "greeting", Value: json.RawMessage(`"hi"`)}}}
	f.code[testNS+"/hello"] = []byte("package main")
	for _, n := range []string{"throttled", "busy", "boom"} {
		f.actions[testNS+"/"+n] = &entity.Action{Namespace: testNS, Name: n, Exec: entity.Exec{Kind: "go"}}
	}
	f.records["a1"] = &activation.Record{ActivationID: "a1", Namespace: testNS, Name: "hello", Version: "0.0.1",
		Subject: testUUID, Start: 1000, End: 1010, Duration: 10,
		Response: activation.NewResponse(activation.StatusSuccess, json.RawMessage(`{"msg":"hi"}`)),
		Logs:     []string{"line 1", "line 2"}}
	return f
}

func (f *fakeBackend) Authenticate(_ context.Context, auth string) (controller.Identity, error) {
	if auth != testAuth {
		return controller.Identity{}, fmt.Errorf("key %q: %w", auth, controller.ErrUnauthenticated)
	}
	return controller.Identity{UUID: testUUID, Namespace: testNS}, nil
}

func resolve(id controller.Identity, ns string) (string, error) {
	if ns == "_" || ns == id.Namespace {
		return id.Namespace, nil
	}
	return "", fmt.Errorf("namespace %q: %w", ns, controller.ErrForbidden)
}

func (f *fakeBackend) PutAction(_ context.Context, id controller.Identity, req controller.PutActionRequest) (*entity.Action, error) {
	ns, err := resolve(id, req.Namespace)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := ns + "/" + req.Name
	old, exists := f.actions[key]
	switch {
	case req.Name == "stale":
		return nil, fmt.Errorf("action %q: %w", req.Name, controller.ErrConflict)
	case exists && !req.Overwrite:
		return nil, fmt.Errorf("action %q: %w", req.Name, controller.ErrExists)
	case !exists && req.Exec.Kind == "":
		return nil, fmt.Errorf("%w: exec.kind is required", entity.ErrInvalid)
	case req.Exec.Kind == entity.KindBlackbox && req.Exec.Image == "":
		return nil, fmt.Errorf("blackbox without image: %w", controller.ErrInvalid)
	}
	rev := uint64(1)
	if exists {
		rev = old.Revision + 1
	}
	a := &entity.Action{Namespace: ns, Name: req.Name, Version: fmt.Sprintf("0.0.%d", rev), Revision: rev,
		Exec: req.Exec, Parameters: req.Parameters, Limits: req.Limits.WithDefaults(), Annotations: req.Annotations,
		Publish: req.Publish, Updated: 42}
	f.actions[key] = a
	if req.Code != nil {
		f.code[key] = req.Code
	}
	return a, nil
}

func (f *fakeBackend) GetAction(_ context.Context, id controller.Identity, ns, name string, withCode bool) (*entity.Action, []byte, error) {
	ns, err := resolve(id, ns)
	if err != nil {
		return nil, nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.actions[ns+"/"+name]
	if !ok {
		return nil, nil, fmt.Errorf("action %q: %w", name, controller.ErrNotFound)
	}
	if !withCode {
		return a, nil, nil
	}
	return a, f.code[ns+"/"+name], nil
}

func (f *fakeBackend) ListActions(_ context.Context, id controller.Identity, ns string, skip, limit int) ([]*entity.Action, error) {
	ns, err := resolve(id, ns)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*entity.Action
	for _, a := range f.actions {
		if a.Namespace == ns {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	out = out[min(skip, len(out)):]
	return out[:min(limit, len(out))], nil
}

func (f *fakeBackend) DeleteAction(_ context.Context, id controller.Identity, ns, name string) (*entity.Action, error) {
	ns, err := resolve(id, ns)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.actions[ns+"/"+name]
	if !ok {
		return nil, fmt.Errorf("action %q: %w", name, controller.ErrNotFound)
	}
	delete(f.actions, ns+"/"+name)
	return a, nil
}

func (f *fakeBackend) Invoke(_ context.Context, id controller.Identity, req controller.InvokeRequest) (*controller.InvokeResult, error) {
	ns, err := resolve(id, req.Namespace)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invokes = append(f.invokes, req)
	if _, ok := f.actions[ns+"/"+req.Name]; !ok {
		return nil, fmt.Errorf("action %q: %w", req.Name, controller.ErrNotFound)
	}
	switch req.Name {
	case "throttled":
		return nil, fmt.Errorf("namespace %q: %w", ns, controller.ErrThrottled)
	case "busy":
		return nil, fmt.Errorf("no invoker: %w", controller.ErrUnavailable)
	case "boom":
		return nil, errors.New("disk on fire")
	}
	if len(req.Params) > entity.MaxPayloadBytes {
		return nil, controller.ErrTooLarge
	}
	var p struct {
		Status int  `json:"status"`
		Slow   bool `json:"slow"`
	}
	if err := json.Unmarshal(req.Params, &p); err != nil {
		return nil, fmt.Errorf("params: %w", controller.ErrInvalid)
	}
	res := &controller.InvokeResult{ActivationID: activation.NewID()}
	if !req.Blocking || p.Slow {
		return res, nil
	}
	result := req.Params
	if p.Status != activation.StatusSuccess {
		result = activation.ErrorResult("it failed")
	}
	rec := &activation.Record{ActivationID: res.ActivationID, Namespace: ns, Name: req.Name, Subject: id.UUID,
		Response: activation.NewResponse(p.Status, result), Logs: []string{"ran"}}
	f.records[rec.ActivationID] = rec
	res.Record = rec
	return res, nil
}

func (f *fakeBackend) GetActivation(_ context.Context, id controller.Identity, ns, activationID string) (*activation.Record, error) {
	if _, err := resolve(id, ns); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rec, ok := f.records[activationID]
	if !ok {
		return nil, fmt.Errorf("activation %q: %w", activationID, controller.ErrNotFound)
	}
	return rec, nil
}

func (f *fakeBackend) ListActivations(_ context.Context, id controller.Identity, req controller.ListActivationsRequest) ([]*activation.Record, error) {
	if _, err := resolve(id, req.Namespace); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*activation.Record
	for _, r := range f.records {
		if req.Name == "" || r.Name == req.Name {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ActivationID < out[j].ActivationID })
	return out[:min(req.Limit, len(out))], nil
}
