package activation

// Reasons an asynchronous activation is dead-lettered.
const (
	// ReasonRetriesExhausted: the last allowed attempt failed.
	ReasonRetriesExhausted = "retries exhausted"
	// ReasonMaxEventAge: an attempt failed when the event was older than
	// the action's RetryPolicy.MaxEventAge.
	ReasonMaxEventAge = "max event age exceeded"
)

// Record annotation keys of asynchronous activations.
const (
	// AnnotationAttempts is how many times the activation was delivered
	// to an invoker, this final one included.
	AnnotationAttempts = "attempts"
	// AnnotationDeadLetter is the reason the activation was dead-lettered.
	AnnotationDeadLetter = "deadLetter"
)

// DeadLetter is an entry of the dead-letter stream: an asynchronous
// activation that failed after its last attempt. It is published on
// names.DeadLetterSubject(namespace, activation id) with Nats-Msg-Id = the
// activation id.
type DeadLetter struct {
	ActivationID string `json:"activationId"`
	Namespace    string `json:"namespace"`
	// Name is the action's name.
	Name string `json:"name"`
	// Reason is ReasonRetriesExhausted or ReasonMaxEventAge.
	Reason string `json:"reason"`
	// Attempts is the number of deliveries, the last one included.
	Attempts int `json:"attempts"`
	// Time is when the activation was dead-lettered, Unix ms.
	Time int64 `json:"time"`
	// Message is the activation as it was admitted (params included), so
	// it can be re-driven.
	Message Message `json:"message"`
	// Record is the activation's final record.
	Record Record `json:"record"`
}
