package entity_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/flurryfn/flurry/internal/entity"
)

// nameRE is the rule ValidName implements.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_@.-]{0,255}$`)

var nameSamples = []string{"", "a", "hello", "my-action_2", "a@b.c", "@x", ".x", "-x", "_x", "x y", "ü",
	"x/y", "x\n", "\x00", strings.Repeat("a", 256), strings.Repeat("a", 257), "a" + strings.Repeat(".", 255)}

func TestValidNameMatchesItsRule(t *testing.T) {
	for _, s := range nameSamples {
		if got, want := entity.ValidName(s), nameRE.MatchString(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range nameSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := entity.ValidName(s), nameRE.MatchString(s); got != want {
			t.Fatalf("ValidName(%q) = %v, want %v", s, got, want)
		}
	})
}
