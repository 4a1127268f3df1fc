package main

import (
	"context"
	"fmt"

	"github.com/flurryfn/flurry/internal/client"
)

// cliSubcommand is one command of a CLI group ("flurry rule create", ...):
// its synopsis, the bounds of its positional arguments, its flags, and
// what it runs with a configured client.
type cliSubcommand struct {
	synopsis string
	min, max int
	flags    []cliFlag
	run      func(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error
}

// cliRunGroup runs "flurry GROUP COMMAND ...": help, argument and flag
// parsing, configuration, then the command. names lists the commands, in
// the order the usage shows them, for the unknown-command error.
func cliRunGroup(ctx context.Context, out cliIO, group, usage, names string, commands map[string]cliSubcommand, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(out.stderr, usage)
		return usageErrorf("missing %s command", group)
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out.stdout, usage)
		return nil
	}
	sub, ok := commands[args[0]]
	if !ok {
		return usageErrorf("unknown %s command %q (%s)", group, args[0], names)
	}
	p, err := cliParse(args[1:], sub.flags)
	if err != nil {
		return err
	}
	if p.has("help") {
		return out.help("usage: "+sub.synopsis+"\n", sub.flags)
	}
	if err := p.positional(sub.min, sub.max, sub.synopsis); err != nil {
		return err
	}
	mode, err := cliOutputMode(p)
	if err != nil {
		return err
	}
	cfg, err := cliLoadConfig(p)
	if err != nil {
		return err
	}
	cl, err := cfg.client()
	if err != nil {
		return err
	}
	return sub.run(ctx, out, p, cl, cfg.Namespace, mode)
}
