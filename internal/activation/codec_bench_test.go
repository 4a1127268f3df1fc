package activation

import (
	"encoding/json"
	"testing"

	"github.com/flurryfn/flurry/internal/entity"
)

// benchMessage is an activation of a typical action: a few annotations,
// default parameters and small params.
func benchMessage() *Message {
	a := entity.Action{
		Namespace: "guest", Name: "hello", Version: "0.0.3", Revision: 42,
		Exec: entity.Exec{Kind: "go:1.26", Binary: true,
			CodeDigest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", CodeSize: 2_345_678},
		Parameters:  []entity.KeyValue{{Key: "greeting", Value: json.RawMessage(`"hello"`)}},
		Limits:      entity.Limits{Timeout: 60000, Memory: 64, Concurrency: 1, Logs: 10},
		Annotations: []entity.KeyValue{{Key: "exec", Value: json.RawMessage(`"go:1.26"`)}, {Key: "provide-api-key", Value: json.RawMessage(`false`)}},
		Updated:     1764892800000,
	}
	return &Message{ActivationID: NewID(), Namespace: "guest", Action: a,
		Params: json.RawMessage(`{"greeting":"hello","name":"flurry","n":17}`), Subject: "23bc46b1-71f6-4ed5-8c54-816aa4f8c502",
		Blocking: true, Admitted: 1764892800123}
}

func benchRecord() *Record {
	r := &Record{ActivationID: NewID(), Namespace: "guest", Name: "hello", Version: "0.0.3",
		Subject: "23bc46b1-71f6-4ed5-8c54-816aa4f8c502", Start: 1764892800125, End: 1764892800126, Duration: 1,
		Response: NewResponse(StatusSuccess, json.RawMessage(`{"greeting":"hello flurry"}`)),
		Logs:     []string{}, Publish: false}
	r.Annotate(AnnotationKind, "go:1.26")
	r.Annotate(AnnotationPath, "guest/hello")
	r.Annotate(AnnotationLimits, entity.Limits{Timeout: 60000, Memory: 64, Concurrency: 1, Logs: 10})
	r.Annotate(AnnotationWaitTime, 2)
	r.Annotate(AnnotationInvoker, "vm-2c6fd8")
	r.Annotate(AnnotationStart, "warm")
	return r
}

func BenchmarkMessageMarshal(b *testing.B) {
	m := benchMessage()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMessageUnmarshal(b *testing.B) {
	data, _ := json.Marshal(benchMessage())
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var m Message
		if err := json.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordMarshal(b *testing.B) {
	r := benchRecord()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordUnmarshal(b *testing.B) {
	data, _ := json.Marshal(benchRecord())
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMessageEncode(b *testing.B) {
	m := benchMessage()
	action, _ := json.Marshal(&m.Action)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeMessage(m, action); err != nil {
			b.Fatal(err)
		}
	}
}
