package activation

import (
	"encoding/json"
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
