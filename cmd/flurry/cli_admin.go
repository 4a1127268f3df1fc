package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/entity"
)

func init() {
	register("admin", "administer namespaces, keys and limits with the admin credential (wskadmin)", false, func(ctx context.Context, args []string) error {
		return cliAdmin(ctx, cliStd(), args)
	})
}

// adminAuthFile is the admin credential's file in a standalone's data dir.
const adminAuthFile = "admin.auth"

const cliAdminUsage = `usage: flurry admin GROUP COMMAND [flags]

Administers namespaces, their API keys, policies and admission limits, as
OpenWhisk's wskadmin does, through the API under /v1/admin. It needs the
admin credential, not a namespace's key: --auth, else env
FLURRY_ADMIN_AUTH, else the admin.auth file that flurry standalone keeps in
its data dir (--data-dir, default ~/.flurry/data).

commands:
  namespace create NAME [policy flags]   make a namespace; prints its key (uuid:key) last
  namespace list                         list namespaces
  namespace get NAME                     show a namespace, its keys and limits
  namespace set NAME [policy flags]      change a namespace's policies
  namespace delete NAME                  revoke its keys, remove its policies and limits
  key create NAMESPACE                   make another key; prints it (uuid:key) last
  key list NAMESPACE                     list a namespace's keys (uuids)
  key revoke NAMESPACE UUID              revoke a key
  limits set NAMESPACE [--concurrent N] [--per-minute N]
                                         set admission limits (0: unlimited; omitted: default)
  limits get NAMESPACE                   show the admission limits in force

policy flags:
  --network none|default       the network of the namespace's containers
  --event-subject PATTERN      a NATS subject pattern its message triggers may use (repeatable)
  --event-stream NAME          a JetStream stream its message triggers may consume (repeatable)
  --clear-event-subjects, --clear-event-streams   (set) remove every grant of that kind

Run "flurry admin GROUP COMMAND -h" for a command's flags.
`

// cliAdminSub is one "flurry admin GROUP COMMAND".
type cliAdminSub struct {
	synopsis string
	min, max int
	flags    []cliFlag
	run      func(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, mode cliMode) error
}

// cliAdminCommonFlags describes the common flags as flurry admin reads
// them (it parses cliCommonFlags; --auth is the admin credential here).
var cliAdminCommonFlags = []cliFlag{
	{name: "apihost", metavar: "URL", nargs: 1, usage: "API host (env FLURRY_API_HOST; default " + cliDefaultAPIHost + ")"},
	{name: "auth", short: "u", metavar: "UUID:KEY", nargs: 1, usage: "the admin credential (env " + adminAuthEnv + ", else admin.auth in --data-dir)"},
	{name: "output", short: "o", metavar: "FORMAT", nargs: 1, usage: "json: print the API's JSON only"},
	{name: "help", short: "h", usage: "show this help"},
}

var cliAdminDataDirFlag = cliFlag{name: "data-dir", nargs: 1, metavar: "DIR", usage: "a standalone's data dir holding admin.auth (default ~/.flurry/data)"}

var cliAdminPolicyFlags = []cliFlag{
	{name: "network", nargs: 1, metavar: "none|default", usage: "network policy of the namespace's containers"},
	{name: "event-subject", nargs: 1, metavar: "PATTERN", usage: "grant a NATS subject pattern to its message triggers (repeatable)"},
	{name: "event-stream", nargs: 1, metavar: "NAME", usage: "grant a JetStream stream to its message triggers (repeatable)"},
}

