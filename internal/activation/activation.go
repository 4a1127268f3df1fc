package activation

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
)

// Status codes of an activation's response, as OpenWhisk's.
const (
	StatusSuccess          = 0
	StatusApplicationError = 1
	StatusDeveloperError   = 2
	StatusInternalError    = 3
)

// StatusText returns OpenWhisk's name of a status code.
func StatusText(code int) string {
	switch code {
	case StatusSuccess:
		return "success"
	case StatusApplicationError:
		return "application error"
	case StatusDeveloperError:
		return "action developer error"
	default:
		return "whisk internal error"
	}
}

// NewID returns a fresh activation id: 32 lower-case hex digits, as OpenWhisk's.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// MaxIDBytes bounds an activation id a caller may name; ids Flurry makes
// have 32 characters.
const MaxIDBytes = 64

// ValidID reports whether s may be an activation id: 1 to MaxIDBytes of
// A-Z, a-z, 0-9, "_" and "-". Ids are subject tokens, so anything else is
// refused before it reaches NATS.
func ValidID(s string) bool { return len(s) <= MaxIDBytes && names.Plain(s) }

// Message is an admitted activation as published to the activations stream.
// Its Nats-Msg-Id header is ActivationID.
type Message struct {
	ActivationID string `json:"activationId"`
	Namespace    string `json:"namespace"`
	// Action is the action revision to run, with its code digest; the
	// invoker fetches the code from the code store.
	Action entity.Action `json:"action"`
	// Params are the invocation parameters merged over the action's defaults.
	Params json.RawMessage `json:"params"`
	// Subject is the identity (key uuid) that invoked.
	Subject string `json:"subject"`
	// Blocking is true when a caller waits; the result is also sent to the
	// subject in the Flurry-Reply header.
	Blocking bool `json:"blocking"`
	// Admitted is when the controller accepted the activation, Unix ms;
	// waitTime is measured from it.
	Admitted int64 `json:"admitted"`
	// Cause is the activation id that caused this one (sequences, triggers).
	Cause string `json:"cause,omitempty"`
	// App is set for the activations of a web app (ADR 010): Action is
	// the app's code revision.
	App *AppCall `json:"app,omitempty"`
}

// App operations.
const (
	// AppRegister loads the app and asks it for its route table.
	AppRegister = "register"
	// AppServe serves one HTTP request in a container specialized for
	// the endpoint.
	AppServe = "serve"
)

// AppCall says what an app activation does.
type AppCall struct {
	// Op is AppRegister or AppServe.
	Op string `json:"op"`
	// Endpoint is the endpoint that serves the request (AppServe).
	Endpoint string `json:"endpoint,omitempty"`
}

// Response is the response part of a Record.
type Response struct {
	// Status is StatusText(StatusCode).
	Status     string          `json:"status"`
	StatusCode int             `json:"statusCode"`
	Success    bool            `json:"success"`
	Result     json.RawMessage `json:"result,omitempty"`
}

// NewResponse builds a response with status code and result.
func NewResponse(code int, result json.RawMessage) Response {
	return Response{Status: StatusText(code), StatusCode: code, Success: code == StatusSuccess, Result: result}
}

// ErrorResult is the result object {"error": msg} of a failed activation.
func ErrorResult(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

// Record is an activation record with OpenWhisk's field names.
type Record struct {
	ActivationID string `json:"activationId"`
	Namespace    string `json:"namespace"`
	Name         string `json:"name"`
	Version      string `json:"version"`
	Subject      string `json:"subject"`
	// Start and End are Unix milliseconds.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// Duration is End-Start in milliseconds.
	Duration    int64             `json:"duration"`
	Response    Response          `json:"response"`
	Logs        []string          `json:"logs"`
	Annotations []entity.KeyValue `json:"annotations"`
	Publish     bool              `json:"publish"`
	Cause       string            `json:"cause,omitempty"`
}

// Annotation keys of a record.
const (
	AnnotationKind     = "kind"
	AnnotationPath     = "path"
	AnnotationLimits   = "limits"
	AnnotationWaitTime = "waitTime"
	AnnotationInitTime = "initTime"
	AnnotationCausedBy = "causedBy"
	AnnotationInvoker  = "invoker"
	// AnnotationStart says how the container was had: "warm", "prewarm" or "cold".
	AnnotationStart = "start"
	// AnnotationApp and AnnotationEndpoint name the web app and the
	// endpoint of an app activation (ADR 010).
	AnnotationApp      = "app"
	AnnotationEndpoint = "endpoint"
)

// Annotate appends annotation key = value (value marshalled to JSON).
func (r *Record) Annotate(key string, value any) {
	r.Annotations = append(r.Annotations, entity.KeyValue{Key: key, Value: annotationValue(value)})
}

// annotationValue is json.Marshal(value), with the integers and plain
// strings every record carries encoded directly (no reflection).
func annotationValue(value any) json.RawMessage {
	switch v := value.(type) {
	case int64:
		return strconv.AppendInt(nil, v, 10)
	case int:
		return strconv.AppendInt(nil, int64(v), 10)
	case string:
		return appendString(make([]byte, 0, len(v)+2), v)
	}
	b, err := json.Marshal(value)
	if err != nil {
		b, _ = json.Marshal(err.Error())
	}
	return b
}

// plainString reports whether json.Marshal would write s as it is between
// quotes: printable ASCII without the characters it escapes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// Annotation returns the raw value of annotation key, or nil.
func (r *Record) Annotation(key string) json.RawMessage {
	for _, a := range r.Annotations {
		if a.Key == key {
			return a.Value
		}
	}
	return nil
}

// EncodeMessage returns json.Marshal(m), given action, the JSON of
// m.Action as json.Marshal writes it. An activation message carries its
// whole action, and encoding it was most of json.Marshal's work per
// invoke; the controller keeps action's JSON per action revision.
func EncodeMessage(m *Message, action []byte) ([]byte, error) {
	params, err := json.Marshal(m.Params) // compacted, as json.Marshal does
	if err != nil {
		return nil, err
	}
	// The members' names and the numbers take under 192 bytes.
	b := make([]byte, 0, 192+len(m.ActivationID)+len(m.Namespace)+len(action)+len(params)+len(m.Subject)+len(m.Cause))
	b = appendString(append(b, `{"activationId":`...), m.ActivationID)
	b = appendString(append(b, `,"namespace":`...), m.Namespace)
	b = append(append(b, `,"action":`...), action...)
	b = append(append(b, `,"params":`...), params...)
	b = appendString(append(b, `,"subject":`...), m.Subject)
	b = strconv.AppendBool(append(b, `,"blocking":`...), m.Blocking)
	b = strconv.AppendInt(append(b, `,"admitted":`...), m.Admitted, 10)
	if m.Cause != "" {
		b = appendString(append(b, `,"cause":`...), m.Cause)
	}
	if m.App != nil {
		app, err := json.Marshal(m.App)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"app":`...), app...)
	}
	return append(b, '}'), nil
}

// appendString appends s as json.Marshal writes it.
func appendString(b []byte, s string) []byte {
	if plainString(s) {
		return append(append(append(b, '"'), s...), '"')
	}
	q, _ := json.Marshal(s)
	return append(b, q...)
}
