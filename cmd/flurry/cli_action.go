package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/flurryfn/flurry/actions/gowrap"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/entity"
)

func init() {
	register("action", "manage actions: create|update|get|list|delete|invoke", false, func(ctx context.Context, args []string) error {
		return cliAction(ctx, cliStd(), args)
	})
}

// cliBuildGo compiles Go source (a file or a directory) into an actionloop
// executable; tests replace it to stay fast.
var cliBuildGo = gowrap.Build

const cliActionUsage = `usage: flurry action COMMAND [flags]

commands:
  create NAME [FILE]   create an action (FILE: Go source file or directory,
                       .zip, or Linux executable; none with --docker)
  update NAME [FILE]   create or replace an action; without FILE and
                       --docker only the given parameters, annotations and
                       limits change
  get NAME             show an action (--code to include its code)
  list                 list actions
  delete NAME          delete an action
  invoke NAME          run an action

Run "flurry action COMMAND -h" for a command's flags.
`

var (
	cliParamFlags = []cliFlag{
		{name: "param", short: "p", nargs: 2, metavar: "KEY VALUE", usage: "parameter; VALUE is JSON if it parses, else a string (repeatable)"},
		{name: "param-file", short: "P", nargs: 1, metavar: "FILE", usage: "JSON object file of parameters (-p overrides)"},
	}
	cliPutFlags = append([]cliFlag{
		{name: "kind", nargs: 1, metavar: "KIND", usage: "runtime kind (default from FILE: .py python:3, .js nodejs, else go)"},
		{name: "main", nargs: 1, metavar: "NAME", usage: "entry point (Go: the function compiled in)"},
		{name: "docker", nargs: 1, metavar: "IMAGE", usage: "run IMAGE as a blackbox action"},
		{name: "annotation", short: "a", nargs: 2, metavar: "KEY VALUE", usage: "annotation, VALUE as for -p (repeatable)"},
		{name: "timeout", short: "t", nargs: 1, metavar: "MS", usage: "time limit in milliseconds"},
		{name: "memory", short: "m", nargs: 1, metavar: "MB", usage: "memory limit in MiB"},
		{name: "concurrency", short: "c", nargs: 1, metavar: "N", usage: "activations one container runs at once"},
	}, append(cliAsyncFlags, cliParamFlags...)...)
	// cliAsyncFlags set the retry policy and destinations of asynchronous
	// (non-blocking) activations; on update, flags not given keep the
	// action's current values.
	cliAsyncFlags = []cliFlag{
		{name: "retry-attempts", nargs: 1, metavar: "N", usage: "attempts of a failing asynchronous activation, the first included (at most 10; 0 removes the retry policy)"},
		{name: "retry-backoff", nargs: 1, metavar: "MS", usage: "delay before the first retry in ms, doubled per retry, with jitter (default 1000)"},
		{name: "retry-max-backoff", nargs: 1, metavar: "MS", usage: "largest delay between retries in ms (default 300000)"},
		{name: "max-event-age", nargs: 1, metavar: "MS", usage: "no retries once the activation is this old in ms (default: no limit)"},
		{name: "on-success", nargs: 1, metavar: "SUBJECT", usage: "NATS subject inside the namespace's events.NAMESPACE.> (or a grant) that gets the record of a successful asynchronous activation (\"\" removes it)"},
		{name: "on-failure", nargs: 1, metavar: "SUBJECT", usage: "NATS subject inside the namespace's events.NAMESPACE.> (or a grant) that gets the record of a failed asynchronous activation after its retries (\"\" removes it)"},
	}
	cliInvokeFlags = append([]cliFlag{
		{name: "blocking", short: "b", usage: "wait for the activation and print its record"},
		{name: "result", short: "r", usage: "wait and print only the result (implies --blocking)"},
		{name: "timeout", nargs: 1, metavar: "DURATION", usage: "how long a blocking call waits (30s, or milliseconds; default: the server's 60s)"},
	}, cliParamFlags...)
)