var cliAdminCommands = map[string]map[string]cliAdminSub{
	"namespace": {
		"create": {"flurry admin namespace create NAME [--network none|default] [--event-subject PATTERN ...] [--event-stream NAME ...]", 1, 1, cliAdminPolicyFlags, cliAdminNamespaceCreate},
		"list":   {"flurry admin namespace list", 0, 0, nil, cliAdminNamespaceList},
		"get":    {"flurry admin namespace get NAME", 1, 1, nil, cliAdminNamespaceGet},
		"set": {"flurry admin namespace set NAME [--network none|default] [--event-subject PATTERN ...] [--event-stream NAME ...] [--clear-event-subjects] [--clear-event-streams]", 1, 1,
			append(append([]cliFlag(nil), cliAdminPolicyFlags...),
				cliFlag{name: "clear-event-subjects", usage: "remove every subject grant"},
				cliFlag{name: "clear-event-streams", usage: "remove every stream grant"}), cliAdminNamespaceSet},
		"delete": {"flurry admin namespace delete NAME", 1, 1, nil, cliAdminNamespaceDelete},
	},
	"key": {
		"create": {"flurry admin key create NAMESPACE", 1, 1, nil, cliAdminKeyCreate},
		"list":   {"flurry admin key list NAMESPACE", 1, 1, nil, cliAdminKeyList},
		"revoke": {"flurry admin key revoke NAMESPACE UUID", 2, 2, nil, cliAdminKeyRevoke},
	},
	"limits": {
		"set": {"flurry admin limits set NAMESPACE [--concurrent N] [--per-minute N]", 1, 1, []cliFlag{
			{name: "concurrent", nargs: 1, metavar: "N", usage: "activations admitted and not finished (0: unlimited; omitted: the platform default)"},
			{name: "per-minute", nargs: 1, metavar: "N", usage: "invocations per minute (0: unlimited; omitted: the platform default)"},
		}, cliAdminLimitsSet},
		"get": {"flurry admin limits get NAMESPACE", 1, 1, nil, cliAdminLimitsGet},
	},
}

// cliAdmin runs "flurry admin ...". Exit status: 0 on success, 1 when the
// API answers an error, 2 for command-line mistakes.
func cliAdmin(ctx context.Context, out cliIO, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(out.stderr, cliAdminUsage)
		return usageErrorf("missing admin group (namespace, key, limits)")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out.stdout, cliAdminUsage)
		return nil
	}
	group, ok := cliAdminCommands[args[0]]
	if !ok {
		return usageErrorf("unknown admin group %q (namespace, key, limits)", args[0])
	}
	if len(args) < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "help" {
		fmt.Fprint(out.stdout, cliAdminUsage)
		if len(args) < 2 {
			return usageErrorf("missing admin %s command", args[0])
		}
		return nil
	}
	sub, ok := group[args[1]]
	if !ok {
		return usageErrorf("unknown admin %s command %q", args[0], args[1])
	}
	flags := append(append([]cliFlag(nil), sub.flags...), cliAdminDataDirFlag)
	p, err := cliParse(args[2:], flags)
	if err != nil {
		return err
	}
	if p.has("help") {
		fmt.Fprint(out.stdout, "usage: "+sub.synopsis+"\n")
		cliPrintFlags(out.stdout, "flags", flags)
		cliPrintFlags(out.stdout, "common flags", cliAdminCommonFlags)
		return nil
	}
	if err := p.positional(sub.min, sub.max, sub.synopsis); err != nil {
		return err
	}
	mode, err := cliOutputMode(p)
	if err != nil {
		return err
	}
	cl, err := cliAdminClient(p)
	if err != nil {
		return err
	}
	return sub.run(ctx, out, p, cl, mode)
}

