package entity

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Runtime kinds the platform knows.
const (
	KindGo       = "go"
	KindBlackbox = "blackbox"
	KindSequence = "sequence"
)

// Limit defaults and bounds, as OpenWhisk's.
const (
	DefaultTimeout     = 60 * time.Second
	MinTimeout         = 100 * time.Millisecond
	MaxTimeout         = 5 * time.Minute
	DefaultMemoryMB    = 256
	MinMemoryMB        = 64
	MaxMemoryMB        = 2048
	DefaultConcurrency = 1
	MaxConcurrency     = 500
	// MaxCodeBytes bounds the decoded code of an action.
	MaxCodeBytes = 48 << 20
	// MaxPayloadBytes bounds an invocation's parameters and an action's result.
	MaxPayloadBytes = 1 << 20
)

// ErrInvalid is wrapped by every validation error in this package.
var ErrInvalid = errors.New("invalid entity")

// ValidName reports whether s may name a namespace or an action. It is
// OpenWhisk's entity name rule without spaces:
// [A-Za-z0-9_][A-Za-z0-9_@.-]{0,255}. It is checked on every invoke, so
// it is a loop rather than a regular expression (1 % of the CPU).
func ValidName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' ||
			i > 0 && (c == '@' || c == '.' || c == '-')
		if !ok {
			return false
		}
	}
	return true
}

// KeyValue is OpenWhisk's {key, value} pair, used for parameters and annotations.
type KeyValue struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// ValidateParameters checks that default parameters (of an action or a
// trigger) fit an activation: they are merged into every activation's
// parameters, which may be at most MaxPayloadBytes. Errors wrap ErrInvalid.
func ValidateParameters(kvs []KeyValue) error {
	n := 2 // the object's braces
	for _, kv := range kvs {
		n += len(kv.Key) + len(kv.Value) + 4 // quotes, colon, comma
	}
	if n > MaxPayloadBytes {
		return fmt.Errorf("%w: parameters of %d bytes exceed %d bytes", ErrInvalid, n, MaxPayloadBytes)
	}
	return nil
}

// Limits bound one activation of an action.
type Limits struct {
	// Timeout in milliseconds.
	Timeout int64 `json:"timeout"`
	// Memory in MiB.
	Memory int64 `json:"memory"`
	// Concurrency is the number of activations one container runs at once.
	Concurrency int64 `json:"concurrency"`
	// Logs is the log limit in MiB (OpenWhisk field; informational).
	Logs int64 `json:"logs"`
}

// WithDefaults fills zero fields with the defaults.
func (l Limits) WithDefaults() Limits {
	if l.Timeout == 0 {
		l.Timeout = DefaultTimeout.Milliseconds()
	}
	if l.Memory == 0 {
		l.Memory = DefaultMemoryMB
	}
	if l.Concurrency == 0 {
		l.Concurrency = DefaultConcurrency
	}
	if l.Logs == 0 {
		l.Logs = 10
	}
	return l
}

// Validate checks the limits against the platform bounds.
func (l Limits) Validate() error {
	switch {
	case l.Timeout < MinTimeout.Milliseconds() || l.Timeout > MaxTimeout.Milliseconds():
		return fmt.Errorf("%w: timeout %d ms is outside [%d, %d]", ErrInvalid, l.Timeout, MinTimeout.Milliseconds(), MaxTimeout.Milliseconds())
	case l.Memory < MinMemoryMB || l.Memory > MaxMemoryMB:
		return fmt.Errorf("%w: memory %d MB is outside [%d, %d]", ErrInvalid, l.Memory, MinMemoryMB, MaxMemoryMB)
	case l.Concurrency < 1 || l.Concurrency > MaxConcurrency:
		return fmt.Errorf("%w: concurrency %d is outside [1, %d]", ErrInvalid, l.Concurrency, MaxConcurrency)
	}
	return nil
}

// Exec says how an action runs.
type Exec struct {
	Kind string `json:"kind"`
	// Main is the entry point name passed to /init (default "main").
	Main string `json:"main,omitempty"`
	// Binary is true when the code is base64 of a binary or zip.
	Binary bool `json:"binary"`
	// Image is the container image of a blackbox action.
	Image string `json:"image,omitempty"`
	// CodeDigest is the hex sha256 of the code as sent to /init (the
	// base64 text when Binary); the code lives in the code object store.
	CodeDigest string `json:"codeDigest,omitempty"`
	// CodeSize is the size in bytes of that code.
	CodeSize int64 `json:"codeSize,omitempty"`
	// Components are the actions a sequence runs in order, as OpenWhisk
	// names them ("/ns/name", or a plain name in the sequence's namespace);
	// only for kind KindSequence.
	Components []string `json:"components,omitempty"`
}

// RetryPolicy says how often an activation is tried again: asynchronous
// (non-blocking) activations that fail, and activations whose invoker was
// lost after /run began. The zero value means one attempt, no retries.
type RetryPolicy struct {
	// MaxAttempts counts every attempt, the first included; 0 or 1 means
	// no retry.
	MaxAttempts int `json:"maxAttempts,omitempty"`
	// InitialBackoff is the delay before the first retry in ms; it doubles
	// per retry up to MaxBackoff, with full jitter.
	InitialBackoff int64 `json:"initialBackoff,omitempty"`
	MaxBackoff     int64 `json:"maxBackoff,omitempty"`
	// MaxEventAge drops retries of an event older than this many ms since
	// admission (0: no limit).
	MaxEventAge int64 `json:"maxEventAge,omitempty"`
}

// Retries reports whether the policy allows more than one attempt.
func (p *RetryPolicy) Retries() bool { return p != nil && p.MaxAttempts > 1 }

// Destinations are NATS subjects that receive an asynchronous activation's
// record when it finally succeeds or fails (after its retries).
type Destinations struct {
	OnSuccess string `json:"onSuccess,omitempty"`
	OnFailure string `json:"onFailure,omitempty"`
}

// Action is one revision of an action. Every update makes a new revision;
// a revision is never changed after it is stored.
type Action struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Version is OpenWhisk's semantic version, 0.0.N for the N-th revision.
	Version string `json:"version"`
	// Revision is the entity store's revision of this version; warm
	// containers are keyed by it.
	Revision    uint64     `json:"revision"`
	Exec        Exec       `json:"exec"`
	Parameters  []KeyValue `json:"parameters"`
	Limits      Limits     `json:"limits"`
	Annotations []KeyValue `json:"annotations"`
	Publish     bool       `json:"publish"`
	// Retry is the action's retry policy (nil: no retries).
	Retry *RetryPolicy `json:"retry,omitempty"`
	// Destinations receive records of finished asynchronous activations.
	Destinations *Destinations `json:"destinations,omitempty"`
	// Updated is the time of this revision in Unix milliseconds.
	Updated int64 `json:"updated"`
}

// Key identifies a warm container's action revision.
func (a *Action) Key() string {
	return a.Namespace + "/" + a.Name + "@" + strconv.FormatUint(a.Revision, 10)
}
