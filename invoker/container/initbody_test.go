package container

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
)

// The spliced /init body is the same JSON that encoding/json produces.
func TestInitBodyMatchesJSON(t *testing.T) {
	for _, req := range []InitRequest{
		{Name: "a", Main: "main", Code: "QUJD+/==", Binary: true, Env: map[string]string{"K": "v\"<"}},
		{Name: "a", Code: "QUJD", Binary: true},
		{Name: "a", Code: "not base64 \"quoted\"\n", Binary: true},
		{Name: "a", Code: "print('hi')", Binary: false},
	} {
		got, err := initBody(req)
		if err != nil {
			t.Fatal(err)
		}
		var g, w map[string]any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%q is not JSON: %v", got, err)
		}
		want, _ := json.Marshal(map[string]any{"value": map[string]any{"name": req.Name, "main": req.Main, "code": req.Code, "binary": req.Binary, "env": req.Env}})
		json.Unmarshal(want, &w)
		if len(req.Env) == 0 {
			delete(w["value"].(map[string]any), "env")
		}
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Fatalf("body %s\nwant %s", got, want)
		}
	}
}

// BenchmarkInitBody is the invoker's share of a cold start's /init for a
// 2.6 MB executable: encoding the request.
func BenchmarkInitBody(b *testing.B) {
	exe := make([]byte, 2600<<10)
	for i := range exe {
		exe[i] = byte(i * 7919 >> 3)
	}
	req := InitRequest{Name: "noop", Main: "main", Code: base64.StdEncoding.EncodeToString(exe), Binary: true}
	b.SetBytes(int64(len(req.Code)))
	for b.Loop() {
		if _, err := initBody(req); err != nil {
			b.Fatal(err)
		}
	}
}