// cliAdminClient makes a client with the admin credential: --auth, else
// FLURRY_ADMIN_AUTH, else admin.auth in --data-dir or the default data
// dir. FLURRY_AUTH is a tenant's key and is never used here.
func cliAdminClient(p *cliArgs) (*client.Client, error) {
	cfg, err := cliLoadConfig(p)
	if err != nil {
		return nil, err
	}
	auth := ""
	switch {
	case p.has("auth"):
		auth = p.str("auth")
	case os.Getenv(adminAuthEnv) != "":
		auth = os.Getenv(adminAuthEnv)
	default:
		dir := p.str("data-dir")
		if dir == "" {
			dir = defaultDataDir()
		}
		path := filepath.Join(dir, adminAuthFile)
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no admin credential: pass --auth UUID:KEY, set FLURRY_ADMIN_AUTH, or --data-dir of a standalone (%s does not exist)", path)
		}
		if err != nil {
			return nil, fmt.Errorf("admin credential: %w", err)
		}
		auth = strings.TrimSpace(string(b))
	}
	cl, err := client.New(cfg.APIHost, auth, client.WithUserAgent("flurry-cli"))
	if err != nil {
		return nil, fmt.Errorf("api host %q or admin credential: %w", cfg.APIHost, err)
	}
	return cl, nil
}

// cliAdminPolicy reads the policy flags; nil fields were not given.
func cliAdminPolicy(p *cliArgs) (client.NamespacePolicy, error) {
	var pol client.NamespacePolicy
	if p.has("network") {
		n := p.str("network")
		if n != entity.NetworkNone && n != entity.NetworkDefault {
			return pol, usageErrorf("--network must be %s or %s, not %q", entity.NetworkNone, entity.NetworkDefault, n)
		}
		pol.Network = &n
	}
	list := func(flag, clear string) *[]string {
		if !p.has(flag) && !p.has(clear) {
			return nil
		}
		vals := []string{}
		for _, v := range p.all(flag) {
			vals = append(vals, v[0])
		}
		return &vals
	}
	pol.EventSubjects = list("event-subject", "clear-event-subjects")
	pol.EventStreams = list("event-stream", "clear-event-streams")
	return pol, nil
}

// cliPrintNewKey prints a new key with "uuid:key" as the last line, so
// scripts can take it with tail -1.
func cliPrintNewKey(w io.Writer, what string, k *client.NewKey) {
	fmt.Fprintf(w, "ok: %s\n", what)
	fmt.Fprintf(w, "key %s of namespace %s (shown once; only its hash is stored):\n", k.Key.UUID, k.Key.Namespace)
	fmt.Fprintln(w, k.Auth)
}

func cliAdminNamespaceCreate(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, mode cliMode) error {
	pol, err := cliAdminPolicy(p)
	if err != nil {
		return err
	}
	n, k, err := cl.CreateNamespace(ctx, p.pos[0], pol)
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, map[string]any{"namespace": n, "key": k.Key, "auth": k.Auth})
	}
	cliPrintNewKey(out.stdout, "created namespace "+n.Name, k)
	return nil
}

func cliAdminNamespaceList(ctx context.Context, out cliIO, _ *cliArgs, cl *client.Client, mode cliMode) error {
	ns, err := cl.ListNamespaces(ctx)
	if err != nil {
		return err
	}
	if mode == cliJSON {
		if ns == nil {
			ns = []client.Namespace{}
		}
		return cliPrintJSON(out.stdout, ns)
	}
	tw := tabwriter.NewWriter(out.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "namespaces\tcreated\tnetwork\tevent grants")
	for _, n := range ns {
		created := "-"
		if n.Created > 0 {
			created = time.UnixMilli(n.Created).UTC().Format(time.DateTime)
		}
		grants := strings.Join(append(append([]string(nil), n.EventSubjects...), cliStreams(n.EventStreams)...), " ")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, created, n.Network, grants)
	}
	return tw.Flush()
}

// cliStreams marks stream grants apart from subject grants in listings.
func cliStreams(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		out = append(out, "stream:"+v)
	}
	return out
}