var cliActionCommands = map[string]struct {
	synopsis string
	flags    []cliFlag
	run      func(ctx context.Context, out cliIO, p *cliArgs, cfg cliConfig, mode cliMode) error
}{
	"create": {"flurry action create NAME [FILE] [flags]", cliPutFlags, func(ctx context.Context, out cliIO, p *cliArgs, cfg cliConfig, mode cliMode) error {
		return cliActionPut(ctx, out, p, cfg, mode, false)
	}},
	"update": {"flurry action update NAME [FILE] [flags]", cliPutFlags, func(ctx context.Context, out cliIO, p *cliArgs, cfg cliConfig, mode cliMode) error {
		return cliActionPut(ctx, out, p, cfg, mode, true)
	}},
	"get":    {"flurry action get NAME [--code]", []cliFlag{{name: "code", usage: "include the code (base64 when binary)"}}, cliActionGet},
	"list":   {"flurry action list [--limit N] [--skip N]", []cliFlag{{name: "limit", short: "l", nargs: 1, metavar: "N", usage: "at most N actions (server default 30, max 200)"}, {name: "skip", short: "s", nargs: 1, metavar: "N", usage: "skip the first N actions"}}, cliActionList},
	"delete": {"flurry action delete NAME", nil, cliActionDelete},
	"invoke": {"flurry action invoke NAME [-p KEY VALUE]... [-P FILE] [-b | -r] [--timeout D]", cliInvokeFlags, cliActionInvoke},
}

// cliAction runs "flurry action ...". Exit status: 0 on success, 1 when
// the API answers an error or an invoked activation failed (its result or
// record is still printed), 2 for command-line mistakes.
func cliAction(ctx context.Context, out cliIO, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(out.stderr, cliActionUsage)
		return usageErrorf("missing action command")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out.stdout, cliActionUsage)
		return nil
	}
	sub, ok := cliActionCommands[args[0]]
	if !ok {
		return usageErrorf("unknown action command %q (create, update, get, list, delete, invoke)", args[0])
	}
	p, err := cliParse(args[1:], sub.flags)
	if err != nil {
		return err
	}
	if p.has("help") {
		return out.help("usage: "+sub.synopsis+"\n", sub.flags)
	}
	min, max := 1, 1
	switch args[0] {
	case "list":
		min, max = 0, 0
	case "create", "update":
		max = 2
	}
	if err := p.positional(min, max, sub.synopsis); err != nil {
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
	return sub.run(ctx, out, p, cfg, mode)
}

// cliValue turns a command-line value into JSON: itself when it is valid
// JSON (numbers, booleans, objects, quoted strings), else a JSON string.
func cliValue(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		var buf bytes.Buffer
		json.Compact(&buf, []byte(s))
		return buf.Bytes()
	}
	b, _ := json.Marshal(s)
	return b
}

// cliKeyValues collects -P FILE (when fileFlag is set) and then the
// two-value flag, later keys replacing earlier ones in place.
func cliKeyValues(p *cliArgs, flag, fileFlag string) ([]entity.KeyValue, error) {
	var kvs []entity.KeyValue
	idx := map[string]int{}
	add := func(k string, v json.RawMessage) {
		if i, ok := idx[k]; ok {
			kvs[i].Value = v
			return
		}
		idx[k] = len(kvs)
		kvs = append(kvs, entity.KeyValue{Key: k, Value: v})
	}
	if fileFlag != "" && p.has(fileFlag) {
		path := p.str(fileFlag)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("parameter file: %w", err)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return nil, fmt.Errorf("parameter file %s must hold a JSON object: %w", path, err)
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			add(k, obj[k])
		}
	}
	for _, kv := range p.all(flag) {
		add(kv[0], cliValue(kv[1]))
	}
	return kvs, nil
}

