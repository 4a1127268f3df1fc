package names_test

import (
	"errors"
	"testing"

	"github.com/flurryfn/flurry/internal/names"
)

func TestCheckGrantSubject(t *testing.T) {
	for _, c := range []struct {
		pattern  string
		ok       bool
		reserved bool
	}{
		{"orders.>", true, false},
		{"orders.*.created", true, false},
		{"team-a.events", true, false},
		{">", false, true},
		{"*", false, true},
		{"*.orders", false, true},
		{"$JS.API.>", false, true},
		{"$KV.flurry_auth.x", false, true},
		{"$SYS.>", false, true},
		{"$anything", false, true},
		{"_INBOX.abc", false, true},
		{"_inbox.>", false, true},
		{"_INBOX", false, true},
		{"flurry.activation.p1", false, true},
		{"FLURRY.>", false, true},
		{"flurry", false, true},
		{"events.other.>", false, true},
		{"events.>", false, true},
		{"", false, false},
		{"a..b", false, false},
		{"a.>.b", false, false},
		{"a.b*", false, false},
		{"a b", false, false},
	} {
		t.Run(c.pattern, func(t *testing.T) {
			err := names.CheckGrantSubject(c.pattern)
			if (err == nil) != c.ok {
				t.Fatalf("CheckGrantSubject(%q) = %v, want ok=%v", c.pattern, err, c.ok)
			}
			if errors.Is(err, names.ErrReserved) != c.reserved {
				t.Errorf("CheckGrantSubject(%q) = %v, want reserved=%v", c.pattern, err, c.reserved)
			}
		})
	}
}

func TestCheckGrantStream(t *testing.T) {
	for _, c := range []struct {
		name     string
		ok       bool
		reserved bool
	}{
		{"ORDERS", true, false},
		{"team_a-events", true, false},
		{"FLURRY_ACTIVATIONS", false, true},
		{"flurry_records", false, true},
		{"KV_flurry_auth", false, true},
		{"OBJ_flurry_code", false, true},
		{"$SYS", false, true},
		{"", false, false},
		{"a.b", false, false},
		{"a*", false, false},
		{"a/b", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := names.CheckGrantStream(c.name)
			if (err == nil) != c.ok {
				t.Fatalf("CheckGrantStream(%q) = %v, want ok=%v", c.name, err, c.ok)
			}
			if errors.Is(err, names.ErrReserved) != c.reserved {
				t.Errorf("CheckGrantStream(%q) = %v, want reserved=%v", c.name, err, c.reserved)
			}
		})
	}
}
