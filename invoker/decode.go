package invoker

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"sync"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/jsonscan"
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
	if m, ok := c.decodePlain(data); ok {
		return m, nil
	}
	return c.decodeUnmarshal(data)
}

// decodeUnmarshal decodes with encoding/json, the action through the
// cache.
func (c *actionCache) decodeUnmarshal(data []byte) (activation.Message, error) {
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

// decodePlain decodes a message as controllers write it, without
// encoding/json's two passes over every byte: the action's bytes are only
// scanned and then found in the cache. It declines (false) whatever it is
// not sure to decode as encoding/json would, the caller's fallback: a key
// not spelled as Message's tags spell it (encoding/json also matches keys
// ignoring case), a string with an escape or other than ASCII, a null, a
// number that is not an integer. A message it declines may still be valid.
func (c *actionCache) decodePlain(data []byte) (m activation.Message, ok bool) {
	str := func(dst *string, v []byte) bool {
		s, ok := jsonscan.PlainString(v)
		*dst = s
		return ok
	}
	ok = jsonscan.Members(data, func(key, v []byte) bool {
		switch string(key) {
		case "activationId":
			return str(&m.ActivationID, v)
		case "namespace":
			return str(&m.Namespace, v)
		case "subject":
			return str(&m.Subject, v)
		case "cause":
			return str(&m.Cause, v)
		case "action":
			a, err := c.action(v)
			if err != nil || a == nil {
				return false
			}
			m.Action = *a
		case "params":
			m.Params = bytes.Clone(v) // as json.RawMessage's UnmarshalJSON copies
		case "blocking":
			switch string(v) {
			case "true":
				m.Blocking = true
			case "false":
				m.Blocking = false
			default:
				return false
			}
		case "admitted":
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return false
			}
			m.Admitted = n
		case "app":
			if string(v) == "null" {
				m.App = nil
				return true
			}
			if m.App == nil {
				m.App = new(activation.AppCall)
			}
			return json.Unmarshal(v, m.App) == nil
		default:
			return false
		}
		return true
	})
	return m, ok
}

// cachedAction decodes a message's action through the cache, looking it
// up by the message's own bytes (no copy unless it is new).
type cachedAction struct {
	c *actionCache
	a *entity.Action
}

func (ca *cachedAction) UnmarshalJSON(b []byte) error {
	a, err := ca.c.action(b)
	if err != nil {
		return err
	}
	if a != nil {
		ca.a = a
	}
	return nil
}

// action returns the action revision whose JSON is b, decoding it only
// when it is not in the cache; nil for null.
func (c *actionCache) action(b []byte) (*entity.Action, error) {
	if string(b) == "null" {
		return nil, nil
	}
	c.mu.Lock()
	a, ok := c.decoded[string(b)]
	c.mu.Unlock()
	if ok {
		return a, nil
	}
	a = new(entity.Action)
	if err := json.Unmarshal(b, a); err != nil {
		return nil, err
	}
	// Clipped, so that an append by a reader copies.
	a.Parameters, a.Annotations = slices.Clip(a.Parameters), slices.Clip(a.Annotations)
	c.mu.Lock()
	if c.decoded == nil || len(c.decoded) >= maxDecodedActions {
		c.decoded = make(map[string]*entity.Action)
	}
	c.decoded[string(b)] = a
	c.mu.Unlock()
	return a, nil
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
