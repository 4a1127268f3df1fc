package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
)

// TestRestartKeepsState stops standalone and starts it again on the same
// data dir: actions and activation records are still there, and
// activations accepted (202) before the stop finish after the restart.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	s := startSystem(t, dir)
	s.createAction(t, "persist", "sleep", nil)
	r := s.invoke(t, "persist", map[string]any{"ms": 1}, "blocking=true")
	if r.status != http.StatusOK {
		t.Fatalf("invoke: %d %s", r.status, r.body)
	}
	done := r.json(t)["activationId"].(string)

	// Accepted but likely not yet run when we stop.
	var pending []string
	for i := 0; i < 10; i++ {
		r := s.invoke(t, "persist", map[string]any{"ms": 300}, "blocking=false")
		if r.status != http.StatusAccepted {
			t.Fatalf("invoke: %d %s", r.status, r.body)
		}
		pending = append(pending, r.json(t)["activationId"].(string))
	}
	s.stop()

	s2 := startSystem(t, dir)
	if g := s2.do(t, http.MethodGet, "/api/v1/namespaces/_/actions/persist?code=false", guestAuth, nil); g.status != http.StatusOK {
		t.Fatalf("action lost across restart: %d %s", g.status, g.body)
	}
	if g := s2.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/"+done, guestAuth, nil); g.status != http.StatusOK {
		t.Fatalf("record lost across restart: %d %s", g.status, g.body)
	}
	for _, id := range pending {
		testutil.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
			g := s2.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/"+id, guestAuth, nil)
			if g.status != http.StatusOK {
				return fmt.Errorf("activation %s accepted before the restart has no record: %d", id, g.status)
			}
			return nil
		})
	}
}
