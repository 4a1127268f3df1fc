package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/client"
)

func init() {
	register("deadletter", "failed asynchronous activations: list|get|redrive|delete", false, func(ctx context.Context, args []string) error {
		return cliDeadLetter(ctx, cliStd(), args)
	})
}

const cliDeadLetterUsage = `usage: flurry deadletter COMMAND [flags]

Dead letters are asynchronous activations of actions with a retry policy
(flurry action create --retry-attempts N) that failed after their last
attempt. They are kept 14 days.

commands:
  list           list dead letters, newest first
  get ID         show a dead letter (the activation's params and final record)
  redrive ID     start a new activation with the same params; removes the entry
  delete ID      remove a dead letter

Run "flurry deadletter COMMAND -h" for a command's flags.
`

var cliDeadLetterCommands = map[string]cliSubcommand{
	"list": {"flurry deadletter list [--limit N] [--skip N]", 0, 0, []cliFlag{
		{name: "limit", short: "l", nargs: 1, metavar: "N", usage: "at most N entries (server default 30, max 200)"},
		{name: "skip", short: "s", nargs: 1, metavar: "N", usage: "skip the N newest entries"},
	}, cliDeadLetterList},
	"get":     {"flurry deadletter get ID", 1, 1, nil, cliDeadLetterGet},
	"redrive": {"flurry deadletter redrive ID", 1, 1, nil, cliDeadLetterRedrive},
	"delete":  {"flurry deadletter delete ID", 1, 1, nil, cliDeadLetterDelete},
}

// cliDeadLetter runs "flurry deadletter ...". Exit status: 0 on success,
// 1 when the API answers an error, 2 for command-line mistakes.
func cliDeadLetter(ctx context.Context, out cliIO, args []string) error {
	return cliRunGroup(ctx, out, "deadletter", cliDeadLetterUsage, "list, get, redrive, delete", cliDeadLetterCommands, args)
}

func cliDeadLetterList(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	limit, err := p.int64("limit")
	if err != nil {
		return err
	}
	skip, err := p.int64("skip")
	if err != nil {
		return err
	}
	dls, err := cl.ListDeadLetters(ctx, ns, int(skip), int(limit))
	if err != nil {
		return err
	}
	if mode == cliJSON {
		if dls == nil {
			dls = []activation.DeadLetter{}
		}
		return cliPrintJSON(out.stdout, dls)
	}
	cliPrintDeadLetters(out.stdout, dls)
	return nil
}

// cliPrintDeadLetters prints dead letters as a table, newest first.
func cliPrintDeadLetters(w io.Writer, dls []activation.DeadLetter) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintln(tw, "Datetime\tActivation ID\tAttempts\tStatus\tReason\tEntity")
	for i := range dls {
		dl := &dls[i]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", time.UnixMilli(dl.Time).Format(time.DateTime), dl.ActivationID,
			dl.Attempts, cliStatus(&dl.Record), dl.Reason, dl.Namespace+"/"+dl.Name)
	}
	tw.Flush()
}

func cliDeadLetterGet(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	dl, err := cl.GetDeadLetter(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliText {
		fmt.Fprintf(out.stdout, "ok: got dead letter %s\n", p.pos[0])
	}
	return cliPrintJSON(out.stdout, dl)
}

func cliDeadLetterRedrive(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	id, err := cl.RedriveDeadLetter(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, map[string]string{"activationId": id})
	}
	fmt.Fprintf(out.stdout, "ok: re-drove %s with id %s\n", p.pos[0], id)
	return nil
}

func cliDeadLetterDelete(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	dl, err := cl.DeleteDeadLetter(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, dl)
	}
	fmt.Fprintf(out.stdout, "ok: deleted dead letter %s\n", p.pos[0])
	return nil
}
