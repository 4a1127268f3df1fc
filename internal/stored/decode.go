package stored

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// apiType begins the "type" member of every JetStream API response.
const apiType = "io.nats.jetstream.api."

// ErrAPIResponse is a stored value that is a JetStream API response:
// something a client had JetStream write as the answer to its request,
// never a value Flurry wrote.
var ErrAPIResponse = errors.New("stored value is a JetStream API response planted by a client, not a value Flurry wrote")

// Decode unmarshals the stored JSON value data into v, refusing a
// JetStream API response (ErrAPIResponse).
func Decode(data []byte, v any) error {
	// Flurry's values may mention the marker (a tenant's parameters can
	// say anything), so only a value that does is decoded twice.
	if bytes.Contains(data, []byte(apiType)) && isAPIResponse(data) {
		return ErrAPIResponse
	}
	return json.Unmarshal(data, v)
}

// isAPIResponse reports whether data is a JSON object whose top-level
// "type" is a JetStream API response type.
func isAPIResponse(data []byte) bool {
	var probe struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(data, &probe) != nil {
		return false // not an object with a string type: Decode's own unmarshal reports it
	}
	return strings.HasPrefix(probe.Type, apiType)
}
