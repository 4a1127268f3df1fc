package names_test

import (
	"strings"
	"testing"

	"github.com/flurryfn/flurry/internal/names"
)

func TestTriggerSourceNames(t *testing.T) {
	seen := map[string]string{}
	for _, tc := range []struct{ ns, name string }{
		{"guest", "orders"}, {"guest", "orders2"}, {"a-b", "c"}, {"a", "b-c"}, {"ns x", "a.b"}, {"guest/x", "*"},
	} {
		src := names.TriggerSource(tc.ns, tc.name)
		if !strings.HasPrefix(src, "flurry-trigger-") || strings.ContainsAny(src, " .*>/\\") {
			t.Errorf("TriggerSource(%q, %q) = %q: not a valid consumer and queue name", tc.ns, tc.name, src)
		}
		if other, dup := seen[src]; dup {
			t.Errorf("TriggerSource(%q, %q) = %q, as for %s", tc.ns, tc.name, src, other)
		}
		seen[src] = tc.ns + "/" + tc.name
		subj := names.TriggerDeadLetterSubject(tc.ns, tc.name, "id1")
		if want := names.TriggerDeadLetterTriggerSubject(tc.ns, tc.name); strings.TrimSuffix(want, ">")+"id1" != subj {
			t.Errorf("dead letter subject %q is not under %q", subj, want)
		}
		if n := strings.Count(subj, "."); n != 4 {
			t.Errorf("dead letter subject %q has %d dots, want 4 (names are one token each)", subj, n)
		}
	}
}
