package names_test

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"testing"

	"github.com/flurryfn/flurry/internal/names"
)

// plainRE is the rule Plain implements.
var plainRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// fnvPartition is Partition as it was first written, with hash/fnv: the
// partitions of queued activations are stored, so the mapping must not
// change.
func fnvPartition(ns, name string) int {
	h := fnv.New32a()
	h.Write([]byte(ns))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return int(h.Sum32() % names.Partitions)
}

var nameSamples = []string{"", "a", "guest", "hello-world_2", "A-Z_09", "with space", "dot.ted", "ü", "tab\t",
	"=x", "-", "_", "x/y", "*", ">", "\x00", "\xff", "abc\n", "verylongname-with-many-characters_0123456789"}

func TestPlainMatchesItsRule(t *testing.T) {
	for _, s := range nameSamples {
		if got, want := names.Plain(s), plainRE.MatchString(s); got != want {
			t.Errorf("Plain(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzPlain(f *testing.F) {
	for _, s := range nameSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := names.Plain(s), plainRE.MatchString(s); got != want {
			t.Fatalf("Plain(%q) = %v, want %v", s, got, want)
		}
	})
}

func TestPartitionIsFNV1a(t *testing.T) {
	for _, ns := range nameSamples {
		for _, name := range nameSamples {
			if got, want := names.Partition(ns, name), fnvPartition(ns, name); got != want {
				t.Errorf("Partition(%q, %q) = %d, want %d", ns, name, got, want)
			}
		}
	}
	// Fixed points, so that a change of both functions shows too.
	if p := names.Partition("guest", "hello"); p != fnvPartition("guest", "hello") || p < 0 || p >= names.Partitions {
		t.Errorf("Partition(guest, hello) = %d", p)
	}
}

func TestSubjectsFollowTheirTemplates(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{names.RecordSubject("guest", "abc123"), fmt.Sprintf(names.RecordSubjectT, "guest", "abc123")},
		{names.RecordSubject("with space", "abc"), fmt.Sprintf(names.RecordSubjectT, names.Token("with space"), "abc")},
		{names.ResultSubject("ctl-1"), fmt.Sprintf(names.ResultSubjectT, "ctl-1")},
		{names.StartedSubject("abc123"), fmt.Sprintf(names.StartedSubjectT, "abc123")},
		{names.PartitionSubject(7), fmt.Sprintf(names.ActivationSubjectT, 7)},
		{names.ActivationSubject("guest", "hello"), fmt.Sprintf(names.ActivationSubjectT, fnvPartition("guest", "hello"))},
	} {
		if c.got != c.want {
			t.Errorf("subject %q, want %q", c.got, c.want)
		}
	}
}

func BenchmarkActivationSubject(b *testing.B) {
	for b.Loop() {
		_ = names.ActivationSubject("guest", "hello-world")
		_ = names.RecordSubject("guest", "0123456789abcdef0123456789abcdef")
	}
}
