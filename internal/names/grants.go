package names

import (
	"errors"
	"fmt"
	"strings"
)

// ErrReserved is returned by CheckGrantSubject and CheckGrantStream for a
// subject or stream an administrator may not grant to a namespace.
var ErrReserved = errors.New("reserved for Flurry or NATS")

// ReservedStreamPrefixes are stream name prefixes that are Flurry's own
// (FLURRY_*) or back NATS key-value buckets (KV_*) and object stores (OBJ_*).
var ReservedStreamPrefixes = []string{"FLURRY_", "KV_", "OBJ_"}

// maxGrantLen bounds a granted subject pattern or stream name.
const maxGrantLen = 255

// CheckGrantSubject accepts a NATS subject pattern an administrator may
// grant to a namespace's message triggers (entity.Namespace.EventSubjects):
// well formed, and neither Flurry's nor NATS's internal space. Refused are
// "$"-prefixed subjects (JetStream API, KV, system), "_INBOX.", "flurry.",
// and a pattern whose first token is a wildcard, since "*.x" or ">"
// reaches those spaces too. Errors wrap ErrReserved or describe the form.
func CheckGrantSubject(pattern string) error {
	if pattern == "" || len(pattern) > maxGrantLen || strings.ContainsAny(pattern, " \t\r\n") {
		return fmt.Errorf("subject %q is empty, over %d bytes or has white space", pattern, maxGrantLen)
	}
	toks := strings.Split(pattern, ".")
	for i, tok := range toks {
		switch {
		case tok == "":
			return fmt.Errorf("subject %q has an empty token", pattern)
		case tok == ">" && i != len(toks)-1:
			return fmt.Errorf("subject %q has '>' before its last token", pattern)
		case tok != "*" && tok != ">" && strings.ContainsAny(tok, "*>"):
			return fmt.Errorf("subject %q has a wildcard inside a token", pattern)
		}
	}
	if toks[0] == "*" || toks[0] == ">" {
		return fmt.Errorf("subject %q starts with a wildcard: %w", pattern, ErrReserved)
	}
	if strings.HasPrefix(pattern, "$") {
		return fmt.Errorf("subject %q: %w", pattern, ErrReserved)
	}
	for _, p := range ReservedSubjectPrefixes {
		if len(pattern) >= len(p) && strings.EqualFold(pattern[:len(p)], p) {
			return fmt.Errorf("subject %q is under %q: %w", pattern, p, ErrReserved)
		}
	}
	// "flurry" alone or "flurry.>" is Flurry's space without the dot.
	if strings.EqualFold(toks[0], "flurry") || strings.EqualFold(toks[0], "_INBOX") {
		return fmt.Errorf("subject %q is under %q: %w", pattern, toks[0], ErrReserved)
	}
	return nil
}

// CheckGrantStream accepts a JetStream stream name an administrator may
// grant to a namespace's message triggers (entity.Namespace.EventStreams):
// a valid stream name that is not one of ReservedStreamPrefixes.
func CheckGrantStream(name string) error {
	if name == "" || len(name) > maxGrantLen || strings.ContainsAny(name, " \t\r\n.*>/\\") {
		return fmt.Errorf("stream name %q is empty, over %d bytes or has white space, '.', '*', '>' or a slash", name, maxGrantLen)
	}
	if strings.HasPrefix(name, "$") {
		return fmt.Errorf("stream %q: %w", name, ErrReserved)
	}
	for _, p := range ReservedStreamPrefixes {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return fmt.Errorf("stream %q is under %q: %w", name, p, ErrReserved)
		}
	}
	return nil
}
