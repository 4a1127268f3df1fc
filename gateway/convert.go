package gateway

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
)

// Conversions between the internal types and the wire messages.

// jsonValue turns raw JSON into a protobuf Value; empty input is nil and
// text that is not JSON becomes a string (records are written by others).
func jsonValue(raw json.RawMessage) *structpb.Value {
	if len(raw) == 0 {
		return nil
	}
	v := &structpb.Value{}
	if err := protojson.Unmarshal(raw, v); err != nil {
		return structpb.NewStringValue(string(raw))
	}
	return v
}

// rawJSON turns a protobuf Value into raw JSON; nil is JSON null.
func rawJSON(v *structpb.Value) (json.RawMessage, error) {
	if v == nil {
		return json.RawMessage("null"), nil
	}
	b, err := protojson.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode value: %w: %w", err, controller.ErrInvalid)
	}
	return b, nil
}

func toPBKeyValues(kvs []entity.KeyValue) []*flurryv1.KeyValue {
	out := make([]*flurryv1.KeyValue, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, &flurryv1.KeyValue{Key: kv.Key, Value: jsonValue(kv.Value)})
	}
	return out
}

func fromPBKeyValues(kvs []*flurryv1.KeyValue) ([]entity.KeyValue, error) {
	out := make([]entity.KeyValue, 0, len(kvs))
	for _, kv := range kvs {
		raw, err := rawJSON(kv.GetValue())
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", kv.GetKey(), err)
		}
		out = append(out, entity.KeyValue{Key: kv.GetKey(), Value: raw})
	}
	return out, nil
}

func toPBAction(a *entity.Action) *flurryv1.Action {
	if a == nil {
		return nil
	}
	return &flurryv1.Action{
		Namespace: a.Namespace,
		Name:      a.Name,
		Version:   a.Version,
		Revision:  a.Revision,
		Exec: &flurryv1.Exec{
			Kind:       a.Exec.Kind,
			Main:       a.Exec.Main,
			Binary:     a.Exec.Binary,
			Image:      a.Exec.Image,
			CodeDigest: a.Exec.CodeDigest,
			CodeSize:   a.Exec.CodeSize,
		},
		Parameters:   toPBKeyValues(a.Parameters),
		Limits:       &flurryv1.Limits{Timeout: a.Limits.Timeout, Memory: a.Limits.Memory, Concurrency: a.Limits.Concurrency, Logs: a.Limits.Logs},
		Annotations:  toPBKeyValues(a.Annotations),
		Publish:      a.Publish,
		Updated:      a.Updated,
		Retry:        toPBRetry(a.Retry),
		Destinations: toPBDestinations(a.Destinations),
	}
}

func toPBRetry(p *entity.RetryPolicy) *flurryv1.RetryPolicy {
	if p == nil {
		return nil
	}
	return &flurryv1.RetryPolicy{MaxAttempts: int32(p.MaxAttempts), InitialBackoff: p.InitialBackoff,
		MaxBackoff: p.MaxBackoff, MaxEventAge: p.MaxEventAge}
}

// fromPBRetry keeps nil (an update keeps the policy) apart from an empty
// message (removes it).
func fromPBRetry(p *flurryv1.RetryPolicy) *entity.RetryPolicy {
	if p == nil {
		return nil
	}
	return &entity.RetryPolicy{MaxAttempts: int(p.GetMaxAttempts()), InitialBackoff: p.GetInitialBackoff(),
		MaxBackoff: p.GetMaxBackoff(), MaxEventAge: p.GetMaxEventAge()}
}

func toPBDestinations(d *entity.Destinations) *flurryv1.Destinations {
	if d == nil {
		return nil
	}
	return &flurryv1.Destinations{OnSuccess: d.OnSuccess, OnFailure: d.OnFailure}
}

func fromPBDestinations(d *flurryv1.Destinations) *entity.Destinations {
	if d == nil {
		return nil
	}
	return &entity.Destinations{OnSuccess: d.GetOnSuccess(), OnFailure: d.GetOnFailure()}
}

func fromPBPut(r *flurryv1.PutActionRequest) (controller.PutActionRequest, error) {
	params, err := fromPBKeyValues(r.GetParameters())
	if err != nil {
		return controller.PutActionRequest{}, fmt.Errorf("parameters: %w", err)
	}
	annotations, err := fromPBKeyValues(r.GetAnnotations())
	if err != nil {
		return controller.PutActionRequest{}, fmt.Errorf("annotations: %w", err)
	}
	e, l := r.GetExec(), r.GetLimits()
	return controller.PutActionRequest{
		Namespace: r.GetNamespace(),
		Name:      r.GetName(),
		Overwrite: r.GetOverwrite(),
		// Digest and size are computed by the controller from Code.
		Exec:         entity.Exec{Kind: e.GetKind(), Main: e.GetMain(), Binary: e.GetBinary(), Image: e.GetImage()},
		Code:         r.GetCode(),
		Parameters:   params,
		Limits:       entity.Limits{Timeout: l.GetTimeout(), Memory: l.GetMemory(), Concurrency: l.GetConcurrency(), Logs: l.GetLogs()},
		Annotations:  annotations,
		Publish:      r.GetPublish(),
		Retry:        fromPBRetry(r.GetRetry()),
		Destinations: fromPBDestinations(r.GetDestinations()),
	}, nil
}

func toPBActivation(r *activation.Record) *flurryv1.Activation {
	if r == nil {
		return nil
	}
	return &flurryv1.Activation{
		ActivationId: r.ActivationID,
		Namespace:    r.Namespace,
		Name:         r.Name,
		Version:      r.Version,
		Subject:      r.Subject,
		Start:        r.Start,
		End:          r.End,
		Duration:     r.Duration,
		Response: &flurryv1.ActivationResponse{
			Status:     r.Response.Status,
			StatusCode: int32(r.Response.StatusCode),
			Success:    r.Response.Success,
			Result:     jsonValue(r.Response.Result),
		},
		Logs:        r.Logs,
		Annotations: toPBKeyValues(r.Annotations),
		Publish:     r.Publish,
		Cause:       r.Cause,
	}
}
