package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flurryfn/flurry/internal/client"
	"github.com/flurryfn/flurry/internal/entity"
)

func init() {
	register("app", "web apps deployed in one step: deploy|get|list|delete", false, func(ctx context.Context, args []string) error {
		return cliApp(ctx, cliStd(), args)
	})
}

const cliAppUsage = `usage: flurry app COMMAND [flags]

An app is a whole web app (a Flask app on python:3) deployed in one step:
every route it declares is served at APIHOST/apps/NAME/..., each request
as an activation in a container kept warm per endpoint. Apps are public.
A redeploy swaps the code and the route table at once.

commands:
  deploy NAME PATH   create or replace an app; PATH is a directory (zipped,
                     without __pycache__/, .git/ and *.pyc), a .zip, or a
                     single .py file
  get NAME           show an app and its routes
  list               list the namespace's apps
  delete NAME        remove an app

Run "flurry app COMMAND -h" for a command's flags.
`

var cliAppDeployFlags = []cliFlag{
	{name: "kind", nargs: 1, metavar: "KIND", usage: "runtime kind (default " + entity.KindPython + ", the only one that serves apps)"},
	{name: "main", nargs: 1, metavar: "MODULE:ATTR", usage: "the WSGI object (default: the server's, app:app)"},
	{name: "memory", short: "m", nargs: 1, metavar: "MB", usage: "memory limit of each container in MiB"},
	{name: "timeout", short: "t", nargs: 1, metavar: "MS", usage: "time limit of each request in milliseconds"},
}

var cliAppCommands = map[string]cliSubcommand{
	"deploy": {"flurry app deploy NAME PATH [--kind KIND] [--main MODULE:ATTR] [--memory MB] [--timeout MS]", 2, 2, cliAppDeployFlags, cliAppDeploy},
	"get":    {"flurry app get NAME", 1, 1, nil, cliAppGet},
	"list":   {"flurry app list", 0, 0, nil, cliAppList},
	"delete": {"flurry app delete NAME", 1, 1, nil, cliAppDelete},
}

// cliApp runs "flurry app ...". Exit status: 0 on success, 1 when the API
// answers an error or the app's code cannot be read, 2 for command-line
// mistakes.
func cliApp(ctx context.Context, out cliIO, args []string) error {
	return cliRunGroup(ctx, out, "app", cliAppUsage, "deploy, get, list, delete", cliAppCommands, args)
}

func cliAppDeploy(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	name, path := p.pos[0], p.pos[1]
	spec := client.AppSpec{Kind: p.str("kind"), Main: p.str("main")}
	if spec.Kind == "" {
		spec.Kind = entity.KindPython
	}
	var l client.LimitsSpec
	var err error
	if l.Memory, err = p.int64("memory"); err != nil {
		return err
	}
	if l.Timeout, err = p.int64("timeout"); err != nil {
		return err
	}
	if l != (client.LimitsSpec{}) {
		spec.Limits = &l
	}
	if spec.Code, spec.Binary, err = cliAppCode(path); err != nil {
		return err
	}
	a, err := cl.DeployApp(ctx, ns, name, spec)
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, a)
	}
	fmt.Fprintf(out.stdout, "ok: deployed app %s (version %s), %s at %s\n", a.Name, a.Version, cliCount(len(a.Routes), "route"), cl.AppURL(a))
	cliPrintAppRoutes(out.stdout, a.Routes)
	return nil
}

// errCodeTooLarge refuses app code the server would refuse with 413.
var errCodeTooLarge = fmt.Errorf("larger than the %d MiB code limit", entity.MaxCodeBytes>>20)

// cliAppCode reads an app's code from path: a directory is zipped (base64,
// binary), a .zip is sent as it is (base64, binary), and a .py file as
// text. Code over entity.MaxCodeBytes is refused here rather than uploaded.
func cliAppCode(path string) (code string, binary bool, err error) {
	st, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // "no such file or directory" reads better without "stat"
		}
		return "", false, fmt.Errorf("app code: %s: %w", path, err)
	}
	ext := strings.ToLower(filepath.Ext(path))
	switch {
	case st.IsDir():
		b, err := cliZipDir(path, entity.MaxCodeBytes)
		if err != nil {
			return "", false, fmt.Errorf("app code: zip %s: %w", path, err)
		}
		return base64.StdEncoding.EncodeToString(b), true, nil
	case !st.Mode().IsRegular() || (ext != ".zip" && ext != ".py"):
		return "", false, fmt.Errorf("app code: %s is not a directory, a .zip or a .py file", path)
	case st.Size() > entity.MaxCodeBytes:
		return "", false, fmt.Errorf("app code: %s is %s, %w", path, cliMiB(st.Size()), errCodeTooLarge)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false, fmt.Errorf("app code: %w", err)
	}
	if ext == ".py" {
		return string(b), false, nil
	}
	if _, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err != nil {
		return "", false, fmt.Errorf("app code: %s is not a valid zip: %w", path, err)
	}
	return base64.StdEncoding.EncodeToString(b), true, nil
}

