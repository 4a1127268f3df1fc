package entity

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateExec(t *testing.T) {
	tests := []struct {
		name string
		x    Exec
		want string // part of the error; "" for none
	}{
		{"go", Exec{Kind: KindGo, Binary: true, CodeDigest: "d"}, ""},
		{"go text", Exec{Kind: KindGo, CodeDigest: "d"}, "needs binary code"},
		{"go no code", Exec{Kind: KindGo, Binary: true}, "needs code"},
		{"python text", Exec{Kind: KindPython, CodeDigest: "d"}, ""},
		{"python zip", Exec{Kind: KindPython, Binary: true, CodeDigest: "d"}, ""},
		{"python alias", Exec{Kind: "python:default", CodeDigest: "d"}, ""},
		{"python no code", Exec{Kind: KindPython}, "needs code"},
		{"nodejs", Exec{Kind: KindNodejs, CodeDigest: "d"}, ""},
		{"nodejs alias", Exec{Kind: "nodejs:default", CodeDigest: "d"}, ""},
		{"blackbox", Exec{Kind: KindBlackbox, Image: "img"}, ""},
		{"blackbox no image", Exec{Kind: KindBlackbox}, "needs an image"},
		{"no kind", Exec{}, "kind is required"},
		{"unknown", Exec{Kind: "cobol"}, `"go", "python:3", "nodejs", "blackbox"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateExec(tt.x)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateExec = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ValidateExec = %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

func TestKindTable(t *testing.T) {
	for alias, want := range map[string]string{"nodejs:default": KindNodejs, "python": KindPython, KindGo: KindGo, "cobol": "cobol"} {
		if got := CanonicalKind(alias); got != want {
			t.Errorf("CanonicalKind(%q) = %q, want %q", alias, got, want)
		}
	}
	if got := strings.Join(BuiltinKinds(), ","); got != "go,python:3,nodejs" {
		t.Errorf("BuiltinKinds = %s", got)
	}
	for _, k := range Kinds() {
		if k.DefaultMain == "" {
			t.Errorf("kind %s has no default main", k.Kind)
		}
	}
}
