package entity_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/flurryfn/flurry/internal/entity"
)

func TestNamespaceLimits(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	for _, c := range []struct {
		name      string
		l         entity.NamespaceLimits
		json      string
		conc, ipm int64
		ok        bool
	}{
		{"defaults", entity.NamespaceLimits{}, `{}`, entity.DefaultConcurrentInvocations, entity.DefaultInvocationsPerMinute, true},
		{"set", entity.NamespaceLimits{ConcurrentInvocations: n(5), InvocationsPerMinute: n(7)},
			`{"concurrentInvocations":5,"invocationsPerMinute":7}`, 5, 7, true},
		{"unlimited", entity.NamespaceLimits{ConcurrentInvocations: n(0)}, `{"concurrentInvocations":0}`, 0, entity.DefaultInvocationsPerMinute, true},
		{"negative", entity.NamespaceLimits{InvocationsPerMinute: n(-1)}, `{"invocationsPerMinute":-1}`, entity.DefaultConcurrentInvocations, -1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.l.Validate()
			if (err == nil) != c.ok || (err != nil && !errors.Is(err, entity.ErrInvalid)) {
				t.Errorf("Validate = %v", err)
			}
			b, _ := json.Marshal(c.l)
			if string(b) != c.json {
				t.Errorf("json = %s, want %s", b, c.json)
			}
			conc := entity.Limit(c.l.ConcurrentInvocations, entity.DefaultConcurrentInvocations)
			ipm := entity.Limit(c.l.InvocationsPerMinute, entity.DefaultInvocationsPerMinute)
			if conc != c.conc || ipm != c.ipm {
				t.Errorf("limits = %d, %d, want %d, %d", conc, ipm, c.conc, c.ipm)
			}
		})
	}
}
