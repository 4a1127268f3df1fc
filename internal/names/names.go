package names

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"strconv"
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
	// InvokerConsumer is the durable pull consumer once shared by invokers
	// over all partitions (ADR 001). ADR 004 replaced it by one consumer per
	// partition; provisioning deletes it where an old data dir still has it.
	InvokerConsumer = "invokers"
	// PartitionConsumerT is the durable pull consumer of one activation
	// partition (%d, see Partition), shared by all invokers through the
	// priority group InvokerPriorityGroup (ADR 004).
	PartitionConsumerT = "invokers-p%d"
	// InvokerPriorityGroup is the overflow priority group of every
	// partition consumer: its owner pulls plainly, other invokers pull
	// with a min_pending threshold.
	InvokerPriorityGroup = "invokers"
	// DoorbellSubjects is where the activations stream republishes the
	// headers (no payload) of every stored activation, so invokers learn
	// which partitions have work without holding idle pull requests.
	DoorbellSubjects = "flurry.doorbell.>"
	// DoorbellSubjectT is one partition's doorbell subject; %d is the partition.
	DoorbellSubjectT = "flurry.doorbell.p%d"
	// OverflowSubjects is where a saturated invoker asks the others to
	// help with the backlog of a partition it owns (core NATS).
	OverflowSubjects = "flurry.overflow.>"
	// OverflowSubjectT is one partition's overflow subject; %d is the
	// partition, the payload the backlog in decimal.
	OverflowSubjectT = "flurry.overflow.p%d"

	// StartedStream holds a small marker per activation an invoker began to
	// run, read only when an activation is redelivered: it tells a lost
	// invoker's activation that may have reached /run from one that did not.
	StartedStream = "FLURRY_STARTED"
	// StartedSubjects is the wildcard the started stream captures.
	StartedSubjects = "flurry.started.>"
	// StartedSubjectT is one activation's started marker; %s is its id.
	StartedSubjectT = "flurry.started.%s"

	// RecordsStream holds activation records (age and size limited).
	RecordsStream = "FLURRY_RECORDS"
	// RecordSubjects is the wildcard the records stream captures.
	RecordSubjects = "flurry.record.>"
	// RecordSubjectT is one record's subject: namespace token, activation
	// id token (the id itself: ids are plain).
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
	// NamespacesBucket is the KV bucket of namespaces made by an
	// administrator (entity.Namespace); key NamespaceKey(ns). A namespace
	// with keys but no entry here (guest, or one made before namespaces
	// were stored) has entity.Namespace's defaults.
	NamespacesBucket = "flurry_namespaces"
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

	// LimitsBucket is the KV bucket of per-namespace limit overrides
	// (entity.NamespaceLimits); key = NamespaceKey(ns).
	LimitsBucket = "flurry_limits"
	// AdmissionBucket is the KV bucket where controllers share admission
	// state: concurrency leases and per-minute token counts (ADR 005).
	AdmissionBucket = "flurry_admission"
	// IdempotencyBucket maps a namespace's Idempotency-Keys to the
	// activation each first started; key IdempotencyKey(ns, key) (ADR 025).
	IdempotencyBucket = "flurry_idempotency"
	// AdmissionConcurrencyKeyT is the key of a namespace's concurrency
	// leases; %s is the namespace token.
	AdmissionConcurrencyKeyT = "conc.%s"
	// AdmissionRateKeyT is the key of the invocation tokens granted to
	// controllers in one minute; namespace token, minute since the epoch.
	AdmissionRateKeyT = "rate.%s.%d"

	// DeadLettersStream holds asynchronous activations that failed after
	// their last attempt (age and size limited, one entry per activation).
	DeadLettersStream = "FLURRY_DEADLETTERS"
	// DeadLetterSubjects is the wildcard the dead-letter stream captures.
	DeadLetterSubjects = "flurry.deadletter.>"
	// DeadLetterSubjectT is one entry's subject: namespace token, activation
	// id token.
	DeadLetterSubjectT = "flurry.deadletter.%s.%s"
	// DeadLetterNamespaceSubjectT selects every entry of one namespace token.
	DeadLetterNamespaceSubjectT = "flurry.deadletter.%s.>"
)

