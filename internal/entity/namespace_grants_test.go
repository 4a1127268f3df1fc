package entity_test

import (
	"errors"
	"testing"

	"github.com/flurryfn/flurry/internal/entity"
)

func TestNamespaceValidateGrants(t *testing.T) {
	for _, c := range []struct {
		name string
		ns   entity.Namespace
		ok   bool
	}{
		{"plain", entity.Namespace{Name: "team-a"}, true},
		{"granted", entity.Namespace{Name: "team-a", Network: entity.NetworkNone, EventSubjects: []string{"orders.>"}, EventStreams: []string{"ORDERS"}}, true},
		{"bad network", entity.Namespace{Name: "team-a", Network: "host"}, false},
		{"guest placeholder", entity.Namespace{Name: "_"}, false},
		{"all subjects", entity.Namespace{Name: "team-a", EventSubjects: []string{">"}}, false},
		{"jetstream api", entity.Namespace{Name: "team-a", EventSubjects: []string{"$JS.API.>"}}, false},
		{"inbox", entity.Namespace{Name: "team-a", EventSubjects: []string{"_INBOX.>"}}, false},
		{"flurry subjects", entity.Namespace{Name: "team-a", EventSubjects: []string{"flurry.activation.>"}}, false},
		{"flurry stream", entity.Namespace{Name: "team-a", EventStreams: []string{"FLURRY_RECORDS"}}, false},
		{"kv stream", entity.Namespace{Name: "team-a", EventStreams: []string{"KV_flurry_auth"}}, false},
		{"object stream", entity.Namespace{Name: "team-a", EventStreams: []string{"OBJ_flurry_code"}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.ns.Validate()
			if (err == nil) != c.ok || (err != nil && !errors.Is(err, entity.ErrInvalid)) {
				t.Errorf("Validate = %v, want ok=%v", err, c.ok)
			}
		})
	}
}
