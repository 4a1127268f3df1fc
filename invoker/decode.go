package invoker

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

// maxDecodedActions bounds the decoded action revisions an invoker keeps;
// past it the cache starts over.
const maxDecodedActions = 4096

// actionCache decodes activation messages, each action revision once:
// every message carries its whole action (ADR 001), and decoding it was
// most of a message's decoding. Revisions are keyed by their JSON, so a
// changed action is a new entry whatever its revision number says.
type actionCache struct {
	mu      sync.Mutex
	decoded map[string]*entity.Action
}

// decode decodes an activation message. Its Action shares slices with
// other messages of the same revision: the invoker only reads it.
func (c *actionCache) decode(data []byte) (activation.Message, error) {
	var w struct {
		activation.Message
		// Shadows Message.Action: the shallower field gets "action".
		Action cachedAction `json:"action"`
	}
	w.Action.c = c
	if err := json.Unmarshal(data, &w); err != nil {
		return activation.Message{}, err
	}
	m := w.Message
	if w.Action.a != nil {
		m.Action = *w.Action.a
	}
	return m, nil
}

// cachedAction decodes a message's action through the cache, looking it
// up by the message's own bytes (no copy unless it is new).
type cachedAction struct {
	c *actionCache
	a *entity.Action
}

func (ca *cachedAction) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	c := ca.c
	c.mu.Lock()
	a, ok := c.decoded[string(b)]
	c.mu.Unlock()
	if !ok {
		a = new(entity.Action)
		if err := json.Unmarshal(b, a); err != nil {
			return err
		}
		// Clipped, so that an append by a reader copies.
		a.Parameters, a.Annotations = slices.Clip(a.Parameters), slices.Clip(a.Annotations)
		c.mu.Lock()
		if c.decoded == nil || len(c.decoded) >= maxDecodedActions {
			c.decoded = make(map[string]*entity.Action)
		}
		c.decoded[string(b)] = a
		c.mu.Unlock()
	}
	ca.a = a
	return nil
}

// objectError reports whether b is a JSON object and returns its "error"
// member, nil when it has none. It decodes b only when "error" can be one
// of its keys: the text "error" in quotes, or an escape that could spell
// it, appears in it.
func objectError(b []byte) (json.RawMessage, bool) {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return nil, false
	}
	if !bytes.Contains(b, []byte(`"error"`)) && !bytes.Contains(b, []byte(`\u`)) {
		return nil, true
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, false
	}
	return obj["error"], true
}