// ReservedSubjectPrefixes are subject prefixes users may not name (for
// example as destinations): Flurry's own, JetStream's API, and the
// inboxes of every role ("_INBOX." and InboxPrefix's).
var ReservedSubjectPrefixes = []string{"flurry.", "$JS.", "$KV.", "$O.", "$SYS.", InboxRoot}

// Partitions is the number of activation subjects; an action always maps
// to the same one (see Partition).
const Partitions = 16

// Headers Flurry sets on NATS messages.
const (
	// HeaderMsgID is JetStream's de-duplication header.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderReply carries the subject the caller waits on for the result.
	HeaderReply = "Flurry-Reply"
	// HeaderActivationID names the activation a destination message is about.
	HeaderActivationID = "Flurry-Activation-Id"
	// HeaderStatus is the activation's status text ("success", ...) on a
	// destination message.
	HeaderStatus = "Flurry-Status"
	// HeaderKVOperation marks a KV delete or purge ("DEL", "PURGE");
	// a value has none.
	HeaderKVOperation = "KV-Operation"
)

// KVStream is the stream that holds KV bucket.
func KVStream(bucket string) string { return "KV_" + bucket }

// ObjectStream is the stream that holds object store bucket.
func ObjectStream(bucket string) string { return "OBJ_" + bucket }

// KVSubject is the subject of key in KV bucket.
func KVSubject(bucket, key string) string { return "$KV." + bucket + "." + key }

// Plain reports whether s is a plain token: one or more of A-Z, a-z,
// 0-9, "_" and "-". It is on every invoke's path, where a regular
// expression cost 1 % of the standalone's CPU.
func Plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// MaxTokenInput is the longest string Token keeps readable or reversible.
// Callers validate names and ids far below it; it exists so that no
// input, however long, makes a subject over the server's control line
// (4 KiB), which closes the whole shared connection, not one request.
const MaxTokenInput = 256

// Token turns any string into one NATS subject token and KV key token:
// plain names stay readable, anything else becomes "=" + base64url, and
// input over MaxTokenInput bytes becomes "==" + base64url of its sha256,
// so a token is never longer than 345 bytes. Distinct inputs give distinct
// tokens (the long form up to sha256 collisions; raw base64url has no
// "=", so the forms cannot meet).
func Token(s string) string {
	if len(s) > MaxTokenInput {
		sum := sha256.Sum256([]byte(s))
		return "==" + base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if Plain(s) {
		return s
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(s))
}

// ActionKey is the key of action name in namespace ns in ActionsBucket.
func ActionKey(ns, name string) string { return Token(ns) + "." + Token(name) }

// ActionKeyPrefix is the key wildcard of every action in namespace ns.
func ActionKeyPrefix(ns string) string { return Token(ns) + ".>" }

// RecordSubject is the subject of activation id's record in namespace ns.
// Activation ids are plain, so Token(id) is the id itself.
func RecordSubject(ns, id string) string { return "flurry.record." + Token(ns) + "." + Token(id) }

// RecordNamespaceSubject selects all records of namespace ns.
func RecordNamespaceSubject(ns string) string { return fmt.Sprintf(RecordNamespaceSubjectT, Token(ns)) }

// ResultSubject is where the controller instance id waits for results.
func ResultSubject(instance string) string { return "flurry.result." + instance }

// CodeName is the object name of code with the given hex sha256 digest.
func CodeName(digest string) string { return "sha256-" + digest }

// Partition maps an action to one of Partitions activation partitions:
// FNV-1a (32 bits) of ns, a zero byte and name, modulo Partitions. The
// mapping is part of the stored state (subjects of queued activations),
// so it never changes.
func Partition(ns, name string) int {
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(ns); i++ {
		h = (h ^ uint32(ns[i])) * prime
	}
	h *= prime // the zero byte
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * prime
	}
	return int(h % Partitions)
}

// ActivationSubject is the subject an activation of ns/name is published on.
func ActivationSubject(ns, name string) string { return PartitionSubject(Partition(ns, name)) }

// PartitionConsumer is the durable consumer of activation partition p.
func PartitionConsumer(p int) string { return fmt.Sprintf(PartitionConsumerT, p) }

