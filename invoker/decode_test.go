package invoker

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

func decodeTestMessage() activation.Message {
	return activation.Message{
		ActivationID: "0123456789abcdef0123456789abcdef", Namespace: "guest",
		Action: entity.Action{Namespace: "guest", Name: "hello", Version: "0.0.3", Revision: 42,
			Exec:        entity.Exec{Kind: "go:1.26", Binary: true, CodeDigest: "9f86d081884c7d659a2feaa0c55ad015", CodeSize: 2345},
			Parameters:  []entity.KeyValue{{Key: "greeting", Value: json.RawMessage(`"hello"`)}},
			Limits:      entity.Limits{Timeout: 60000, Memory: 64, Concurrency: 1, Logs: 10},
			Annotations: []entity.KeyValue{{Key: "exec", Value: json.RawMessage(`"go:1.26"`)}},
			Retry:       &entity.RetryPolicy{MaxAttempts: 3},
		},
		Params: json.RawMessage(`{"greeting":"hello","n":17}`), Subject: "23bc46b1", Blocking: true,
		Admitted: 1764892800123, Cause: "feedface", App: &activation.AppCall{Op: activation.AppServe, Endpoint: "GET /"},
	}
}

// TestDecodeMatchesUnmarshal checks that the cached decoding gives what
// decoding the whole message does, for a first and a repeated revision.
func TestDecodeMatchesUnmarshal(t *testing.T) {
	var c actionCache
	m := decodeTestMessage()
	data, _ := json.Marshal(m)
	var want activation.Message
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		got, err := c.decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round %d: decode = %+v\nwant %+v", round, got, want)
		}
	}
	if len(c.decoded) != 1 {
		t.Errorf("%d revisions cached after one revision twice", len(c.decoded))
	}

	// The same revision number with other content is decoded anew.
	m.Action.Limits.Timeout = 1000
	data2, _ := json.Marshal(m)
	got, err := c.decode(data2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Action.Limits.Timeout != 1000 {
		t.Errorf("changed action decoded as the cached one: timeout %d", got.Action.Limits.Timeout)
	}
}

// TestDecodeSharedActionAppend checks that a reader appending to a
// message's action slices does not change another message's.
func TestDecodeSharedActionAppend(t *testing.T) {
	var c actionCache
	data, _ := json.Marshal(decodeTestMessage())
	a, _ := c.decode(data)
	b, _ := c.decode(data)
	a.Action.Annotations = append(a.Action.Annotations, entity.KeyValue{Key: "x", Value: json.RawMessage(`1`)})
	if len(b.Action.Annotations) != 1 {
		t.Fatalf("b's annotations changed: %v", b.Action.Annotations)
	}
	c2, _ := c.decode(data)
	if len(c2.Action.Annotations) != 1 {
		t.Fatalf("the cached revision changed: %v", c2.Action.Annotations)
	}
}

func TestDecodeBad(t *testing.T) {
	var c actionCache
	for _, in := range []string{``, `{`, `[]`, `{"activationId":"x","action":[]}`, `{"activationId":"x","action":{"limits":"no"}}`} {
		if _, err := c.decode([]byte(in)); err == nil {
			t.Errorf("decode(%q) succeeded", in)
		}
	}
	// No action at all decodes (the caller checks what it needs).
	m, err := c.decode([]byte(`{"activationId":"x"}`))
	if err != nil || m.ActivationID != "x" {
		t.Errorf("decode without action = %+v, %v", m, err)
	}
}

func TestDecodeCacheBounded(t *testing.T) {
	var c actionCache
	m := decodeTestMessage()
	for r := range maxDecodedActions + 10 {
		m.Action.Revision = uint64(r)
		data, _ := json.Marshal(m)
		if _, err := c.decode(data); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.decoded) > maxDecodedActions {
		t.Errorf("%d revisions cached, bound %d", len(c.decoded), maxDecodedActions)
	}
}

