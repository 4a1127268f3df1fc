package main

import (
	"time"

	"github.com/flurryfn/flurry/internal/entity"
)

// Flags of a NATS message source for "trigger create|update" (ADR 008).
// init adds them to those two commands; cliTriggerSource calls
// cliTriggerNATSSource first.

// cliTriggerNATSFlags are the message-source flags.
var cliTriggerNATSFlags = []cliFlag{
	{name: "nats-subject", nargs: 1, metavar: "SUBJECT", usage: "fire on every message on SUBJECT (wildcards allowed) inside the namespace's events.NAMESPACE.> or an administrator's grant; core NATS in a queue group unless --stream"},
	{name: "stream", nargs: 1, metavar: "STREAM", usage: "consume SUBJECT from this existing JetStream stream, granted or capturing only the namespace's subjects (durable consumer; acked after the activations finished)"},
	{name: "batch", nargs: 1, metavar: "N", usage: "up to N messages per activation, as {\"messages\": [...]}"},
	{name: "batch-window", nargs: 1, metavar: "MS", usage: "wait at most MS (or a duration like 2s) for a batch to fill (default 1s)"},
	{name: "response-subject", nargs: 1, metavar: "SUBJECT", usage: "publish each activation's result there (inside the namespace's subjects), with the message's headers"},
	{name: "error-subject", nargs: 1, metavar: "SUBJECT", usage: "publish the failure of a dead-lettered message there (inside the namespace's subjects)"},
	{name: "retry-attempts", nargs: 1, metavar: "N", usage: "attempts per message, the first included, before the dead-letter stream (default 1)"},
	{name: "retry-backoff", nargs: 1, metavar: "MS", usage: "delay before the first retry, doubled per retry, with full jitter (default 1s)"},
	{name: "retry-max-backoff", nargs: 1, metavar: "MS", usage: "ceiling of the retry delay (default 5m)"},
}

const cliTriggerNATSSynopsis = ` | --nats-subject SUBJECT [--stream STREAM] [--batch N --batch-window MS] [--response-subject S] [--error-subject S] [--retry-attempts N --retry-backoff MS]`

func init() {
	for _, name := range []string{"create", "update"} {
		cmd, ok := cliTriggerCommands[name]
		if !ok {
			continue
		}
		cmd.flags = append(append([]cliFlag(nil), cmd.flags...), cliTriggerNATSFlags...)
		cmd.synopsis += cliTriggerNATSSynopsis
		cliTriggerCommands[name] = cmd
	}
}

// cliTriggerNATSSource builds the NATS message source from the flags; nil
// when --nats-subject is not given (then none of its flags may be). On
// update the source is replaced whole, so every flag is given again.
func cliTriggerNATSSource(p *cliArgs) (*entity.TriggerSource, error) {
	if !p.has("nats-subject") {
		for _, f := range cliTriggerNATSFlags[1:] {
			if p.has(f.name) {
				return nil, usageErrorf("--%s needs --nats-subject", f.name)
			}
		}
		return nil, nil
	}
	if p.has("cron") || p.has("interval") {
		return nil, usageErrorf("give --nats-subject or a timer (--cron, --interval), not both")
	}
	if p.has("batch-window") && !p.has("batch") {
		return nil, usageErrorf("--batch-window needs --batch")
	}
	if (p.has("retry-backoff") || p.has("retry-max-backoff")) && !p.has("retry-attempts") {
		return nil, usageErrorf("--retry-backoff and --retry-max-backoff need --retry-attempts")
	}
	src := &entity.NATSSource{
		Subject:         p.str("nats-subject"),
		Stream:          p.str("stream"),
		ResponseSubject: p.str("response-subject"),
		ErrorSubject:    p.str("error-subject"),
	}
	batch, err := p.int64("batch")
	if err != nil {
		return nil, err
	}
	src.BatchSize = int(min(batch, 1<<30))
	window, err := p.duration("batch-window", time.Millisecond)
	if err != nil {
		return nil, err
	}
	src.BatchWindow = window.Milliseconds()
	if p.has("retry-attempts") {
		attempts, err := p.int64("retry-attempts")
		if err != nil {
			return nil, err
		}
		backoff, err := p.duration("retry-backoff", time.Millisecond)
		if err != nil {
			return nil, err
		}
		ceiling, err := p.duration("retry-max-backoff", time.Millisecond)
		if err != nil {
			return nil, err
		}
		src.Retry = &entity.RetryPolicy{MaxAttempts: int(min(attempts, 1<<30)), InitialBackoff: backoff.Milliseconds(),
			MaxBackoff: ceiling.Milliseconds()}
	}
	return &entity.TriggerSource{NATS: src}, nil
}
