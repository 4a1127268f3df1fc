package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/flurryfn/flurry/internal/client"
)

func init() {
	register("route", "HTTP routes to actions: create|update|get|list|delete", false, func(ctx context.Context, args []string) error {
		return cliRoute(ctx, cliStd(), args)
	})
}

const cliRouteUsage = `usage: flurry route COMMAND [flags]

A route maps HTTP methods and a path to an action, served at
APIHOST/r/NAMESPACE/PATH. PATH segments are literal text, {name}
parameters, or a last * that matches the rest of the path. The action
gets the request (method, path, pathParams, query, headers, body) and
returns {statusCode, headers, body}. Routes need the namespace's key
unless created with --public.

commands:
  create METHOD[,METHOD] PATH ACTION   create a route (e.g. GET /users/{id} get-user)
  update METHOD[,METHOD] PATH ACTION   create or replace a route
  get NAME                             show a route
  list                                 list the namespace's routes
  delete NAME                          remove a route

Run "flurry route COMMAND -h" for a command's flags.
`

var cliRoutePutFlags = []cliFlag{
	{name: "name", short: "n", nargs: 1, metavar: "NAME", usage: "the route's name (default: from methods and path, e.g. get-users-id)"},
	{name: "public", nargs: 0, usage: "serve without a key"},
}

var cliRouteCommands = map[string]cliSubcommand{
	"create": {"flurry route create [--public] [--name NAME] METHOD[,METHOD] PATH ACTION", 3, 3, cliRoutePutFlags,
		func(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
			return cliRoutePut(ctx, out, p, cl, ns, mode, false)
		}},
	"update": {"flurry route update [--public] [--name NAME] METHOD[,METHOD] PATH ACTION", 3, 3, cliRoutePutFlags,
		func(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
			return cliRoutePut(ctx, out, p, cl, ns, mode, true)
		}},
	"get":    {"flurry route get NAME", 1, 1, nil, cliRouteGet},
	"list":   {"flurry route list", 0, 0, nil, cliRouteList},
	"delete": {"flurry route delete NAME", 1, 1, nil, cliRouteDelete},
}

// cliRoute runs "flurry route ...". Exit status: 0 on success, 1 when the
// API answers an error, 2 for command-line mistakes.
func cliRoute(ctx context.Context, out cliIO, args []string) error {
	return cliRunGroup(ctx, out, "route", cliRouteUsage, "create, update, get, list, delete", cliRouteCommands, args)
}

func cliRoutePut(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode, update bool) error {
	var methods []string
	for _, m := range strings.Split(p.pos[0], ",") {
		if m = strings.ToUpper(strings.TrimSpace(m)); m != "" {
			methods = append(methods, m)
		}
	}
	if len(methods) == 0 {
		return usageErrorf("no method in %q", p.pos[0])
	}
	path, action := p.pos[1], p.pos[2]
	if !strings.HasPrefix(path, "/") {
		return usageErrorf("path %q must start with /", path)
	}
	name := p.str("name")
	if name == "" {
		name = client.DefaultRouteName(methods, path)
	}
	r, err := cl.PutRoute(ctx, ns, name, client.Route{Methods: methods, Path: path, Action: action, Public: p.has("public")}, update)
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, r)
	}
	verb := "created"
	if update {
		verb = "updated"
	}
	fmt.Fprintf(out.stdout, "ok: %s route %s: %s %s -> %s\n%s\n", verb, r.Name, strings.Join(r.Methods, ","), r.Path, r.Action, cl.RouteURL(r))
	return nil
}

func cliRouteGet(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	r, err := cl.GetRoute(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliText {
		fmt.Fprintf(out.stdout, "ok: got route %s\n", r.Name)
	}
	return cliPrintJSON(out.stdout, r)
}

func cliRouteList(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	rs, err := cl.ListRoutes(ctx, ns)
	if err != nil {
		return err
	}
	if mode == cliJSON {
		if rs == nil {
			rs = []client.Route{}
		}
		return cliPrintJSON(out.stdout, rs)
	}
	cliPrintRoutes(out.stdout, rs)
	return nil
}

// cliPrintRoutes prints routes as a table.
func cliPrintRoutes(w io.Writer, rs []client.Route) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintln(tw, "Name\tMethods\tPath\tAction\tAccess")
	for _, r := range rs {
		access := "key"
		if r.Public {
			access = "public"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, strings.Join(r.Methods, ","), r.Path, r.Action, access)
	}
	tw.Flush()
}

func cliRouteDelete(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	r, err := cl.DeleteRoute(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, r)
	}
	fmt.Fprintf(out.stdout, "ok: deleted route %s\n", r.Name)
	return nil
}
