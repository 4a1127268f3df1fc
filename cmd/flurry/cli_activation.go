package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/client"
)

func init() {
	register("activation", "read activation records: list|get|logs|result|poll", false, func(ctx context.Context, args []string) error {
		return cliActivation(ctx, cliStd(), args)
	})
}

const cliActivationUsage = `usage: flurry activation COMMAND [flags]

commands:
  list [NAME]    list activation records, newest first
  get ID         show an activation record
  logs ID        print an activation's log lines
  result ID      print an activation's result
  poll [NAME]    print new activations' logs until interrupted (or --exit)

Run "flurry activation COMMAND -h" for a command's flags.
`

var cliActivationCommands = map[string]cliSubcommand{
	"list": {"flurry activation list [NAME] [--limit N] [--skip N] [--since MS] [--upto MS]", 0, 1, []cliFlag{
		{name: "limit", short: "l", nargs: 1, metavar: "N", usage: "at most N records (server default 30, max 200)"},
		{name: "skip", short: "s", nargs: 1, metavar: "N", usage: "skip the N newest records"},
		{name: "since", nargs: 1, metavar: "MS", usage: "only records started at or after this Unix time in ms"},
		{name: "upto", nargs: 1, metavar: "MS", usage: "only records started at or before this Unix time in ms"},
	}, cliActivationList},
	"get":    {"flurry activation get ID", 1, 1, nil, cliActivationGet},
	"logs":   {"flurry activation logs ID", 1, 1, nil, cliActivationLogs},
	"result": {"flurry activation result ID", 1, 1, nil, cliActivationResult},
	"poll": {"flurry activation poll [NAME] [--exit SECONDS] [--since-seconds N]", 0, 1, []cliFlag{
		{name: "exit", short: "e", nargs: 1, metavar: "SECONDS", usage: "stop after this many seconds (or a duration like 90s; default: until interrupted)"},
		{name: "since-seconds", nargs: 1, metavar: "N", usage: "also show activations started up to N seconds before now"},
		{name: "interval", nargs: 1, metavar: "DURATION", usage: "time between polls (default 2s)", hidden: true},
	}, cliActivationPoll},
}

// cliActivation runs "flurry activation ...". Exit status: 0 on success,
// 1 when the API answers an error, 2 for command-line mistakes.
func cliActivation(ctx context.Context, out cliIO, args []string) error {
	return cliRunGroup(ctx, out, "activation", cliActivationUsage, "list, get, logs, result, poll", cliActivationCommands, args)
}

func cliActivationList(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	var o client.ListOptions
	if len(p.pos) > 0 {
		o.Name = p.pos[0]
	}
	var n [4]int64
	for i, f := range []string{"limit", "skip", "since", "upto"} {
		var err error
		if n[i], err = p.int64(f); err != nil {
			return err
		}
	}
	o.Limit, o.Skip = int(n[0]), int(n[1])
	if n[2] > 0 {
		o.Since = time.UnixMilli(n[2])
	}
	if n[3] > 0 {
		o.Upto = time.UnixMilli(n[3])
	}
	recs, err := cl.ListActivations(ctx, ns, o)
	if err != nil {
		return err
	}
	if mode == cliJSON {
		if recs == nil {
			recs = []activation.Record{}
		}
		return cliPrintJSON(out.stdout, recs)
	}
	cliPrintActivations(out.stdout, recs)
	return nil
}

func cliActivationGet(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	rec, err := cl.GetActivation(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliText {
		fmt.Fprintf(out.stdout, "ok: got activation %s\n", p.pos[0])
	}
	return cliPrintJSON(out.stdout, rec)
}

func cliActivationLogs(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	logs, err := cl.GetActivationLogs(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		if logs == nil {
			logs = []string{}
		}
		return cliPrintJSON(out.stdout, map[string][]string{"logs": logs})
	}
	for _, l := range logs {
		fmt.Fprintln(out.stdout, l)
	}
	return nil
}

// cliActivationResult prints the result object; --output json prints the
// whole response (status, statusCode, success, result).
func cliActivationResult(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	res, err := cl.GetActivationResult(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, res)
	}
	if len(res.Result) == 0 {
		return cliPrintJSON(out.stdout, json.RawMessage("{}"))
	}
	return cliPrintJSON(out.stdout, res.Result)
}

// cliActivationPoll lists new records every interval and prints each one's
// logs once (--output json: one record per line). Interrupting it or
// reaching --exit ends it with status 0; transient errors are reported and
// polling goes on, while API refusals (4xx) end it.
func cliActivationPoll(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	exit, err := p.duration("exit", time.Second)
	if err != nil {
		return err
	}
	back, err := p.duration("since-seconds", time.Second)
	if err != nil {
		return err
	}
	interval, err := p.duration("interval", time.Second)
	if err != nil {
		return err
	}
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if exit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, exit)
		defer cancel()
	}
	o := client.ListOptions{Since: time.Now().Add(-back), Limit: 200}
	if len(p.pos) > 0 {
		o.Name = p.pos[0]
	}
	if mode == cliText {
		fmt.Fprintln(out.stderr, "Enter Ctrl-c to exit.")
	}
	// Records are listed by start time but written when they end, so a
	// poll keeps the same window and remembers what it printed.
	seen := map[string]bool{}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		err := cliPollOnce(ctx, out, cl, ns, o, seen, mode)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if s := client.StatusCode(err); s >= 400 && s < 500 && s != 429 {
				return err
			}
			fmt.Fprintf(out.stderr, "poll: %v\n", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func cliPollOnce(ctx context.Context, out cliIO, cl *client.Client, ns string, o client.ListOptions, seen map[string]bool, mode cliMode) error {
	recs, err := cl.ListActivations(ctx, ns, o)
	if err != nil {
		return err
	}
	for i := len(recs) - 1; i >= 0; i-- { // oldest first
		id := recs[i].ActivationID
		if seen[id] {
			continue
		}
		rec, err := cl.GetActivation(ctx, ns, id)
		if client.StatusCode(err) == 404 {
			continue // listed but expired since
		}
		if err != nil {
			return err
		}
		seen[id] = true
		if mode == cliJSON {
			b, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			fmt.Fprintf(out.stdout, "%s\n", b)
			continue
		}
		fmt.Fprintf(out.stdout, "\nActivation: '%s' (%s) %s\n", rec.Name, rec.ActivationID, cliStatus(rec))
		for _, l := range rec.Logs {
			fmt.Fprintln(out.stdout, l)
		}
	}
	return nil
}
