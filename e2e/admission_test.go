package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
)

// TestAdmission starts standalone with small namespace limits: invokes under
// them pass, a burst over them gets 429 with a clear message and
// Retry-After, and finished activations free their slots.
func TestAdmission(t *testing.T) {
	s := startSystem(t, "", "--limit-concurrent", "2", "--limit-per-minute", "5")
	s.createAction(t, "sleep", "sleep", nil)
	s.createAction(t, "hello", "hello", nil)

	throttled := func(t *testing.T, r response, want string) {
		t.Helper()
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Fatalf("want 429 with Retry-After, got %d %v: %s", r.status, r.header, r.body)
		}
		if msg, _ := r.json(t)["error"].(string); !strings.Contains(msg, want) {
			t.Fatalf("429 message %q does not say %q", msg, want)
		}
	}

	// Two long activations fill the namespace; a third is refused.
	var ids []string
	for range 2 {
		r := s.invoke(t, "sleep", map[string]any{"ms": 5000}, "blocking=false")
		if r.status != http.StatusAccepted {
			t.Fatalf("invoke under the limit: %d %s", r.status, r.body)
		}
		ids = append(ids, r.json(t)["activationId"].(string))
	}
	r := s.invoke(t, "sleep", map[string]any{"ms": 1}, "blocking=false")
	throttled(t, r, "too many concurrent activations for namespace guest: limit 2")

	// When they finish, their slots are free again.
	for _, id := range ids {
		testutil.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
			if r := s.do(t, http.MethodGet, "/api/v1/namespaces/_/activations/"+id, guestAuth, nil); r.status != http.StatusOK {
				return fmt.Errorf("record of %s: %d", id, r.status)
			}
			return nil
		})
	}
	testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if r := s.invoke(t, "hello", nil, "blocking=true&result=true"); r.status != http.StatusOK {
			return fmt.Errorf("invoke after the slots were freed: %d %s", r.status, r.body)
		}
		return nil
	})

	// A burst over 5 per minute is refused. A minute may begin during the
	// burst, so it is long enough for two minutes' allowance.
	for i := 0; ; i++ {
		if i == 30 {
			t.Fatal("30 invokes in a row and none refused for the per-minute limit")
		}
		r := s.invoke(t, "hello", nil, "blocking=true&result=true")
		if r.status == http.StatusOK {
			continue
		}
		if r.status == http.StatusTooManyRequests && strings.Contains(string(r.body), "concurrent activations") {
			continue // a finished activation's slot not yet seen free
		}
		throttled(t, r, "too many invocations per minute for namespace guest: limit 5")
		break
	}
}