func cliAdminNamespaceGet(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, mode cliMode) error {
	info, err := cl.GetNamespace(ctx, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliText {
		fmt.Fprintf(out.stdout, "ok: got namespace %s\n", info.Namespace.Name)
	}
	return cliPrintJSON(out.stdout, info)
}

func cliAdminNamespaceSet(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, mode cliMode) error {
	pol, err := cliAdminPolicy(p)
	if err != nil {
		return err
	}
	if pol.Network == nil && pol.EventSubjects == nil && pol.EventStreams == nil {
		return usageErrorf("nothing to set: give --network, --event-subject, --event-stream or a --clear flag")
	}
	n, err := cl.SetNamespace(ctx, p.pos[0], pol)
	if err != nil {
		return err
	}
	if mode == cliText {
		fmt.Fprintf(out.stdout, "ok: updated namespace %s\n", n.Name)
	}
	return cliPrintJSON(out.stdout, n)
}

func cliAdminNamespaceDelete(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, mode cliMode) error {
	n, keys, err := cl.DeleteNamespace(ctx, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		if keys == nil {
			keys = []client.Key{}
		}
		return cliPrintJSON(out.stdout, map[string]any{"namespace": n, "revokedKeys": keys})
	}
	fmt.Fprintf(out.stdout, "ok: deleted namespace %s (%d keys revoked; its actions, triggers, rules and records are kept)\n", n.Name, len(keys))
	return nil
}

func cliAdminKeyCreate(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, mode cliMode) error {
	k, err := cl.CreateKey(ctx, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, k)
	}
	cliPrintNewKey(out.stdout, "created a key of namespace "+k.Key.Namespace, k)
	return nil
}

func cliAdminKeyList(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, mode cliMode) error {
	keys, err := cl.ListKeys(ctx, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		if keys == nil {
			keys = []client.Key{}
		}
		return cliPrintJSON(out.stdout, keys)
	}
	fmt.Fprintf(out.stdout, "keys of namespace %s\n", p.pos[0])
	for _, k := range keys {
		fmt.Fprintln(out.stdout, k.UUID)
	}
	return nil
}

func cliAdminKeyRevoke(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, mode cliMode) error {
	k, err := cl.RevokeKey(ctx, p.pos[0], p.pos[1])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, k)
	}
	fmt.Fprintf(out.stdout, "ok: revoked key %s of namespace %s\n", k.UUID, k.Namespace)
	return nil
}

// cliAdminLimit reads a limit flag: nil when absent.
func cliAdminLimit(p *cliArgs, name string) (*int64, error) {
	if !p.has(name) {
		return nil, nil
	}
	n, err := strconv.ParseInt(p.str(name), 10, 64)
	if err != nil || n < 0 {
		return nil, usageErrorf("--%s must be a non-negative integer, not %q", name, p.str(name))
	}
	return &n, nil
}

func cliAdminLimitsSet(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, mode cliMode) error {
	var l client.NamespaceLimits
	var err error
	if l.ConcurrentInvocations, err = cliAdminLimit(p, "concurrent"); err != nil {
		return err
	}
	if l.InvocationsPerMinute, err = cliAdminLimit(p, "per-minute"); err != nil {
		return err
	}
	got, err := cl.SetLimits(ctx, p.pos[0], l)
	if err != nil {
		return err
	}
	return cliPrintLimits(out.stdout, mode, "ok: set limits of namespace "+p.pos[0], got)
}

func cliAdminLimitsGet(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, mode cliMode) error {
	got, err := cl.GetLimits(ctx, p.pos[0])
	if err != nil {
		return err
	}
	return cliPrintLimits(out.stdout, mode, "limits of namespace "+p.pos[0], got)
}

// cliPrintLimits prints limits in force; 0 reads "unlimited".
func cliPrintLimits(w io.Writer, mode cliMode, title string, l *client.NamespaceLimits) error {
	if mode == cliJSON {
		return cliPrintJSON(w, l)
	}
	show := func(p *int64) string {
		switch {
		case p == nil:
			return "default"
		case *p == 0:
			return "unlimited"
		}
		return strconv.FormatInt(*p, 10)
	}
	fmt.Fprintln(w, title)
	fmt.Fprintf(w, "  concurrent  %s\n", show(l.ConcurrentInvocations))
	fmt.Fprintf(w, "  per minute  %s\n", show(l.InvocationsPerMinute))
	return nil
}
