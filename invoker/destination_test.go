package invoker

import (
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

// TestSettleDestinationOutsideEventSpace: an action stored before the
// controller checked destinations (ADR 020) sends nothing into another
// namespace's events or Flurry's subjects; its own events still get the
// record.
func TestSettleDestinationOutsideEventSpace(t *testing.T) {
	for _, tc := range []struct {
		name, subject string
		sent          bool
	}{
		{"own events", "events.guest.done", true},
		{"another namespace's events", "events.other.done", false},
		{"flurry", "flurry.invoker.x.health", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSettleEnv(t)
			a := entity.Action{Namespace: "guest", Name: "old", Version: "0.0.1",
				Destinations: &entity.Destinations{OnSuccess: tc.subject}}
			sub := subscribe(t, s.nc, tc.subject)
			id := s.publishAsync(t, a, time.Now())
			msg, m := s.next(t)
			s.settleWith(t, msg, m, activation.StatusSuccess)
			s.settled(t)
			got, err := sub.NextMsg(time.Second)
			if tc.sent && err != nil {
				t.Fatalf("no record on %s: %v", tc.subject, err)
			}
			if !tc.sent && err == nil {
				t.Fatalf("activation %s's record was sent to %s: %s", id, tc.subject, got.Data)
			}
		})
	}
}
