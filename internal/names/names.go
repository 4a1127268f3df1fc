package names

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"regexp"
)

// JetStream streams, KV buckets, object stores and consumers. Every name
// Flurry gives a NATS thing is here, the wildcard beside its template.
const (
	// ActivationsStream is the work queue of admitted activations.
	ActivationsStream = "FLURRY_ACTIVATIONS"
	// ActivationSubjects is the wildcard the activations stream captures.
	ActivationSubjects = "flurry.activation.>"
	// ActivationSubjectT is one partition's subject; %d is the partition
	// (see Partition).
	ActivationSubjectT = "flurry.activation.p%d"
	// InvokerConsumer is the durable pull consumer shared by invokers.
	InvokerConsumer = "invokers"

	// RecordsStream holds activation records (age and size limited).
	RecordsStream = "FLURRY_RECORDS"
	// RecordSubjects is the wildcard the records stream captures.
	RecordSubjects = "flurry.record.>"
	// RecordSubjectT is one record's subject: namespace token, activation id.
	RecordSubjectT = "flurry.record.%s.%s"
	// RecordNamespaceSubjectT selects every record of one namespace token.
	RecordNamespaceSubjectT = "flurry.record.%s.>"

	// ResultSubjectT is where an invoker sends a finished activation's
	// record to the controller instance that waits for it; %s is that
	// controller's instance id. Core NATS, not JetStream.
	ResultSubjectT = "flurry.result.%s"

	// ActionsBucket is the KV bucket of actions; key ActionKey(ns, name).
	ActionsBucket = "flurry_actions"
	// AuthBucket is the KV bucket of API keys; key = the key's uuid.
	AuthBucket = "flurry_auth"
	// CodeStore is the object store of action code, named by CodeName(digest).
	CodeStore = "flurry_code"

	// InvokerHealthSubjectT is where invoker %s publishes its load every second.
	InvokerHealthSubjectT = "flurry.invoker.%s.health"
	// InvokerHealthSubjects is the wildcard of all invoker heartbeats.
	InvokerHealthSubjects = "flurry.invoker.*.health"

	// ControllerAPISubjectT is the NATS request subject of one controller
	// API method (%s), served by every `flurry controller` in queue group
	// ControllerQueue.
	ControllerAPISubjectT = "flurry.api.v1.%s"
	// ControllerAPISubjects is the wildcard of the controller API.
	ControllerAPISubjects = "flurry.api.v1.*"
	// ControllerQueue is the queue group of controller API servers.
	ControllerQueue = "flurry-controllers"
)

// Partitions is the number of activation subjects; an action always maps
// to the same one (see Partition).
const Partitions = 16

// Headers Flurry sets on NATS messages.
const (
	// HeaderMsgID is JetStream's de-duplication header.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderReply carries the subject the caller waits on for the result.
	HeaderReply = "Flurry-Reply"
)

var plainToken = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Token turns any string into one NATS subject token and KV key token:
// plain names stay readable, anything else becomes "=" + base64url.
// Distinct inputs give distinct tokens.
func Token(s string) string {
	if plainToken.MatchString(s) {
		return s
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(s))
}

// ActionKey is the key of action name in namespace ns in ActionsBucket.
func ActionKey(ns, name string) string { return Token(ns) + "." + Token(name) }

// ActionKeyPrefix is the key wildcard of every action in namespace ns.
func ActionKeyPrefix(ns string) string { return Token(ns) + ".>" }

// RecordSubject is the subject of activation id's record in namespace ns.
func RecordSubject(ns, id string) string { return fmt.Sprintf(RecordSubjectT, Token(ns), id) }

// RecordNamespaceSubject selects all records of namespace ns.
func RecordNamespaceSubject(ns string) string { return fmt.Sprintf(RecordNamespaceSubjectT, Token(ns)) }

// ResultSubject is where the controller instance id waits for results.
func ResultSubject(instance string) string { return fmt.Sprintf(ResultSubjectT, instance) }

// CodeName is the object name of code with the given hex sha256 digest.
func CodeName(digest string) string { return "sha256-" + digest }

// Partition maps an action to one of Partitions activation partitions.
func Partition(ns, name string) int {
	h := fnv.New32a()
	h.Write([]byte(ns))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return int(h.Sum32() % Partitions)
}

// ActivationSubject is the subject an activation of ns/name is published on.
func ActivationSubject(ns, name string) string {
	return fmt.Sprintf(ActivationSubjectT, Partition(ns, name))
}

// ControllerAPISubject is the request subject of controller API method.
func ControllerAPISubject(method string) string { return fmt.Sprintf(ControllerAPISubjectT, method) }
