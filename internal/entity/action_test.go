package entity_test

import (
	"testing"

	"github.com/flurryfn/flurry/internal/entity"
)

func TestActionKey(t *testing.T) {
	a := entity.Action{Namespace: "guest", Name: "pkg/hello", Revision: 18446744073709551615}
	if got, want := a.Key(), "guest/pkg/hello@18446744073709551615"; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
}