// TestObjectError holds objectError to decoding the body into a map.
func TestObjectError(t *testing.T) {
	for _, tc := range []struct {
		in    string
		obj   bool
		field string // "" for none
	}{
		{`{"x":1}`, true, ""},
		{` {"x":1}` + "\n", true, ""},
		{`{}`, true, ""},
		{`{"error":"boom"}`, true, `"boom"`},
		{`{"error":null}`, true, `null`},
		{`{"a":1,"error":{"code":7}}`, true, `{"code":7}`},
		{`{"\u0065rror":"escaped"}`, true, `"escaped"`},
		{`{"a":{"error":1}}`, true, ""},
		{`{"message":"an error occurred"}`, true, ""},
		{`{"x":"\u00e9"}`, true, ""},
		{`{"error":1,"error":2}`, true, `2`},
		{`[1]`, false, ""},
		{`"error"`, false, ""},
		{`null`, false, ""},
		{`{"x":`, false, ""},
		{`{"x":1} trailing`, false, ""},
		{``, false, ""},
	} {
		field, obj := objectError([]byte(tc.in))
		if obj != tc.obj || string(field) != tc.field {
			t.Errorf("objectError(%q) = %s, %t; want %s, %t", tc.in, field, obj, tc.field, tc.obj)
		}
		// The reference: a map decode.
		var m map[string]json.RawMessage
		err := json.Unmarshal([]byte(tc.in), &m)
		if refObj := err == nil && m != nil; refObj != obj || (obj && string(m["error"]) != string(field)) {
			t.Errorf("objectError(%q) disagrees with a map decode (%v, %s)", tc.in, err, m["error"])
		}
	}
}

func BenchmarkDecodeMessage(b *testing.B) {
	data, _ := json.Marshal(decodeTestMessage())
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m activation.Message
			if err := json.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		var c actionCache
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached-unmarshal", func(b *testing.B) {
		var c actionCache
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.decodeUnmarshal(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Messages as controllers write them take the plain path; the rest go to
// encoding/json, with its answer.
func TestDecodePlain(t *testing.T) {
	var c actionCache
	m := decodeTestMessage()
	data, _ := json.Marshal(m)
	got, ok := c.decodePlain(data)
	if !ok {
		t.Fatalf("a controller's message was declined: %s", data)
	}
	want, _ := c.decodeUnmarshal(data)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plain = %+v\nwant %+v", got, want)
	}
	m.App, m.Cause, m.Blocking = nil, "", false
	data, _ = json.Marshal(m)
	if _, ok := c.decodePlain(data); !ok {
		t.Fatalf("a controller's message without app was declined: %s", data)
	}

	for _, in := range []string{
		`{"ActivationID":"x"}`,               // encoding/json matches keys ignoring case
		`{"activationId":"\u0078"}`,          // an escape
		`{"activationId":"caf\u00e9"}`,       // and another
		"{\"activationId\":\"caf\xc3\xa9\"}", // UTF-8
		`{"activationId":null}`,              // null leaves the field
		`{"admitted":1.5}`, `{"admitted":"1"}`, `{"blocking":1}`, `{"action":null}`,
		`{"activationId":"x","unknown":1}`,
	} {
		if _, ok := c.decodePlain([]byte(in)); ok {
			t.Errorf("decodePlain(%s) answered", in)
		}
	}
	// The fallback decodes what the plain path declines.
	if m, err := c.decode([]byte(`{"ActivationID":"x","activationId":"y"}`)); err != nil || m.ActivationID != "y" {
		t.Errorf("decode with both spellings = %q, %v", m.ActivationID, err)
	}
}

// FuzzDecodePlain checks that whenever the plain path answers, it answers
// as encoding/json does.
func FuzzDecodePlain(f *testing.F) {
	data, _ := json.Marshal(decodeTestMessage())
	f.Add(data)
	f.Add([]byte(`{"activationId":"x","admitted":-0,"blocking":false,"app":null,"params":null}`))
	f.Add([]byte(`{"app":{"op":"a"},"app":{"endpoint":"e"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c actionCache
		got, ok := c.decodePlain(data)
		if !ok {
			return
		}
		want, err := c.decodeUnmarshal(data)
		if err != nil {
			t.Fatalf("plain path decoded %q; encoding/json: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: plain = %+v\nwant %+v", data, got, want)
		}
	})
}

func BenchmarkObjectError(b *testing.B) {
	body := []byte(`{"greeting":"hello flurry","n":17}`)
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]json.RawMessage
			_ = json.Unmarshal(body, &m)
			_ = m["error"]
		}
	})
	b.Run("objectError", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			objectError(body)
		}
	})
}
