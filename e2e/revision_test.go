package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/testutil"
)

// TestUpdateRetiresOldContainer: after an action update, the first call of
// the new revision removes the idle container of the old one (not only
// after the idle timeout), and both calls answer.
func TestUpdateRetiresOldContainer(t *testing.T) {
	s := startSystem(t, "")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("standalone output:\n%s", s.output.String())
		}
	})
	s.createAction(t, "rev", "hello", nil)
	if r := s.invoke(t, "rev", map[string]any{"name": "one"}, "blocking=true&result=true"); r.status != http.StatusOK {
		t.Fatalf("first revision: %d %s", r.status, r.body)
	}
	s.createAction(t, "rev", "hello", nil) // a new revision, same code
	if r := s.invoke(t, "rev", map[string]any{"name": "two"}, "blocking=true&result=true"); r.status != http.StatusOK {
		t.Fatalf("second revision: %d %s", r.status, r.body)
	}
	line := regexp.MustCompile(`superseded revision".* container=(\S+) action=(\S+)`)
	var id string
	testutil.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		m := line.FindStringSubmatch(s.output.String())
		if m == nil {
			return fmt.Errorf("no removal of the old revision's container logged")
		}
		if !strings.Contains(m[2], "/rev@") {
			return fmt.Errorf("removed a container of %s, want one of rev", m[2])
		}
		id = m[1]
		return nil
	})
	if !dockerReachable() {
		return
	}
	testutil.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		out, err := exec.Command("docker", "ps", "-aq", "--no-trunc", "--filter", "id="+id).Output()
		if err != nil {
			return err
		}
		if len(strings.TrimSpace(string(out))) != 0 {
			return fmt.Errorf("container %s of the old revision still exists", id)
		}
		return nil
	})
}
