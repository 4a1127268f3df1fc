package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/entity"
)

func init() {
	register("trigger", "triggers: create|update|get|list|delete|fire", false, func(ctx context.Context, args []string) error {
		return cliTrigger(ctx, cliStd(), args)
	})
}

const cliTriggerUsage = `usage: flurry trigger COMMAND [flags]

A trigger is a named event source; rules (flurry rule) bind it to
actions. Firing it starts one activation per active rule. A trigger with
--cron or --interval is fired by the platform, once per tick across all
controllers (docs/adr/007-triggers-and-timers.md).

commands:
  create NAME    create a trigger
  update NAME    update a trigger (flags not given keep their value)
  get NAME       show a trigger
  list           list triggers
  delete NAME    delete a trigger
  fire NAME      fire a trigger: prints the trigger activation's id

Run "flurry trigger COMMAND -h" for a command's flags.
`

var cliTriggerPutFlags = []cliFlag{
	{name: "cron", nargs: 1, metavar: "EXPR", usage: `fire on a cron schedule with seconds: "SEC MIN HOUR DOM MONTH DOW" or @every 5m, @daily`},
	{name: "tz", nargs: 1, metavar: "ZONE", usage: "time zone of --cron (IANA name, e.g. Europe/Berlin; default UTC)"},
	{name: "interval", nargs: 1, metavar: "DURATION", usage: "fire every DURATION (e.g. 30s; at least 1s)"},
	{name: "missed", nargs: 1, metavar: "POLICY", usage: "ticks missed while no controller ran: skip (default) or fire-once"},
	{name: "param", short: "p", nargs: 2, metavar: "KEY VALUE", usage: "default parameter; VALUE is JSON if it parses, else a string (repeatable)"},
	{name: "param-file", short: "P", nargs: 1, metavar: "FILE", usage: "JSON object file of parameters (-p overrides)"},
	{name: "annotation", short: "a", nargs: 2, metavar: "KEY VALUE", usage: "annotation, VALUE as for -p (repeatable)"},
}

var cliTriggerCommands = map[string]cliSubcommand{
	"create": {`flurry trigger create NAME [--cron "EXPR" [--tz ZONE] | --interval 30s] [--missed skip|fire-once] [-p KEY VALUE]... [-a KEY VALUE]...`,
		1, 1, cliTriggerPutFlags, func(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
			return cliTriggerPut(ctx, out, p, cl, ns, mode, false)
		}},
	"update": {`flurry trigger update NAME [--cron "EXPR" [--tz ZONE] | --interval 30s] [--missed skip|fire-once] [-p KEY VALUE]... [-a KEY VALUE]...`,
		1, 1, cliTriggerPutFlags, func(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
			return cliTriggerPut(ctx, out, p, cl, ns, mode, true)
		}},
	"get": {"flurry trigger get NAME", 1, 1, nil, cliTriggerGet},
	"list": {"flurry trigger list [--limit N] [--skip N]", 0, 0, []cliFlag{
		{name: "limit", short: "l", nargs: 1, metavar: "N", usage: "at most N triggers (server default 30, max 200)"},
		{name: "skip", short: "s", nargs: 1, metavar: "N", usage: "skip the first N triggers"},
	}, cliTriggerList},
	"delete": {"flurry trigger delete NAME", 1, 1, nil, cliTriggerDelete},
	"fire": {"flurry trigger fire NAME [-p KEY VALUE]... [-P FILE]", 1, 1, []cliFlag{
		{name: "param", short: "p", nargs: 2, metavar: "KEY VALUE", usage: "payload parameter; VALUE is JSON if it parses, else a string (repeatable)"},
		{name: "param-file", short: "P", nargs: 1, metavar: "FILE", usage: "JSON object file of parameters (-p overrides)"},
	}, cliTriggerFire},
}

// cliTrigger runs "flurry trigger ...". Exit status: 0 on success, 1 when
// the API answers an error, 2 for command-line mistakes.
func cliTrigger(ctx context.Context, out cliIO, args []string) error {
	return cliRunGroup(ctx, out, "trigger", cliTriggerUsage, "create, update, get, list, delete, fire", cliTriggerCommands, args)
}