// cliZipDir zips the files under dir, named relative to it, in lexical
// order and without timestamps (the same tree makes the same zip, so the
// content-addressed code store keeps one copy). It skips __pycache__ and
// .git directories, *.pyc files, and anything but regular files and
// directories (a dangling symlink too); a symlink to a file is zipped as
// that file's contents, a symlink to a directory is not followed. It fails
// when there is no file to zip, and with errCodeTooLarge as soon as the
// zip outgrows limit bytes.
func cliZipDir(dir string, limit int) ([]byte, error) {
	buf := &cappedBuffer{limit: limit}
	zw := zip.NewWriter(buf)
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && (d.Name() == "__pycache__" || d.Name() == ".git") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".pyc") {
			return nil
		}
		st, err := os.Stat(path) // follows a symlink
		if errors.Is(err, fs.ErrNotExist) || (err == nil && !st.Mode().IsRegular()) {
			return nil // a dangling symlink, a socket, ...
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files++
		return cliZipFile(zw, path, filepath.ToSlash(rel), st.Mode().Perm())
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return nil, err
	}
	if files == 0 {
		return nil, errors.New("no files to deploy")
	}
	return buf.Bytes(), nil
}

// cliZipFile adds file src to zw as name with permissions perm.
func cliZipFile(zw *zip.Writer, src, name string, perm fs.FileMode) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	h := &zip.FileHeader{Name: name, Method: zip.Deflate}
	h.SetMode(perm)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

// cappedBuffer is a bytes.Buffer that refuses to grow past limit bytes.
type cappedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.limit {
		return 0, errCodeTooLarge
	}
	return b.Buffer.Write(p)
}

func cliAppGet(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	a, err := cl.GetApp(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, a)
	}
	fmt.Fprintf(out.stdout, "ok: got app %s\n", a.Name)
	tw := tabwriter.NewWriter(out.stdout, 0, 4, 1, ' ', 0)
	for _, f := range [][2]string{
		{"namespace", a.Namespace},
		{"kind", a.Kind},
		{"main", a.Main},
		{"version", a.Version},
		{"updated", time.UnixMilli(a.Updated).Format(time.DateTime)},
		{"url", cl.AppURL(a)},
		{"registration", a.Registration},
		{"limits", fmt.Sprintf("timeout %dms, memory %dMiB, concurrency %d", a.Limits.Timeout, a.Limits.Memory, a.Limits.Concurrency)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
	}
	tw.Flush()
	fmt.Fprintf(out.stdout, "\n%s:\n", cliCount(len(a.Routes), "route"))
	cliPrintAppRoutes(out.stdout, a.Routes)
	return nil
}

func cliAppList(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	apps, err := cl.ListApps(ctx, ns)
	if err != nil {
		return err
	}
	if mode == cliJSON {
		if apps == nil {
			apps = []client.App{}
		}
		return cliPrintJSON(out.stdout, apps)
	}
	tw := tabwriter.NewWriter(out.stdout, 0, 4, 1, ' ', 0)
	fmt.Fprintln(tw, "Name\tVersion\tRoutes\tURL")
	for i := range apps {
		a := &apps[i]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", a.Name, a.Version, len(a.Routes), cl.AppURL(a))
	}
	tw.Flush()
	return nil
}

func cliAppDelete(ctx context.Context, out cliIO, p *cliArgs, cl *client.Client, ns string, mode cliMode) error {
	a, err := cl.DeleteApp(ctx, ns, p.pos[0])
	if err != nil {
		return err
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, a)
	}
	fmt.Fprintf(out.stdout, "ok: deleted app %s\n", a.Name)
	return nil
}

// cliPrintAppRoutes prints an app's route table.
func cliPrintAppRoutes(w io.Writer, routes []entity.AppRoute) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintln(tw, "Methods\tRule\tEndpoint")
	for _, r := range routes {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.Join(r.Methods, ","), r.Rule, r.Endpoint)
	}
	tw.Flush()
}

// cliCount is "1 route", "6 routes".
func cliCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// cliMiB formats a size in MiB with one decimal.
func cliMiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
