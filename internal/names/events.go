package names

import "strings"

// Tenant event subjects (ADR 020). Each namespace owns one subject space
// for its message triggers, responses and destinations; an administrator
// may grant it more (entity.Namespace.EventSubjects), never Flurry's own
// subjects, NATS's ($JS, $KV, $O, $SYS, _INBOX) or another tenant's space.
const (
	// EventSubjects is the wildcard of every namespace's event space.
	EventSubjects = "events.>"
	// EventNamespaceSubjectT is one namespace's event space; %s is the
	// namespace token, so namespaces holding '.' stay one token.
	EventNamespaceSubjectT = "events.%s.>"
	// eventRoot is the first token of every event space.
	eventRoot = "events"
)

// EventNamespaceSubject is namespace ns's event subject space.
func EventNamespaceSubject(ns string) string { return eventRoot + "." + Token(ns) + ".>" }

// ValidSubject reports whether s is a well-formed NATS subject, or with
// wildcards a subscription pattern: non-empty tokens without white space,
// '*' and '>' only as whole tokens, '>' only last.
func ValidSubject(s string, wildcards bool) bool {
	if s == "" {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			switch s[i] {
			case ' ', '\t', '\r', '\n', 0:
				return false
			}
			continue
		}
		switch t := s[start:i]; {
		case t == "":
			return false
		case t == "*" || t == ">":
			if !wildcards || t == ">" && i != len(s) {
				return false
			}
		case strings.ContainsAny(t, "*>"):
			return false
		}
		start = i + 1
	}
	return true
}

// SubjectContains reports whether every subject pattern p matches is also
// matched by pattern a, both valid patterns (ValidSubject with
// wildcards). A literal p asks whether a matches it. Only '>' contains
// '>'; '*' contains any one token but not '>'.
func SubjectContains(a, p string) bool {
	for {
		at, arest, amore := strings.Cut(a, ".")
		pt, prest, pmore := strings.Cut(p, ".")
		switch {
		case at == ">":
			return true // p has a token here, and '>' takes it and all after
		case pt == ">":
			return false // p matches subjects of any length from here, a does not
		case at != "*" && (pt == "*" || at != pt):
			return false
		}
		if amore != pmore {
			return false // one ends here, the other needs more tokens
		}
		if !amore {
			return true
		}
		a, p = arest, prest
	}
}

// ReservedSubject reports whether pattern p reaches a subject only the
// platform may use: one of Flurry's ("flurry."), NATS's ("$JS.", "$KV.",
// "$O.", "$SYS.", any "$" prefix) or a reply inbox (a first token
// starting with "_INBOX", which covers per-role inbox prefixes too), or
// one whose first token is a wildcard, which reaches all of them.
// Reserved words are compared without case, to be safe.
func ReservedSubject(p string) bool {
	const inbox = "_INBOX"
	first, _, _ := strings.Cut(p, ".")
	return first == "*" || first == ">" || strings.HasPrefix(first, "$") || strings.EqualFold(first, "flurry") ||
		len(first) >= len(inbox) && strings.EqualFold(first[:len(inbox)], inbox)
}

// GrantableSubject reports whether an administrator may grant pattern p
// to a namespace: a valid pattern that is not reserved (ReservedSubject)
// and not under EventSubjects, whose spaces are their namespaces' alone.
// Its first token being a literal keeps it apart from all of them.
func GrantableSubject(p string) bool {
	first, _, _ := strings.Cut(p, ".")
	return ValidSubject(p, true) && !ReservedSubject(p) && !strings.EqualFold(first, eventRoot)
}

// reservedStreamPrefixes are the stream name prefixes of Flurry's streams
// and of JetStream's KV buckets and object stores.
var reservedStreamPrefixes = []string{"FLURRY_", "KV_", "OBJ_"}

// ReservedStream reports whether stream is one a tenant may never
// consume, granted or not: Flurry's own, a KV bucket's or object store's
// (compared without case), or one named like NATS's ("$").
func ReservedStream(stream string) bool {
	if strings.HasPrefix(stream, "$") {
		return true
	}
	for _, p := range reservedStreamPrefixes {
		if len(stream) >= len(p) && strings.EqualFold(stream[:len(p)], p) {
			return true
		}
	}
	return false
}

// PublishableSubject reports whether Flurry may publish to literal subject
// s on behalf of namespace ns whatever its grants: s is valid, not
// reserved, and not in another namespace's event space. Grants are
// checked where entities are made; this is the last line for entries
// stored before that check.
func PublishableSubject(ns, s string) bool {
	first, _, _ := strings.Cut(s, ".")
	if !ValidSubject(s, false) || ReservedSubject(s) {
		return false
	}
	return !strings.EqualFold(first, eventRoot) || SubjectContains(EventNamespaceSubject(ns), s)
}
