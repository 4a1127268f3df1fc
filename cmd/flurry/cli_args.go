package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The client commands take wsk-style arguments that Go's flag package
// cannot parse: flags with two values (-p KEY VALUE) and flags after
// positional arguments. cliParse handles both.

// cliFlag declares one flag of a client command.
type cliFlag struct {
	name  string // long name, used as --name (or -name)
	short string // one letter used as -x, or ""
	// nargs is the number of values: 0 (boolean), 1 or 2.
	nargs   int
	metavar string
	usage   string
	hidden  bool
}

// cliArgs is a parsed command line.
type cliArgs struct {
	pos  []string
	vals map[string][][]string // long name → values of each occurrence
}

// errUsage marks command-line mistakes; they exit with status 2.
var errUsage = errors.New("usage")

func usageErrorf(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)}
}

// cliCommonFlags are accepted by every client command.
var cliCommonFlags = []cliFlag{
	{name: "apihost", metavar: "URL", nargs: 1, usage: "API host (env FLURRY_API_HOST; default " + cliDefaultAPIHost + ")"},
	{name: "auth", short: "u", metavar: "UUID:KEY", nargs: 1, usage: "API key (env FLURRY_AUTH)"},
	{name: "namespace", metavar: "NS", nargs: 1, usage: "namespace (env FLURRY_NAMESPACE; default _, the key's own)"},
	{name: "output", short: "o", metavar: "FORMAT", nargs: 1, usage: "json: print the API's JSON only"},
	{name: "help", short: "h", usage: "show this help"},
}

// cliParse parses args against defs plus the common flags. A flag may come
// before or after positional arguments; "--" ends the flags; a one-value
// flag also takes the form --name=value and a boolean --name=false.
func cliParse(args []string, defs []cliFlag) (*cliArgs, error) {
	all := append(append([]cliFlag(nil), defs...), cliCommonFlags...)
	lookup := func(s string) (cliFlag, bool) {
		for _, d := range all {
			if s == d.name || (d.short != "" && s == d.short) {
				return d, true
			}
		}
		return cliFlag{}, false
	}
	p := &cliArgs{vals: map[string][][]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			p.pos = append(p.pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			p.pos = append(p.pos, a)
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, inline, hasInline := strings.Cut(name, "=")
		d, ok := lookup(name)
		if !ok {
			return nil, usageErrorf("unknown flag %s", a)
		}
		var vals []string
		switch {
		case hasInline && d.nargs == 0:
			b, err := strconv.ParseBool(inline)
			if err != nil {
				return nil, usageErrorf("flag --%s takes true or false, not %q", d.name, inline)
			}
			if !b {
				delete(p.vals, d.name)
				continue
			}
		case hasInline && d.nargs == 1:
			vals = []string{inline}
		case hasInline:
			return nil, usageErrorf("flag --%s takes %d values: --%s %s", d.name, d.nargs, d.name, d.metavar)
		default:
			if i+d.nargs >= len(args) {
				return nil, usageErrorf("flag %s needs %d value(s): %s", a, d.nargs, d.metavar)
			}
			if d.nargs > 0 {
				vals = args[i+1 : i+1+d.nargs]
				i += d.nargs
			}
		}
		p.vals[d.name] = append(p.vals[d.name], vals)
	}
	return p, nil
}

// has reports whether flag name was given (and not set to false).
func (p *cliArgs) has(name string) bool { return len(p.vals[name]) > 0 }

// str returns the last value of a one-value flag, or "".
func (p *cliArgs) str(name string) string {
	v := p.vals[name]
	if len(v) == 0 || len(v[len(v)-1]) == 0 {
		return ""
	}
	return v[len(v)-1][0]
}

// all returns every occurrence of a flag.
func (p *cliArgs) all(name string) [][]string { return p.vals[name] }

// int64 returns a non-negative integer flag, or 0 when absent.
func (p *cliArgs) int64(name string) (int64, error) {
	if !p.has(name) {
		return 0, nil
	}
	n, err := strconv.ParseInt(p.str(name), 10, 64)
	if err != nil || n < 0 {
		return 0, usageErrorf("--%s must be a non-negative integer, not %q", name, p.str(name))
	}
	return n, nil
}

// duration returns a duration flag given in Go syntax ("30s") or as a plain
// number of defaultUnit.
func (p *cliArgs) duration(name string, defaultUnit time.Duration) (time.Duration, error) {
	if !p.has(name) {
		return 0, nil
	}
	s := p.str(name)
	if n, err := strconv.ParseFloat(s, 64); err == nil && n >= 0 {
		return time.Duration(n * float64(defaultUnit)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, usageErrorf("--%s must be a duration like 30s or a number, not %q", name, s)
	}
	return d, nil
}

// positional checks the number of positional arguments.
func (p *cliArgs) positional(min, max int, synopsis string) error {
	if len(p.pos) < min || len(p.pos) > max {
		return usageErrorf("expected %s", synopsis)
	}
	return nil
}