// cliParamsObject turns parameters into the JSON object an invoke sends.
func cliParamsObject(kvs []entity.KeyValue) json.RawMessage {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, kv := range kvs {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(kv.Key)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(kv.Value)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// cliExec builds the exec part of a create or update from FILE and the
// flags; nil means "keep the code" (update without FILE).
//
//   - --docker IMAGE: kind blackbox; FILE, if any, is sent as binary code.
//   - FILE.go or a directory: compiled with gowrap into an actionloop
//     executable; kind go (or --kind), binary.
//   - FILE.zip: binary zip; kind --kind, default go.
//   - a Linux (ELF) executable: kind go (or --kind), binary.
//   - any other file with a --kind other than go: sent as text code;
//     without --kind, FILE.py is python:3 and FILE.js is nodejs, as wsk does.
func cliExec(ctx context.Context, p *cliArgs, file string) (*client.ExecSpec, error) {
	kind := p.str("kind")
	if kind == "" {
		switch strings.ToLower(filepath.Ext(file)) {
		case ".py":
			kind = entity.KindPython
		case ".js":
			kind = entity.KindNodejs
		}
	}
	exec := &client.ExecSpec{Kind: kind, Main: p.str("main")}
	if exec.Kind == "" {
		exec.Kind = entity.KindGo
	}
	if p.has("docker") {
		exec.Kind, exec.Image = entity.KindBlackbox, p.str("docker")
		if file != "" {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, err
			}
			exec.Code, exec.Binary = base64.StdEncoding.EncodeToString(b), true
		}
		return exec, nil
	}
	if file == "" {
		return nil, nil
	}
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	var code []byte
	switch {
	case st.IsDir() || strings.HasSuffix(file, ".go"):
		// An empty main leaves the choice of entry point to gowrap.
		if code, err = cliBuildGo(ctx, file, exec.Main); err != nil {
			return nil, fmt.Errorf("build %s: %w", file, err)
		}
		exec.Binary = true
	case strings.EqualFold(filepath.Ext(file), ".zip"):
		if code, err = os.ReadFile(file); err != nil {
			return nil, err
		}
		exec.Binary = true
	default:
		if code, err = os.ReadFile(file); err != nil {
			return nil, err
		}
		switch {
		case bytes.HasPrefix(code, []byte("\x7fELF")):
			exec.Binary = true
		case kind != "" && kind != entity.KindGo:
			exec.Code = string(code)
			return exec, nil
		default:
			return nil, fmt.Errorf("%s is not Go source, a directory, a .zip or a Linux executable (give --kind for source of another runtime)", file)
		}
	}
	exec.Code = base64.StdEncoding.EncodeToString(code)
	return exec, nil
}

func cliActionPut(ctx context.Context, out cliIO, p *cliArgs, cfg cliConfig, mode cliMode, update bool) error {
	name, file := p.pos[0], ""
	if len(p.pos) > 1 {
		file = p.pos[1]
	}
	if !update && file == "" && !p.has("docker") {
		return usageErrorf("flurry action create NAME FILE: FILE is required unless --docker IMAGE")
	}
	cl, err := cfg.client()
	if err != nil {
		return err
	}
	var spec client.ActionSpec
	if spec.Exec, err = cliExec(ctx, p, file); err != nil {
		return err
	}
	if spec.Parameters, err = cliKeyValues(p, "param", "param-file"); err != nil {
		return err
	}
	if spec.Annotations, err = cliKeyValues(p, "annotation", ""); err != nil {
		return err
	}
	var l client.LimitsSpec
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"timeout", &l.Timeout}, {"memory", &l.Memory}, {"concurrency", &l.Concurrency}} {
		if *f.dst, err = p.int64(f.name); err != nil {
			return err
		}
	}
	if l != (client.LimitsSpec{}) {
		spec.Limits = &l
	}
	if err := cliAsync(ctx, p, cl, cfg.Namespace, name, update, &spec); err != nil {
		return err
	}
	a, err := cl.PutAction(ctx, cfg.Namespace, name, spec, update)
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, a)
	}
	verb := "created"
	if update {
		verb = "updated"
	}
	fmt.Fprintf(out.stdout, "ok: %s action %s\n", verb, name)
	return nil
}

func cliActionGet(ctx context.Context, out cliIO, p *cliArgs, cfg cliConfig, mode cliMode) error {
	cl, err := cfg.client()
	if err != nil {
		return err
	}
	a, err := cl.GetAction(ctx, cfg.Namespace, p.pos[0], p.has("code"))
	if err != nil {
		return err
	}
	if mode == cliText {
		fmt.Fprintf(out.stdout, "ok: got action %s\n", p.pos[0])
	}
	return cliPrintJSON(out.stdout, a)
}

