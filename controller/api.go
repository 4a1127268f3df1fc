package controller

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

// Errors of the controller API. They carry no transport status: the
// gateway maps them to HTTP and gRPC codes in one place.
var (
	ErrUnauthenticated = errors.New("the supplied authentication is invalid")
	ErrForbidden       = errors.New("the supplied authentication is not authorized to access this resource")
	ErrNotFound        = errors.New("the requested resource does not exist")
	ErrExists          = errors.New("resource already exists")
	ErrConflict        = errors.New("the entity was changed concurrently (stale revision)")
	ErrInvalid         = errors.New("invalid request")
	ErrTooLarge        = errors.New("request entity too large")
	ErrThrottled       = errors.New("too many requests")
	ErrUnavailable     = errors.New("service unavailable")
	// ErrKeyReused: an Idempotency-Key came again with another action or
	// other parameters (ADR 025).
	ErrKeyReused = errors.New("the idempotency key was used with a different request")
	// ErrKeyUnresolved: an Idempotency-Key's first request may or may not
	// have queued its activation, and too long ago to queue it again
	// without risking a second run (ADR 025).
	ErrKeyUnresolved = errors.New("the idempotency key's first request is in an unknown state")
)

// Identity is an authenticated caller.
type Identity struct {
	// UUID is the key's uuid (the record's subject).
	UUID      string `json:"uuid"`
	Namespace string `json:"namespace"`
	// Admin marks the admin credential (ADR 022), which opens no
	// namespace: only the administration operations accept it.
	Admin bool `json:"admin,omitempty"`
}

// PutActionRequest creates or updates an action.
type PutActionRequest struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Overwrite allows replacing an existing action (?overwrite=true).
	Overwrite bool        `json:"overwrite"`
	Exec      entity.Exec `json:"exec"`
	// Code is the action's code as /init receives it (base64 text when
	// Exec.Binary). Either Code or Exec.CodeDigest of code already in the
	// code store is set; on update both may be empty to keep the code.
	Code        []byte            `json:"code,omitempty"`
	Parameters  []entity.KeyValue `json:"parameters"`
	Limits      entity.Limits     `json:"limits"`
	Annotations []entity.KeyValue `json:"annotations"`
	Publish     bool              `json:"publish"`
	// Retry and Destinations are Flurry extensions of OpenWhisk's action
	// (nil on update keeps the current ones).
	Retry        *entity.RetryPolicy  `json:"retry,omitempty"`
	Destinations *entity.Destinations `json:"destinations,omitempty"`
}

// InvokeRequest starts an activation.
type InvokeRequest struct {
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	Params    json.RawMessage `json:"params"`
	Blocking  bool            `json:"blocking"`
	// Wait bounds a blocking wait; 0 means DefaultWait.
	Wait time.Duration `json:"wait"`
	// Cause is the activation that caused this one, if any.
	Cause string `json:"cause,omitempty"`
	// IdempotencyKey, when set, makes a repeated invoke with the same key
	// in the namespace answer with the first activation (ADR 025).
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// activationID, when set by the controller itself (triggers,
	// sequences), is the id to use instead of a new one.
	activationID string
	// idem is the claim on IdempotencyKey, marked once enqueued.
	idem *idemClaim
}

// DefaultWait is how long a blocking invoke waits before answering 202.
const DefaultWait = 60 * time.Second

// InvokeResult is the answer to an invoke. Record is nil when the caller
// did not block or the activation did not finish within the wait.
type InvokeResult struct {
	ActivationID string             `json:"activationId"`
	Record       *activation.Record `json:"record,omitempty"`
}

// ListActivationsRequest filters a namespace's activation records, newest first.
type ListActivationsRequest struct {
	Namespace string `json:"namespace"`
	// Name keeps only records of this action.
	Name  string `json:"name,omitempty"`
	Skip  int    `json:"skip"`
	Limit int    `json:"limit"`
	// Since and Upto bound the start time, Unix ms (0: unbounded).
	Since int64 `json:"since,omitempty"`
	Upto  int64 `json:"upto,omitempty"`
}

// Listing bounds, as OpenWhisk's.
const (
	DefaultListLimit = 30
	MaxListLimit     = 200
)

// PutTriggerRequest creates or updates a trigger.
type PutTriggerRequest struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Overwrite allows replacing an existing trigger (?overwrite=true).
	Overwrite bool `json:"overwrite"`
	// Parameters are the trigger's defaults, under each firing's payload.
	// On update nil keeps them, as do nil Annotations and a nil Source.
	Parameters  []entity.KeyValue `json:"parameters"`
	Annotations []entity.KeyValue `json:"annotations"`
	// Source makes the platform fire the trigger (timer or NATS messages);
	// a zero TriggerSource on update removes it.
	Source *entity.TriggerSource `json:"source,omitempty"`
}

// PutRuleRequest creates or updates a rule. Trigger and Action take
// OpenWhisk's names: "/ns/name", "ns/name" or a plain name in the rule's
// namespace ("_" is the caller's).
type PutRuleRequest struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Overwrite bool   `json:"overwrite"`
	Trigger   string `json:"trigger"`
	Action    string `json:"action"`
	// Status is entity.RuleActive (default for a new rule) or
	// entity.RuleInactive; empty on update keeps the current one.
	Status string `json:"status,omitempty"`
}

// FireResult is the answer to firing a trigger. ActivationID is the
// trigger activation's id, empty when no rule was active (nothing ran,
// nothing was recorded: OpenWhisk's 204). Rules lists what each active
// rule started.
type FireResult struct {
	ActivationID string      `json:"activationId,omitempty"`
	Rules        []RuleFired `json:"rules,omitempty"`
}

// RuleFired is one active rule's outcome of a firing, as OpenWhisk logs it
// in the trigger activation's record (one JSON object per log line).
type RuleFired struct {
	StatusCode   int    `json:"statusCode"`
	Success      bool   `json:"success"`
	ActivationID string `json:"activationId,omitempty"`
	Rule         string `json:"rule"`
	Action       string `json:"action"`
	Error        string `json:"error,omitempty"`
}

// MaxTimeMs is the latest time a caller may name (since, upto): the end
// of year 9999 in Unix ms. Later values overflow time arithmetic.
const MaxTimeMs = 253402300799999