// PartitionSubject is the activation subject of partition p.
func PartitionSubject(p int) string { return "flurry.activation.p" + strconv.Itoa(p) }

// DoorbellSubject is the doorbell subject of partition p.
func DoorbellSubject(p int) string { return fmt.Sprintf(DoorbellSubjectT, p) }

// OverflowSubject is the overflow subject of partition p.
func OverflowSubject(p int) string { return fmt.Sprintf(OverflowSubjectT, p) }

// StartedSubject is the started marker subject of activation id.
func StartedSubject(id string) string { return "flurry.started." + Token(id) }

// ControllerAPISubject is the request subject of controller API method.
func ControllerAPISubject(method string) string { return fmt.Sprintf(ControllerAPISubjectT, method) }

// DeadLetterSubject is the subject of activation id's dead letter in namespace ns.
func DeadLetterSubject(ns, id string) string {
	return fmt.Sprintf(DeadLetterSubjectT, Token(ns), Token(id))
}

// DeadLetterNamespaceSubject selects all dead letters of namespace ns.
func DeadLetterNamespaceSubject(ns string) string {
	return fmt.Sprintf(DeadLetterNamespaceSubjectT, Token(ns))
}

// NamespaceKey is the key of namespace ns in LimitsBucket and NamespacesBucket.
func NamespaceKey(ns string) string { return Token(ns) }

// IdempotencyKey is the key of a client's Idempotency-Key in namespace ns
// in IdempotencyBucket: a digest, as the client's key may hold any
// printable character and need not be short.
func IdempotencyKey(ns, key string) string {
	sum := sha256.Sum256([]byte(key))
	return Token(ns) + "." + base64.RawURLEncoding.EncodeToString(sum[:])
}

// AdmissionConcurrencyKey is the key of namespace ns's concurrency leases
// in AdmissionBucket.
func AdmissionConcurrencyKey(ns string) string {
	return fmt.Sprintf(AdmissionConcurrencyKeyT, Token(ns))
}

// AdmissionRateKey is the key of namespace ns's invocation tokens of
// minute (Unix seconds / 60) in AdmissionBucket.
func AdmissionRateKey(ns string, minute int64) string {
	return fmt.Sprintf(AdmissionRateKeyT, Token(ns), minute)
}

// Triggers, rules and timers (ADR 007).
const (
	// TriggersBucket is the KV bucket of triggers; key TriggerKey(ns, name).
	TriggersBucket = "flurry_triggers"
	// RulesBucket is the KV bucket of rules; key RuleKey(ns, name).
	RulesBucket = "flurry_rules"
	// TimersBucket is the KV bucket of timer state: the last scheduled
	// time fired per timer trigger (key TriggerKey), updated with CAS so a
	// tick fires once even past the ticks stream's duplicate window.
	TimersBucket = "flurry_timers"

	// TicksStream is the work queue of timer ticks. Every controller
	// publishes every tick with Nats-Msg-Id = TickID, so the stream keeps
	// one; one durable consumer shared by all controllers fires it.
	TicksStream = "FLURRY_TICKS"
	// TickSubjects is the wildcard the ticks stream captures.
	TickSubjects = "flurry.tick.>"
	// TickSubjectT is one trigger's tick subject: namespace token, trigger token.
	TickSubjectT = "flurry.tick.%s.%s"
	// TicksConsumer is the durable pull consumer of the ticks stream,
	// shared by all controllers.
	TicksConsumer = "controllers"
)

// TriggerKey is the key of trigger name in namespace ns in TriggersBucket
// (and TimersBucket).
func TriggerKey(ns, name string) string { return Token(ns) + "." + Token(name) }

// TriggerKeyPrefix is the key wildcard of every trigger in namespace ns.
func TriggerKeyPrefix(ns string) string { return Token(ns) + ".>" }

// RuleKey is the key of rule name in namespace ns in RulesBucket.
func RuleKey(ns, name string) string { return Token(ns) + "." + Token(name) }

// RuleKeyPrefix is the key wildcard of every rule in namespace ns.
func RuleKeyPrefix(ns string) string { return Token(ns) + ".>" }

