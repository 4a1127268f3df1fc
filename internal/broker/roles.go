package broker

import (
	"github.com/nats-io/nats-server/v2/server"

	"github.com/flurryfn/flurry/internal/names"
)

// Role is a kind of NATS client of Flurry. Each role is one NATS user with
// the permissions below; every component connects as its own role
// (docs/adr/019-nats-credentials.md).
type Role string

const (
	// RoleAdmin has every right: for operators, tools and tests.
	RoleAdmin Role = "admin"
	// RoleController provisions streams and buckets, owns entities and
	// keys, and consumes tenants' event subjects for message triggers.
	RoleController Role = "controller"
	// RoleInvoker pulls activations and writes records, started markers,
	// dead letters, results, heartbeats and destinations.
	RoleInvoker Role = "invoker"
	// RoleGateway calls the controller API and reads and writes the code
	// store (large code bypasses the API).
	RoleGateway Role = "gateway"
)

// Roles lists every role, each with its own credentials.
var Roles = []Role{RoleAdmin, RoleController, RoleInvoker, RoleGateway}

// inbox is the subscription wildcard of role's replies (see names.InboxPrefix).
func inbox(r Role) string { return names.InboxPrefix(string(r)) + ".>" }

// jsAPI is the JetStream API subject of verb.
func jsAPI(verb string) string { return "$JS.API." + verb }

// foreignInboxes are the reply subjects of every role but r, and the
// default "_INBOX." of tools: r may neither read nor answer into them.
func foreignInboxes(r Role) []string {
	out := []string{"_INBOX.>"}
	for _, o := range Roles {
		if o != r && o != RoleAdmin {
			out = append(out, inbox(o))
		}
	}
	return out
}

// permissions is the NATS permission table of each role; nil is every
// right. Deny beats allow in NATS, so a deny list can only narrow.
func permissions(r Role) *server.Permissions {
	switch r {
	case RoleController:
		// The controller writes every bucket and stream, provisions
		// them, and serves tenants' triggers on subjects of the tenants'
		// choosing: confining it further would break triggers and buys
		// little, since it owns the keys. It may not read other roles'
		// replies, nor let a tenant's trigger subscribe to them.
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$SYS.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{">"}, Deny: append([]string{"$SYS.>"}, foreignInboxes(r)...)},
		}
	case RoleInvoker:
		// Publish: everything but the list below, because destinations
		// are tenants' own subjects (any not reserved). The list takes away
		// every write to buckets, the code store and Flurry's controller
		// subjects, and every JetStream API call that changes or removes
		// a stream or consumer.
		return &server.Permissions{
			Publish: &server.SubjectPermission{
				Allow: []string{">"},
				Deny: append([]string{
					"$SYS.>", "$KV.>", "$O.>",
					jsAPI("STREAM.CREATE.>"), jsAPI("STREAM.UPDATE.>"), jsAPI("STREAM.DELETE.>"),
					jsAPI("STREAM.PURGE.>"), jsAPI("STREAM.MSG.DELETE.>"), jsAPI("STREAM.SNAPSHOT.>"),
					jsAPI("STREAM.RESTORE.>"), jsAPI("STREAM.PEER.>"), jsAPI("STREAM.LEADER.>"),
					jsAPI("STREAM.TEMPLATE.>"), jsAPI("STREAM.CANCEL_MOVE.>"),
					// A direct get answers with the stored message itself, on
					// any reply subject, a bucket's included (internal/stored).
					jsAPI("DIRECT.GET.>"),
					jsAPI("CONSUMER.DURABLE.>"), jsAPI("CONSUMER.PAUSE.>"),
					// Reading code deletes its own ordered consumer, so only
					// the durable consumers of Flurry's work queues are kept
					// out of reach.
					jsAPI("CONSUMER.DELETE." + names.ActivationsStream + ".*"),
					jsAPI("CONSUMER.DELETE." + names.TicksStream + ".*"),
					jsAPI("CONSUMER.UNPIN.>"), jsAPI("CONSUMER.LEADER.>"), jsAPI("CONSUMER.RESET.>"),
					jsAPI("CONSUMER.PEER.>"),
					jsAPI("ACCOUNT.>"), jsAPI("SERVER.>"), jsAPI("META.>"),
					"flurry.api.>", "flurry.activation.>", "flurry.tick.>",
					"flurry.doorbell.>", "flurry.triggerdeadletter.>",
				}, foreignInboxes(r)...),
			},
			Subscribe: &server.SubjectPermission{Allow: []string{
				names.DoorbellSubjects, names.OverflowSubjects, names.InvokerHealthSubjects, inbox(r),
			}},
		}
	case RoleGateway:
		// The API's request subjects, its own replies, and the code store
		// (no direct get: see the invoker's).
		code := names.ObjectStream(names.CodeStore)
		return &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{
				names.ControllerAPISubjects,
				"$O." + names.CodeStore + ".>",
				jsAPI("INFO"),
				jsAPI("STREAM.INFO." + code),
				jsAPI("STREAM.MSG.GET." + code),
				jsAPI("CONSUMER.CREATE." + code), jsAPI("CONSUMER.CREATE." + code + ".>"),
				jsAPI("CONSUMER.INFO." + code + ".*"), jsAPI("CONSUMER.DELETE." + code + ".*"),
				"$JS.FC." + code + ".>",
			}},
			Subscribe: &server.SubjectPermission{Allow: []string{inbox(r)}},
		}
	}
	return nil
}
