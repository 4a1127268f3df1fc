package names_test

import (
	"strings"
	"testing"

	"github.com/flurryfn/flurry/internal/names"
)

// maxBuiltSubject bounds every subject and key the builders make, far
// below the NATS server's 4 KiB control line (subject, reply inbox and
// sizes together): over it the server closes the connection.
const maxBuiltSubject = 1024

// TestBuildersStayShortWhateverTheInput: a caller's string that slipped
// past validation must give a short subject (a miss for that request),
// never one that closes the shared connection.
func TestBuildersStayShortWhateverTheInput(t *testing.T) {
	for _, s := range []string{strings.Repeat("a", 5000), strings.Repeat("ü", 3000), strings.Repeat("a", names.MaxTokenInput+1), strings.Repeat(".", 1<<20)} {
		for what, got := range map[string]string{
			"ActionKey":                       names.ActionKey(s, s),
			"ActionKeyPrefix":                 names.ActionKeyPrefix(s),
			"RecordSubject":                   names.RecordSubject(s, s),
			"RecordNamespaceSubject":          names.RecordNamespaceSubject(s),
			"StartedSubject":                  names.StartedSubject(s),
			"DeadLetterSubject":               names.DeadLetterSubject(s, s),
			"DeadLetterNamespaceSubject":      names.DeadLetterNamespaceSubject(s),
			"NamespaceKey":                    names.NamespaceKey(s),
			"AdmissionConcurrencyKey":         names.AdmissionConcurrencyKey(s),
			"AdmissionRateKey":                names.AdmissionRateKey(s, 1<<40),
			"TriggerKey":                      names.TriggerKey(s, s),
			"RuleKey":                         names.RuleKey(s, s),
			"TickSubject":                     names.TickSubject(s, s),
			"RouteTableKey":                   names.RouteTableKey(s),
			"AppKey":                          names.AppKey(s),
			"TriggerDeadLetterSubject":        names.TriggerDeadLetterSubject(s, s, s),
			"TriggerDeadLetterTriggerSubject": names.TriggerDeadLetterTriggerSubject(s, s),
		} {
			if len(got) > maxBuiltSubject {
				t.Errorf("%s of a %d-byte input is %d bytes, over %d", what, len(s), len(got), maxBuiltSubject)
			}
		}
	}
}

func TestTokenKeepsShortInputsAndSeparatesLongOnes(t *testing.T) {
	long := strings.Repeat("a", names.MaxTokenInput)
	cases := []struct {
		in, want string
	}{
		{"guest", "guest"},
		{long, long},
		{"a b", "=YSBi"},
	}
	for _, c := range cases {
		if got := names.Token(c.in); got != c.want {
			t.Errorf("Token(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	a, b := names.Token(long+"a"), names.Token(long+"b")
	if a == b || !strings.HasPrefix(a, "==") || len(a) != 45 {
		t.Errorf("long tokens %q and %q: want distinct, \"==\" + 43 characters", a, b)
	}
	if got := names.RecordSubject("guest", "0123456789abcdef0123456789abcdef"); got != "flurry.record.guest.0123456789abcdef0123456789abcdef" {
		t.Errorf("RecordSubject of a plain id = %q: ids must stay as they are (stored records)", got)
	}
}
