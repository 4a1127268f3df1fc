package launch

import (
	"bytes"
	"encoding/json"
)

// decodeActivation decodes an activation message into msg, as
// json.Unmarshal into a new activation would. The invoker writes its
// members in one order, with plain strings and the value last
// (invoker/container's Client.Run); such a message is read member by
// member in that order and only its value goes through encoding/json. Any
// other message (the proxy's, or one written otherwise) is decoded by
// json.Unmarshal as a whole, whose answer or error stands. encoding/json
// walked the whole message twice, in a process that has just woken up.
func decodeActivation(data []byte, msg *activation) error {
	if decodePlain(data, msg) {
		return nil
	}
	*msg = activation{}
	return json.Unmarshal(data, msg)
}

// decodePlain decodes a message of the invoker's form:
// {"namespace":S,"action_name":S,"action_version":S,"activation_id":S,
// "deadline":S[,"api_key":S],"value":V} with each S a plain string. It
// reports false for any other text, or when V is not what encoding/json
// would decode into the value's map.
func decodePlain(data []byte, msg *activation) bool {
	rest, ok := bytes.CutPrefix(data, []byte("{"))
	// str cuts member key, a plain string, and its comma, and returns the
	// string as written, quotes included.
	str := func(key string) (raw []byte) {
		if !ok {
			return nil
		}
		if rest, ok = bytes.CutPrefix(rest, []byte(key)); ok {
			raw, rest, ok = plainString(rest)
		}
		if ok {
			rest, ok = bytes.CutPrefix(rest, []byte(","))
		}
		return raw
	}
	text := func(raw []byte) string {
		if len(raw) < 2 {
			return ""
		}
		return string(raw[1 : len(raw)-1])
	}
	msg.Namespace = text(str(`"namespace":`))
	msg.ActionName = text(str(`"action_name":`))
	msg.ActionVersion = text(str(`"action_version":`))
	msg.ActivationID = text(str(`"activation_id":`))
	msg.Deadline = bytes.Clone(str(`"deadline":`))
	msg.APIKey = nil
	if ok && bytes.HasPrefix(rest, []byte(`"api_key":`)) {
		k := text(str(`"api_key":`))
		msg.APIKey = &k
	}
	if !ok {
		return false
	}
	value, ok := bytes.CutPrefix(rest, []byte(`"value":`))
	if !ok || !bytes.HasSuffix(value, []byte("}")) {
		return false
	}
	value = value[:len(value)-1]
	msg.Value = nil
	if string(value) == "{}" {
		msg.Value = map[string]interface{}{}
		return true
	}
	return json.Unmarshal(value, &msg.Value) == nil
}

// plainString cuts a JSON string of printable ASCII without escapes from
// the front of b and returns it, quotes included, and what follows it.
func plainString(b []byte) (raw, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, b, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return b[:i+1], b[i+1:], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, b, false
		}
	}
	return nil, b, false
}
