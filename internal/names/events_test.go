package names_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flurryfn/flurry/internal/names"
)

// matches is NATS's subject matching written plainly: pattern p matches
// literal subject s.
func matches(p, s []string) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	switch p[0] {
	case ">":
		return len(s) > 0
	case "*":
		return len(s) > 0 && matches(p[1:], s[1:])
	}
	return len(s) > 0 && p[0] == s[0] && matches(p[1:], s[1:])
}

// containsBrute decides SubjectContains by trying every subject that can
// tell the patterns apart: made of their literals and one token neither
// has, up to one token longer than the longer pattern. A subject matched
// by p and not by a stays so when its other tokens become the fresh one
// and it is cut to that length.
func containsBrute(a, p string) bool {
	at, pt := strings.Split(a, "."), strings.Split(p, ".")
	alphabet := []string{"\x01fresh"}
	seen := map[string]bool{"*": true, ">": true}
	for _, t := range append(append([]string{}, at...), pt...) {
		if !seen[t] {
			seen[t] = true
			alphabet = append(alphabet, t)
		}
	}
	maxLen := max(len(at), len(pt)) + 1
	s := make([]string, 0, maxLen)
	var try func() bool // false: a counter-example exists
	try = func() bool {
		if len(s) > 0 && matches(pt, s) && !matches(at, s) {
			return false
		}
		if len(s) == maxLen {
			return true
		}
		for _, t := range alphabet {
			s = append(s, t)
			ok := try()
			s = s[:len(s)-1]
			if !ok {
				return false
			}
		}
		return true
	}
	return try()
}

func TestSubjectContains(t *testing.T) {
	for _, tc := range []struct {
		a, p string
		want bool
	}{
		{"events.ns.>", "events.ns.>", true},
		{"events.ns.>", "events.ns.x", true},
		{"events.ns.>", "events.ns.*.y", true},
		{"events.ns.>", "events.ns", false},
		{"events.ns.>", "events.*.x", false},
		{"events.ns.>", "events.>", false},
		{"events.ns.>", "events.other.x", false},
		{"events.ns.>", ">", false},
		{"events.ns.>", "*.>", false},
		{"events.ns.>", "*.ns.x", false},
		{">", ">", true},
		{">", "*.>", true},
		{">", "a", true},
		{"*.>", ">", false},
		{"*", ">", false},
		{"*", "*", true},
		{"*", "a", true},
		{"a", "*", false},
		{"a.*", "a.b", true},
		{"a.*", "a.>", false},
		{"a.*", "a.b.c", false},
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.b", "a.b.c", false},
		{"a.>", "a.*.>", true},
		{"a.*.>", "a.>", false},
	} {
		t.Run(tc.a+" ⊇ "+tc.p, func(t *testing.T) {
			if got := names.SubjectContains(tc.a, tc.p); got != tc.want {
				t.Errorf("SubjectContains(%q, %q) = %v, want %v", tc.a, tc.p, got, tc.want)
			}
			if got := containsBrute(tc.a, tc.p); got != tc.want {
				t.Errorf("brute force says %v: the table is wrong", got)
			}
		})
	}
}

// patterns are every valid pattern of up to n tokens over a small alphabet.
func patterns(n int) []string {
	toks := []string{"a", "b", "*", ">"}
	var out []string
	var gen func(prefix string, k int)
	gen = func(prefix string, k int) {
		if k == 0 {
			return
		}
		for _, t := range toks {
			p := t
			if prefix != "" {
				p = prefix + "." + t
			}
			if names.ValidSubject(p, true) {
				out = append(out, p)
				gen(p, k-1)
			}
		}
	}
	gen("", n)
	return out
}

func TestSubjectContainsAllSmallPatterns(t *testing.T) {
	ps := patterns(3)
	for _, a := range ps {
		for _, p := range ps {
			if got, want := names.SubjectContains(a, p), containsBrute(a, p); got != want {
				t.Errorf("SubjectContains(%q, %q) = %v, brute force %v", a, p, got, want)
			}
		}
	}
}

// fuzzPattern makes a valid pattern of a few tokens from fuzz bytes.
func fuzzPattern(b []byte) string {
	toks := []string{"a", "b", "c", "*", ">"}
	var parts []string
	for i, c := range b {
		if i == 5 {
			break
		}
		t := toks[int(c)%len(toks)]
		parts = append(parts, t)
		if t == ">" {
			break
		}
	}
	if len(parts) == 0 {
		return "a"
	}
	return strings.Join(parts, ".")
}

func FuzzSubjectContains(f *testing.F) {
	f.Add([]byte{0, 1, 4}, []byte{0, 3, 1})
	f.Add([]byte{4}, []byte{3, 4})
	f.Add([]byte{0, 3}, []byte{0, 4})
	f.Fuzz(func(t *testing.T, ab, pb []byte) {
		a, p := fuzzPattern(ab), fuzzPattern(pb)
		if got, want := names.SubjectContains(a, p), containsBrute(a, p); got != want {
			t.Errorf("SubjectContains(%q, %q) = %v, brute force %v", a, p, got, want)
		}
	})
}

