package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
)

// cliIO is where a client command writes; tests swap in buffers.
type cliIO struct {
	stdout, stderr io.Writer
}

func cliStd() cliIO { return cliIO{stdout: os.Stdout, stderr: os.Stderr} }

// help prints a usage text and the flags of a command to stdout.
func (o cliIO) help(usage string, defs []cliFlag) error {
	fmt.Fprint(o.stdout, usage)
	cliPrintFlags(o.stdout, "flags", defs)
	cliPrintFlags(o.stdout, "common flags", cliCommonFlags)
	return nil
}

func cliPrintFlags(w io.Writer, title string, defs []cliFlag) {
	if len(defs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, d := range defs {
		if d.hidden {
			continue
		}
		name := "    --" + d.name
		if d.short != "" {
			name = "-" + d.short + ", --" + d.name
		}
		if d.metavar != "" {
			name += " " + d.metavar
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, d.usage)
	}
	tw.Flush()
}

// cliMode is the output format of a client command.
type cliMode int

const (
	cliText cliMode = iota
	cliJSON
)

func cliOutputMode(p *cliArgs) (cliMode, error) {
	switch o := p.str("output"); o {
	case "":
		return cliText, nil
	case "json":
		return cliJSON, nil
	default:
		return 0, usageErrorf("--output must be json, not %q", o)
	}
}

// cliPrintJSON prints v as indented JSON; raw JSON is indented as it is,
// keeping its field order and any fields this client does not know.
func cliPrintJSON(w io.Writer, v any) error {
	var raw []byte
	switch r := v.(type) {
	case json.RawMessage:
		raw = r
	case []byte:
		raw = r
	default:
		// Without HTML escaping: "<int:id>" must print as it is.
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return err
		}
		raw = b.Bytes()
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		// Not JSON (a misbehaving server): show it as it came.
		buf.Reset()
		buf.Write(raw)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// cliAnnotationString returns a string annotation of a record, or "".
func cliAnnotationString(r *activation.Record, key string) string {
	var s string
	if json.Unmarshal(r.Annotation(key), &s) != nil {
		return ""
	}
	return s
}

// cliStartKind says how a record's container was had (warm, prewarm or
// cold); records without the start annotation are cold when they carry an
// init time, as wsk reads them.
func cliStartKind(r *activation.Record) string {
	if s := cliAnnotationString(r, activation.AnnotationStart); s != "" {
		return s
	}
	if r.Annotation(activation.AnnotationInitTime) != nil {
		return "cold"
	}
	return "warm"
}

// cliStatus is wsk's short name of a record's status.
func cliStatus(r *activation.Record) string {
	s := r.Response.Status
	if s == "" {
		s = activation.StatusText(r.Response.StatusCode)
	}
	return strings.TrimPrefix(strings.TrimPrefix(s, "action "), "whisk ")
}

// cliPrintActivations prints records as wsk's activation list table.
func cliPrintActivations(w io.Writer, recs []activation.Record) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintln(tw, "Datetime\tActivation ID\tKind\tStart\tDuration\tStatus\tEntity")
	for i := range recs {
		r := &recs[i]
		kind := cliAnnotationString(r, activation.AnnotationKind)
		if kind == "" {
			kind = "unknown"
		}
		entity := r.Namespace + "/" + r.Name
		if r.Version != "" {
			entity += ":" + r.Version
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			time.UnixMilli(r.Start).Format(time.DateTime), r.ActivationID, kind, cliStartKind(r),
			cliDuration(r.Duration), cliStatus(r), entity)
	}
	tw.Flush()
}

// cliDuration formats milliseconds as wsk does: "12ms", "1.5s", "2m3s".
func cliDuration(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%dms", ms)
	}
	return (time.Duration(ms) * time.Millisecond).String()
}
