package container

import (
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