// FuzzSubjectContainsAny feeds arbitrary strings: valid patterns must
// agree with the brute force, and nothing may panic.
func FuzzSubjectContainsAny(f *testing.F) {
	f.Add("events.ns.>", "events.*.x")
	f.Add(">", "*.>")
	f.Add("a.b", "a..b")
	f.Fuzz(func(t *testing.T, a, p string) {
		got := names.SubjectContains(a, p)
		// The brute force tries tokens^length subjects: keep it small.
		if !names.ValidSubject(a, true) || !names.ValidSubject(p, true) ||
			strings.Count(a, ".") > 3 || strings.Count(p, ".") > 3 {
			return
		}
		if want := containsBrute(a, p); got != want {
			t.Errorf("SubjectContains(%q, %q) = %v, brute force %v", a, p, got, want)
		}
	})
}

func TestValidSubject(t *testing.T) {
	for _, tc := range []struct {
		s                string
		literal, pattern bool
	}{
		{"events.ns.x", true, true},
		{"events.ns.>", false, true},
		{"*.x", false, true},
		{">", false, true},
		{"", false, false},
		{"a..b", false, false},
		{".a", false, false},
		{"a.", false, false},
		{"a.>.b", false, false},
		{"a*.b", false, false},
		{"a.b>", false, false},
		{"a b", false, false},
		{"a\tb", false, false},
	} {
		if got := names.ValidSubject(tc.s, false); got != tc.literal {
			t.Errorf("ValidSubject(%q, false) = %v, want %v", tc.s, got, tc.literal)
		}
		if got := names.ValidSubject(tc.s, true); got != tc.pattern {
			t.Errorf("ValidSubject(%q, true) = %v, want %v", tc.s, got, tc.pattern)
		}
	}
}

func TestEventNamespaceSubject(t *testing.T) {
	for _, tc := range []struct{ ns, want string }{
		{"guest", "events.guest.>"},
		{"a.b", "events." + names.Token("a.b") + ".>"},
	} {
		got := names.EventNamespaceSubject(tc.ns)
		if tmpl := fmt.Sprintf(names.EventNamespaceSubjectT, names.Token(tc.ns)); got != tmpl {
			t.Errorf("EventNamespaceSubject(%q) = %q, the template gives %q", tc.ns, got, tmpl)
		}
		if got != tc.want || !names.ValidSubject(got, true) || strings.Count(got, ".") != 2 {
			t.Errorf("EventNamespaceSubject(%q) = %q, want %q (three tokens)", tc.ns, got, tc.want)
		}
		if !names.SubjectContains(names.EventSubjects, got) {
			t.Errorf("%q is not inside %q", got, names.EventSubjects)
		}
	}
}

func TestGrantableSubject(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"orders.>", true},
		{"orders.*.new", true},
		{"shared", true},
		{">", false},
		{"*", false},
		{"*.>", false},
		{"*.record.>", false},
		{"flurry.record.>", false},
		{"FLURRY.x", false},
		{"$KV.flurry_auth.>", false},
		{"$JS.API.>", false},
		{"$SYS.>", false},
		{"$anything", false},
		{"_INBOX.>", false},
		{"_inbox.x", false},
		{"_INBOX_controller.>", false},
		{"_inboxes", false},
		{"events.>", false},
		{"events.other.>", false},
		{"Events.x", false},
		{"a..b", false},
		{"", false},
	} {
		if got := names.GrantableSubject(tc.p); got != tc.want {
			t.Errorf("GrantableSubject(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestReservedStream(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"KV_flurry_actions", true},
		{"KV_flurry_auth", true},
		{"FLURRY_RECORDS", true},
		{"flurry_records", true},
		{"OBJ_flurry_code", true},
		{"$SYS", true},
		{"ORDERS", false},
		{"KVSTORE", false},
	} {
		if got := names.ReservedStream(tc.s); got != tc.want {
			t.Errorf("ReservedStream(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestPublishableSubject(t *testing.T) {
	for _, tc := range []struct {
		ns, s string
		want  bool
	}{
		{"guest", "events.guest.done", true},
		{"guest", "orders.done", true},
		{"guest", "events.other.x", false},
		{"guest", "events.guest", false},
		{"guest", "Events.other.x", false},
		{"guest", "flurry.activation.p1", false},
		{"guest", "$KV.flurry_auth.x", false},
		{"guest", "_INBOX.x", false},
		{"guest", "_INBOX_controller.x", false},
		{"guest", "events.guest.*", false},
		{"a.b", "events." + names.Token("a.b") + ".x", true},
		{"a.b", "events.a.b", false},
	} {
		if got := names.PublishableSubject(tc.ns, tc.s); got != tc.want {
			t.Errorf("PublishableSubject(%q, %q) = %v, want %v", tc.ns, tc.s, got, tc.want)
		}
	}
}

func BenchmarkSubjectContains(b *testing.B) {
	for b.Loop() {
		names.SubjectContains("events.guest.>", "events.guest.orders.new")
	}
}

// BenchmarkPublishableSubject is the invoker's check per destination message.
func BenchmarkPublishableSubject(b *testing.B) {
	for b.Loop() {
		names.PublishableSubject("guest", "events.guest.orders.done")
	}
}