// cliTriggerSource builds the timer source from --cron, --tz, --interval
// and --missed; nil when none is given.
func cliTriggerSource(p *cliArgs) (*entity.TriggerSource, error) {
	if src, err := cliTriggerNATSSource(p); src != nil || err != nil {
		return src, err
	}
	missed := p.str("missed")
	switch missed {
	case "", entity.MissedSkip, entity.MissedFireOnce:
	default:
		return nil, usageErrorf("--missed takes %s or %s, not %q", entity.MissedSkip, entity.MissedFireOnce, missed)
	}
	switch {
	case p.has("cron") && p.has("interval"):
		return nil, usageErrorf("give --cron or --interval, not both")
	case p.has("tz") && !p.has("cron"):
		return nil, usageErrorf("--tz is the time zone of --cron")
	case p.has("missed") && !p.has("cron") && !p.has("interval"):
		return nil, usageErrorf("--missed needs --cron or --interval")
	case p.has("cron"):
		return &entity.TriggerSource{Cron: &entity.CronSource{Expression: p.str("cron"), TimeZone: p.str("tz"), Missed: missed}}, nil
	case p.has("interval"):
		d, err := p.duration("interval", time.Second)
		if err != nil {
			return nil, err
		}
		return &entity.TriggerSource{Interval: &entity.IntervalSource{Every: d.Milliseconds(), Missed: missed}}, nil
	}
	return nil, nil
}

func cliTriggerPut(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode, update bool) error {
	src, err := cliTriggerSource(p)
	if err != nil {
		return err
	}
	spec := client.TriggerSpec{Source: src}
	if p.has("param") || p.has("param-file") {
		if spec.Parameters, err = cliKeyValues(p, "param", "param-file"); err != nil {
			return err
		}
	}
	if p.has("annotation") {
		if spec.Annotations, err = cliKeyValues(p, "annotation", ""); err != nil {
			return err
		}
	}
	t, err := cl.PutTrigger(ctx, ns, p.pos[0], spec, update)
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, t)
	}
	verb := "created"
	if update {
		verb = "updated"
	}
	fmt.Fprintf(out.stdout, "ok: %s trigger %s\n", verb, t.Name)
	return nil
}

func cliTriggerGet(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	t, err := cl.GetTrigger(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliText {
		fmt.Fprintf(out.stdout, "ok: got trigger %s\n", t.Name)
	}
	return cliPrintJSON(out.stdout, t)
}

func cliTriggerList(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	limit, err := p.int64("limit")
	if err != nil {
		return err
	}
	skip, err := p.int64("skip")
	if err != nil {
		return err
	}
	ts, err := cl.ListTriggers(ctx, ns, int(skip), int(limit))
	if err != nil {
		return err
	}
	if mode == cliJSON {
		if ts == nil {
			ts = []entity.Trigger{}
		}
		return cliPrintJSON(out.stdout, ts)
	}
	cliPrintTriggers(out.stdout, ts)
	return nil
}

// cliPrintTriggers prints triggers as a table with their timer.
func cliPrintTriggers(w io.Writer, ts []entity.Trigger) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintln(tw, "triggers\tsource")
	for _, t := range ts {
		fmt.Fprintf(tw, "/%s/%s\t%s\n", t.Namespace, t.Name, cliSourceString(t.Source))
	}
	tw.Flush()
}

func cliSourceString(s *entity.TriggerSource) string {
	switch {
	case s == nil:
		return ""
	case s.Cron != nil:
		tz := s.Cron.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		return fmt.Sprintf("cron %q %s", s.Cron.Expression, tz)
	case s.Interval != nil:
		return "every " + (time.Duration(s.Interval.Every) * time.Millisecond).String()
	case s.NATS != nil:
		return "nats " + s.NATS.Subject
	}
	return ""
}

func cliTriggerDelete(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	t, err := cl.DeleteTrigger(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, t)
	}
	fmt.Fprintf(out.stdout, "ok: deleted trigger %s\n", p.pos[0])
	return nil
}

func cliTriggerFire(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	kvs, err := cliKeyValues(p, "param", "param-file")
	if err != nil {
		return err
	}
	id, err := cl.FireTrigger(ctx, ns, p.pos[0], cliParamsObject(kvs))
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, map[string]string{"activationId": id})
	}
	if id == "" {
		fmt.Fprintf(out.stdout, "ok: trigger %s has no active rule; nothing ran\n", p.pos[0])
		return nil
	}
	fmt.Fprintf(out.stdout, "ok: triggered /%s/%s with id %s\n", ns, p.pos[0], id)
	return nil
}
