package stored

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// apiType begins the "type" member of every JetStream API response.
const apiType = "io.nats.jetstream.api."

// ErrJetStreamAnswer is a stored value that JetStream wrote as its answer
// to a client's request (an API response or a publish acknowledgement):
// something a client planted by naming the bucket as its reply subject,
// never a value Flurry wrote.
var ErrJetStreamAnswer = errors.New("stored value is a JetStream answer planted by a client, not a value Flurry wrote")

// Decode unmarshals the stored JSON value data into v, refusing a
// JetStream answer (ErrJetStreamAnswer).
func Decode(data []byte, v any) error {
	if mayBeAnswer(data) && isAnswer(data) {
		return ErrJetStreamAnswer
	}
	return json.Unmarshal(data, v)
}

// mayBeAnswer is Decode's cheap first look: every JetStream answer names
// one of these members (the server writes compact JSON), and most of
// Flurry's values name none, so only a few are decoded twice.
func mayBeAnswer(data []byte) bool {
	return bytes.Contains(data, []byte(`"type":"`+apiType)) ||
		bytes.Contains(data, []byte(`"stream":`)) ||
		bytes.Contains(data, []byte(`"error":`))
}

// isAnswer reports whether data is a JSON object with the top-level
// members of a JetStream answer: the "type" of an API response, or the
// "stream" and "seq" (or the "error") of a publish acknowledgement.
// Flurry's values have none of these at the top level.
func isAnswer(data []byte) bool {
	var probe struct {
		Type   string          `json:"type"`
		Stream string          `json:"stream"`
		Seq    *uint64         `json:"seq"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &probe) != nil {
		return false // not such an object: Decode's own unmarshal reports it
	}
	return strings.HasPrefix(probe.Type, apiType) || probe.Stream != "" && probe.Seq != nil || len(probe.Error) > 0
}
