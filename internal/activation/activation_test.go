package activation

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/flurryfn/flurry/internal/entity"
)

// TestAnnotationValueMatchesMarshal checks the direct encodings against
// json.Marshal, escapes and HTML-unsafe characters included.
func TestAnnotationValueMatchesMarshal(t *testing.T) {
	for _, v := range []any{
		int64(0), int64(-17), int64(1 << 62), 3, -1,
		"", "warm", "guest/hello", "vm-2c6fd8", `say "hi"`, `back\slash`, "<b>&", "tab\there", "naïve", "\u2028", "\x7f",
		true, 2.5, entity.Limits{Timeout: 60000, Memory: 256}, []string{"a"}, nil,
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := annotationValue(v); string(got) != string(want) {
			t.Errorf("annotationValue(%#v) = %s, json.Marshal gives %s", v, got, want)
		}
	}
}

func TestAnnotateAndAnnotation(t *testing.T) {
	var r Record
	r.Annotate(AnnotationWaitTime, int64(12))
	r.Annotate(AnnotationStart, "warm")
	if got := string(r.Annotation(AnnotationWaitTime)); got != "12" {
		t.Errorf("waitTime = %s", got)
	}
	if got := string(r.Annotation(AnnotationStart)); got != `"warm"` {
		t.Errorf("start = %s", got)
	}
	if r.Annotation("missing") != nil {
		t.Error("a missing annotation is not nil")
	}
}

// TestEncodeMessageIsMarshal: EncodeMessage writes json.Marshal's bytes,
// for every member of Message.
func TestEncodeMessageIsMarshal(t *testing.T) {
	if n := reflect.TypeFor[Message]().NumField(); n != 9 {
		t.Fatalf("Message has %d fields; EncodeMessage writes 9: add the new one there and here", n)
	}
	plain := Message{ActivationID: "0123456789abcdef", Namespace: "guest",
		Action: entity.Action{Namespace: "guest", Name: "hello", Revision: 7, Exec: entity.Exec{Kind: "go:1.26"}},
		Params: json.RawMessage(`{"a":1}`), Subject: "23bc46b1-71f6", Blocking: true, Admitted: 1764892800123}
	odd := plain
	odd.Namespace, odd.Subject, odd.Cause = "<ns>&", "quote\" and \\ and \n and ü", "cause-1"
	odd.Params = json.RawMessage(" {\"html\": \"<b>\",\n \"n\": [1, 2]} ")
	odd.App = &AppCall{Op: AppServe, Endpoint: "web"}
	empty := Message{}
	for _, m := range []*Message{&plain, &odd, &empty} {
		action, err := json.Marshal(m.Action)
		if err != nil {
			t.Fatal(err)
		}
		got, err := EncodeMessage(m, action)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(m)
		if string(got) != string(want) {
			t.Errorf("EncodeMessage:\n%s\njson.Marshal:\n%s", got, want)
		}
	}
	bad := plain
	bad.Params = json.RawMessage(`{"a":`)
	if _, err := EncodeMessage(&bad, []byte(`{}`)); err == nil {
		t.Error("EncodeMessage took invalid params")
	}
}