func cliActionList(ctx context.Context, out cliIO, p *cliArgs, cfg cliConfig, mode cliMode) error {
	limit, err := p.int64("limit")
	if err != nil {
		return err
	}
	skip, err := p.int64("skip")
	if err != nil {
		return err
	}
	cl, err := cfg.client()
	if err != nil {
		return err
	}
	list, err := cl.ListActions(ctx, cfg.Namespace, int(skip), int(limit))
	if err != nil {
		return err
	}
	if mode == cliJSON {
		if list == nil {
			list = []client.Action{}
		}
		return cliPrintJSON(out.stdout, list)
	}
	fmt.Fprintln(out.stdout, "actions")
	width := 0
	for _, a := range list {
		width = max(width, len(a.Namespace)+len(a.Name)+2)
	}
	for _, a := range list {
		vis := "private"
		if a.Publish {
			vis = "shared"
		}
		fmt.Fprintf(out.stdout, "%-*s  %s %s\n", width, "/"+a.Namespace+"/"+a.Name, vis, a.Exec.Kind)
	}
	return nil
}

func cliActionDelete(ctx context.Context, out cliIO, p *cliArgs, cfg cliConfig, mode cliMode) error {
	cl, err := cfg.client()
	if err != nil {
		return err
	}
	a, err := cl.DeleteAction(ctx, cfg.Namespace, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, a)
	}
	fmt.Fprintf(out.stdout, "ok: deleted action %s\n", p.pos[0])
	return nil
}

// cliActionInvoke invokes as wsk does:
//   - no flag: does not wait; prints "ok: invoked /NS/NAME with id ID".
//   - -b: waits; prints that line and the activation record.
//   - -r: waits; prints only the result.
//
// When the activation failed (502) the record or result is printed all
// the same and the exit status is 1. When a blocking call is answered
// before the activation ended (202), -b prints "ok: invoked ..., but the
// request has not yet finished, with id ID" and exits 0; -r has no result
// to print and exits 1 with the id on stderr. --output json prints the
// answer's JSON only, with the same exit statuses.
func cliActionInvoke(ctx context.Context, out cliIO, p *cliArgs, cfg cliConfig, mode cliMode) error {
	name := p.pos[0]
	kvs, err := cliKeyValues(p, "param", "param-file")
	if err != nil {
		return err
	}
	wait, err := p.duration("timeout", 1e6) // plain numbers are milliseconds
	if err != nil {
		return err
	}
	result := p.has("result")
	blocking := result || p.has("blocking")
	cl, err := cfg.client()
	if err != nil {
		return err
	}
	r, err := cl.Invoke(ctx, cfg.Namespace, name, cliParamsObject(kvs), blocking, result, wait)
	if err != nil {
		return err
	}
	path := "/" + cfg.Namespace + "/" + name
	switch {
	case mode == cliJSON:
		if err := cliPrintJSON(out.stdout, r.Body); err != nil {
			return err
		}
	case !blocking:
		fmt.Fprintf(out.stdout, "ok: invoked %s with id %s\n", path, r.ActivationID)
	case r.StatusCode == http.StatusAccepted:
		if !result {
			fmt.Fprintf(out.stdout, "ok: invoked %s, but the request has not yet finished, with id %s\n", path, r.ActivationID)
		}
	case result:
		if err := cliPrintJSON(out.stdout, r.Body); err != nil {
			return err
		}
	default:
		fmt.Fprintf(out.stdout, "ok: invoked %s with id %s\n", path, r.ActivationID)
		if err := cliPrintJSON(out.stdout, r.Body); err != nil {
			return err
		}
	}
	switch {
	case blocking && !r.Finished() && result:
		return &exitError{code: 1, err: fmt.Errorf("activation %s has not finished yet; read it later with: flurry activation result %s", r.ActivationID, r.ActivationID)}
	case r.Failed():
		status := activation.StatusText(activation.StatusApplicationError)
		var rec activation.Record
		if !result && json.Unmarshal(r.Body, &rec) == nil && rec.Response.Status != "" {
			status = rec.Response.Status
		}
		if result {
			status = "failed"
		}
		return &exitError{code: 1, err: fmt.Errorf("activation %s of %s: %s", r.ActivationID, path, status)}
	}
	return nil
}
