package controller

import (
	"encoding/json"
	"testing"

	"github.com/flurryfn/flurry/internal/entity"
)

// TestActionJSONs: the JSON is json.Marshal's, kept per action pointer,
// and the kept set is bounded.
func TestActionJSONs(t *testing.T) {
	var j actionJSONs
	a := &entity.Action{Namespace: "guest", Name: "hello", Revision: 3, Exec: entity.Exec{Kind: "go:1.26"}}
	got, err := j.get(a)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := json.Marshal(a); string(got) != string(want) {
		t.Fatalf("json %s, want %s", got, want)
	}
	if again, _ := j.get(a); &again[0] != &got[0] {
		t.Error("encoded again for the same action")
	}
	b := *a
	b.Revision = 4
	if other, _ := j.get(&b); string(other) == string(got) {
		t.Error("another revision got the first one's JSON")
	}
	for range maxActionJSONs {
		if _, err := j.get(&entity.Action{Name: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(j.m); n > maxActionJSONs {
		t.Errorf("%d actions kept, over %d", n, maxActionJSONs)
	}
}
