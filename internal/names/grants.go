package names

import (
	"errors"
	"fmt"
	"strings"
)

// ErrReserved is returned by CheckGrantSubject and CheckGrantStream for a
// subject or stream an administrator may not grant to a namespace.
var ErrReserved = errors.New("reserved for Flurry, NATS or a namespace's own event space")

// maxGrantLen bounds a granted subject pattern or stream name.
const maxGrantLen = 255

// CheckGrantSubject accepts a NATS subject pattern an administrator may
// grant to a namespace's message triggers (entity.Namespace.EventSubjects):
// well formed (ValidSubject) and GrantableSubject. It is the error-giving
// form of GrantableSubject, for the admin API's messages; errors wrap
// ErrReserved or describe the form.
func CheckGrantSubject(pattern string) error {
	if len(pattern) > maxGrantLen || !ValidSubject(pattern, true) {
		return fmt.Errorf("subject %q is not a NATS subject pattern of at most %d bytes", pattern, maxGrantLen)
	}
	if !GrantableSubject(pattern) {
		return fmt.Errorf("subject %q: %w", pattern, ErrReserved)
	}
	return nil
}

// CheckGrantStream accepts a JetStream stream name an administrator may
// grant to a namespace's message triggers (entity.Namespace.EventStreams):
// a valid stream name that is not ReservedStream.
func CheckGrantStream(name string) error {
	if name == "" || len(name) > maxGrantLen || strings.ContainsAny(name, " \t\r\n.*>/\\") {
		return fmt.Errorf("stream name %q is empty, over %d bytes or has white space, '.', '*', '>' or a slash", name, maxGrantLen)
	}
	if ReservedStream(name) {
		return fmt.Errorf("stream %q: %w", name, ErrReserved)
	}
	return nil
}