// TickSubject is the subject of trigger name's ticks in namespace ns.
func TickSubject(ns, name string) string { return fmt.Sprintf(TickSubjectT, Token(ns), Token(name)) }

// TickID is the Nats-Msg-Id of trigger name's tick scheduled at Unix ms
// at: the same for every controller that schedules it.
func TickID(ns, name string, at int64) string { return fmt.Sprintf("%s/%s/%d", ns, name, at) }

// RoutesBucket is the KV bucket of HTTP routes: one entry per namespace
// holding its whole route table (entity.Route list), key
// RouteTableKey(ns), so a conflict check and a write are one CAS (ADR 009).
const RoutesBucket = "flurry_routes"

// RouteTableKey is the key of namespace ns's route table in RoutesBucket.
func RouteTableKey(ns string) string { return Token(ns) }

// AppsBucket is the KV bucket of web apps (ADR 010); key AppKey(name).
// App names are cluster-wide, so the key has no namespace.
const AppsBucket = "flurry_apps"

// AppKey is the key of app name in AppsBucket.
func AppKey(name string) string { return Token(name) }

// Message triggers (ADR 008).
const (
	// TriggerDeadLettersStream holds trigger messages that failed after
	// their trigger's last retry (age and size limited), one entry each.
	TriggerDeadLettersStream = "FLURRY_TRIGGER_DEADLETTERS"
	// TriggerDeadLetterSubjects is the wildcard that stream captures.
	TriggerDeadLetterSubjects = "flurry.triggerdeadletter.>"
	// TriggerDeadLetterSubjectT is one entry's subject: namespace token,
	// trigger token, entry id.
	TriggerDeadLetterSubjectT = "flurry.triggerdeadletter.%s.%s.%s"
	// TriggerDeadLetterTriggerSubjectT selects every entry of one trigger.
	TriggerDeadLetterTriggerSubjectT = "flurry.triggerdeadletter.%s.%s.>"
	// TriggerSourceT is both the queue group of a trigger's core NATS
	// subscription and the durable consumer of its JetStream source, so
	// each message fires once across controllers; %s is
	// TriggerSourceID(ns, name).
	TriggerSourceT = "flurry-trigger-%s"
)

// Headers Flurry sets on message-trigger responses, errors and dead letters.
const (
	// HeaderTrigger names the trigger ("namespace/name") that fired.
	HeaderTrigger = "Flurry-Trigger"
	// HeaderError is the last error of a failed message, one line.
	HeaderError = "Flurry-Error"
)

// TriggerSourceID is a short stable id of trigger name in namespace ns,
// valid in consumer and queue names whatever the names hold.
func TriggerSourceID(ns, name string) string {
	h := fnv.New64a()
	h.Write([]byte(ns))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return fmt.Sprintf("%016x", h.Sum64())
}

// TriggerSource is the queue group and durable consumer name of trigger
// name in namespace ns.
func TriggerSource(ns, name string) string {
	return fmt.Sprintf(TriggerSourceT, TriggerSourceID(ns, name))
}

// TriggerDeadLetterSubject is the subject of dead letter id of trigger
// name in namespace ns.
func TriggerDeadLetterSubject(ns, name, id string) string {
	return fmt.Sprintf(TriggerDeadLetterSubjectT, Token(ns), Token(name), Token(id))
}

// TriggerDeadLetterTriggerSubject selects the dead letters of one trigger.
func TriggerDeadLetterTriggerSubject(ns, name string) string {
	return fmt.Sprintf(TriggerDeadLetterTriggerSubjectT, Token(ns), Token(name))
}

const (
	// InboxRoot begins every inbox: nats.go's default "_INBOX." and
	// each role's InboxPrefix.
	InboxRoot = "_INBOX"
	// InboxPrefixT is the inbox prefix of a Flurry NATS role (%s): its
	// replies arrive below it, and NATS permissions keep other roles out.
	InboxPrefixT = InboxRoot + "_%s"
)

// InboxPrefix is the inbox prefix of role, for nats.CustomInboxPrefix.
func InboxPrefix(role string) string { return fmt.Sprintf(InboxPrefixT, role) }
