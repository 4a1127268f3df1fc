package entity

// Trigger is a named event source (OpenWhisk's trigger). Rules bind it to
// actions; firing it starts one activation per active rule. A trigger with
// a Source is also fired by the platform (timers, NATS messages).
type Trigger struct {
	Namespace   string     `json:"namespace"`
	Name        string     `json:"name"`
	Version     string     `json:"version"`
	Revision    uint64     `json:"revision"`
	Parameters  []KeyValue `json:"parameters"`
	Annotations []KeyValue `json:"annotations"`
	// Source is what fires the trigger besides the API (nil: API only).
	Source  *TriggerSource `json:"source,omitempty"`
	Updated int64          `json:"updated"`
	// SourceError says why the platform does not run Source (a message
	// source outside the namespace's event space, ADR 020). It is set on
	// reads, never stored.
	SourceError string `json:"sourceError,omitempty"`
}

// TriggerSource is exactly one of its fields.
type TriggerSource struct {
	Cron     *CronSource     `json:"cron,omitempty"`
	Interval *IntervalSource `json:"interval,omitempty"`
	NATS     *NATSSource     `json:"nats,omitempty"`
}

// Missed-tick policies of timer sources: what happens to ticks that fell
// while no controller was running.
const (
	MissedSkip     = "skip"      // forget them (default)
	MissedFireOnce = "fire-once" // fire once for all of them at start
)

// CronSource fires on a cron schedule with seconds
// ("sec min hour dom month dow"), in TimeZone (IANA name, default UTC).
type CronSource struct {
	Expression string `json:"expression"`
	TimeZone   string `json:"timeZone,omitempty"`
	Missed     string `json:"missed,omitempty"`
}

// IntervalSource fires every Every milliseconds.
type IntervalSource struct {
	Every  int64  `json:"every"`
	Missed string `json:"missed,omitempty"`
}

// NATSSource fires on messages: a core NATS Subject (consumed in a queue
// group, so each message fires once across controllers) or, when Stream
// is set, a JetStream stream through a durable consumer (a message is
// acked only after its activations finished or it was dead-lettered).
type NATSSource struct {
	Subject string `json:"subject"`
	// Stream names an existing JetStream stream to consume (optional).
	Stream string `json:"stream,omitempty"`
	// BatchSize > 1 delivers up to that many messages in one activation,
	// waiting at most BatchWindow ms for the batch to fill.
	BatchSize   int   `json:"batchSize,omitempty"`
	BatchWindow int64 `json:"batchWindow,omitempty"`
	// ResponseSubject receives each activation's result, with the
	// message's headers copied for correlation; ErrorSubject receives
	// failures.
	ResponseSubject string `json:"responseSubject,omitempty"`
	ErrorSubject    string `json:"errorSubject,omitempty"`
	// Retry bounds re-tries of a failed message (exponential backoff with
	// jitter) before it goes to the dead-letter stream.
	Retry *RetryPolicy `json:"retry,omitempty"`
}

// Rule statuses.
const (
	RuleActive   = "active"
	RuleInactive = "inactive"
)

// Rule binds a trigger to an action in the same namespace.
type Rule struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	Revision  uint64 `json:"revision"`
	Trigger   string `json:"trigger"`
	Action    string `json:"action"`
	Status    string `json:"status"`
	Updated   int64  `json:"updated"`
}

// Route maps an HTTP method and path (with {param} segments, or a
// trailing "/*" prefix match) to an action.
type Route struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Methods   []string `json:"methods"`
	Path      string   `json:"path"`
	Action    string   `json:"action"`
	// Public routes need no key; others require Basic auth of the
	// route's namespace.
	Public   bool   `json:"public"`
	Revision uint64 `json:"revision"`
	Updated  int64  `json:"updated"`
}
