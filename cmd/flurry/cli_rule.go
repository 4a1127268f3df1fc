package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/entity"
)

func init() {
	register("rule", "rules (trigger → action): create|get|list|delete|enable|disable", false, func(ctx context.Context, args []string) error {
		return cliRule(ctx, cliStd(), args)
	})
}

const cliRuleUsage = `usage: flurry rule COMMAND [flags]

A rule binds a trigger to an action: while it is active, each firing of
the trigger starts an activation of the action.

commands:
  create NAME TRIGGER ACTION   create a rule (active)
  get NAME                     show a rule
  list                         list rules
  delete NAME                  delete a rule
  enable NAME                  make a rule active
  disable NAME                 make a rule inactive

Run "flurry rule COMMAND -h" for a command's flags.
`

var cliRuleCommands = map[string]cliSubcommand{
	"create": {"flurry rule create NAME TRIGGER ACTION [--overwrite]", 3, 3, []cliFlag{
		{name: "overwrite", usage: "replace an existing rule's trigger and action"},
	}, cliRuleCreate},
	"get": {"flurry rule get NAME", 1, 1, nil, cliRuleGet},
	"list": {"flurry rule list [--limit N] [--skip N]", 0, 0, []cliFlag{
		{name: "limit", short: "l", nargs: 1, metavar: "N", usage: "at most N rules (server default 30, max 200)"},
		{name: "skip", short: "s", nargs: 1, metavar: "N", usage: "skip the first N rules"},
	}, cliRuleList},
	"delete": {"flurry rule delete NAME", 1, 1, nil, cliRuleDelete},
	"enable": {"flurry rule enable NAME", 1, 1, nil, func(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
		return cliRuleStatus(ctx, out, p, cl, ns, mode, entity.RuleActive)
	}},
	"disable": {"flurry rule disable NAME", 1, 1, nil, func(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
		return cliRuleStatus(ctx, out, p, cl, ns, mode, entity.RuleInactive)
	}},
}

// cliRule runs "flurry rule ...". Exit status: 0 on success, 1 when the
// API answers an error, 2 for command-line mistakes.
func cliRule(ctx context.Context, out cliIO, args []string) error {
	return cliRunGroup(ctx, out, "rule", cliRuleUsage, "create, get, list, delete, enable, disable", cliRuleCommands, args)
}

func cliRuleCreate(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	r, err := cl.PutRule(ctx, ns, p.pos[0], p.pos[1], p.pos[2], p.has("overwrite"))
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, r)
	}
	fmt.Fprintf(out.stdout, "ok: created rule %s\n", r.Name)
	return nil
}

func cliRuleGet(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	r, err := cl.GetRule(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliText {
		fmt.Fprintf(out.stdout, "ok: got rule %s\n", r.Name)
	}
	return cliPrintJSON(out.stdout, r)
}

func cliRuleList(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	limit, err := p.int64("limit")
	if err != nil {
		return err
	}
	skip, err := p.int64("skip")
	if err != nil {
		return err
	}
	rs, err := cl.ListRules(ctx, ns, int(skip), int(limit))
	if err != nil {
		return err
	}
	if mode == cliJSON {
		if rs == nil {
			rs = []client.Rule{}
		}
		return cliPrintJSON(out.stdout, rs)
	}
	cliPrintRules(out.stdout, rs)
	return nil
}

// cliPrintRules prints rules as a table.
func cliPrintRules(w io.Writer, rs []client.Rule) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintln(tw, "rules\tstatus\ttrigger\taction")
	for _, r := range rs {
		fmt.Fprintf(tw, "/%s/%s\t%s\t%s\t%s\n", r.Namespace, r.Name, r.Status, r.Trigger.Name, r.Action.Name)
	}
	tw.Flush()
}

func cliRuleDelete(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	r, err := cl.DeleteRule(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, r)
	}
	fmt.Fprintf(out.stdout, "ok: deleted rule %s\n", p.pos[0])
	return nil
}

func cliRuleStatus(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode, status string) error {
	r, err := cl.SetRuleStatus(ctx, ns, p.pos[0], status)
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, r)
	}
	verb := "enabled"
	if status == entity.RuleInactive {
		verb = "disabled"
	}
	fmt.Fprintf(out.stdout, "ok: %s rule %s\n", verb, p.pos[0])
	return nil
}
