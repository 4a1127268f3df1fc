package controller_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

func TestAppRulePath(t *testing.T) {
	for _, c := range []struct{ rule, want, err string }{
		{rule: "/", want: "/"},
		{rule: "/items/", want: "/items"},
		{rule: "/users/<id>", want: "/users/{id}"},
		{rule: "/users/<int:id>/orders/<uuid:oid>", want: "/users/{id}/orders/{oid}"},
		{rule: "/a/<any(x, y):kind>", want: "/a/{kind}"},
		{rule: "/static/<path:filename>", want: "/static/*"},
		{rule: "/dl/<path:p>/raw", want: "/dl/*"},
		{rule: "/file-<name>.txt/<v>", want: "/{_part1}/{v}"},
		{rule: "/100%/<a>-<b>", want: "/{_part1}/{_part2}"},
		{rule: "users", err: "must start with /"},
	} {
		got, err := controller.AppRulePath(c.rule)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.rule, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.rule, got, err, c.want)
		}
	}
}

// registerTable is what the fake invoker's /register answers.
const registerTable = `{"routes":[
 {"methods":["GET","HEAD","OPTIONS"],"rule":"/","endpoint":"index"},
 {"methods":["GET","HEAD","OPTIONS"],"rule":"/items/<int:id>","endpoint":"item"},
 {"methods":["OPTIONS","POST"],"rule":"/cart","endpoint":"cart"},
 {"methods":["PROPFIND"],"rule":"/dav","endpoint":"dav"}]}`

func TestApps(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		var mu sync.Mutex
		var msgs []activation.Message
		e.startInvokerWith(t, func(m *activation.Message) activation.Response {
			mu.Lock()
			msgs = append(msgs, *m)
			mu.Unlock()
			switch {
			case m.App == nil:
				return activation.NewResponse(activation.StatusSuccess, m.Params)
			case m.App.Op == activation.AppRegister && strings.Contains(m.Action.Exec.Main, "broken"):
				return activation.NewResponse(activation.StatusDeveloperError, activation.ErrorResult("cannot load the app: SyntaxError: invalid syntax"))
			case m.App.Op == activation.AppRegister:
				return activation.NewResponse(activation.StatusSuccess, json.RawMessage(registerTable))
			default:
				return activation.NewResponse(activation.StatusSuccess, raw(map[string]any{"statusCode": 200, "body": m.App.Endpoint}))
			}
		})
		last := func() activation.Message {
			mu.Lock()
			defer mu.Unlock()
			return msgs[len(msgs)-1]
		}
		deploy := func(main string) (*entity.App, error) {
			return b.DeployApp(e.ctx, e.id, controller.DeployAppRequest{Namespace: "_", Name: "shop", Kind: "python:3",
				Main: main, Code: []byte("from flask import Flask\napp = Flask(__name__)\n")})
		}

		app, err := deploy("")
		must(t, err)
		if app.Namespace != "guest" || app.Action.Exec.Main != controller.DefaultAppMain || app.Action.Version != "0.0.1" || app.Registration == "" {
			t.Errorf("deployed %+v", app)
		}
		reg := last()
		if reg.App == nil || reg.App.Op != activation.AppRegister || reg.ActivationID != app.Registration {
			t.Errorf("register message %+v", reg)
		}
		paths := []string{}
		for _, r := range app.Routes {
			paths = append(paths, r.Endpoint+" "+strings.Join(r.Methods, ",")+" "+r.Path)
		}
		want := []string{"index GET,HEAD,OPTIONS /", "item GET,HEAD,OPTIONS /items/{id}", "cart OPTIONS,POST /cart"}
		if strings.Join(paths, "|") != strings.Join(want, "|") {
			t.Errorf("routes %q, want %q (PROPFIND-only rule dropped)", paths, want)
		}

		// Served by revision, with the endpoint in the message.
		res, err := b.InvokeApp(e.ctx, controller.AppRequest{App: "shop", Revision: app.Revision, Endpoint: "item", Params: raw(map[string]string{"path": "/items/1"})})
		must(t, err)
		if res.Record == nil || !res.Record.Response.Success {
			t.Fatalf("serve: %+v", res)
		}
		m := last()
		if m.App == nil || m.App.Op != activation.AppServe || m.App.Endpoint != "item" || m.Action.Revision != app.Action.Revision || m.Subject != "guest" {
			t.Errorf("serve message %+v", m)
		}

		// A redeploy makes a new code revision; a request matched against
		// the old entry still runs the old code.
		app2, err := deploy("app:app")
		must(t, err)
		if app2.Action.Version != "0.0.2" || app2.Revision <= app.Revision || app2.Action.Revision == app.Action.Revision {
			t.Errorf("redeploy %+v after %+v", app2, app)
		}
		_, err = b.InvokeApp(e.ctx, controller.AppRequest{App: "shop", Revision: app.Revision, Endpoint: "index"})
		must(t, err)
		if got := last().Action.Revision; got != app.Action.Revision {
			t.Errorf("old revision served code %d, want %d", got, app.Action.Revision)
		}

		// A failed registration keeps the deployed revision.
		_, err = deploy("broken:app")
		wantErr(t, err, controller.ErrInvalid)
		if !strings.Contains(err.Error(), "SyntaxError") {
			t.Errorf("register failure %q lacks the runtime's message", err)
		}
		got, err := b.GetApp(e.ctx, e.id, "_", "shop")
		must(t, err)
		if got.Revision != app2.Revision {
			t.Errorf("failed deploy changed the app: revision %d, want %d", got.Revision, app2.Revision)
		}

		apps, err := b.ListApps(e.ctx, e.id, "_")
		must(t, err)
		if len(apps) != 1 || apps[0].Name != "shop" {
			t.Errorf("list %+v", apps)
		}

		for _, bad := range []controller.DeployAppRequest{
			{Name: "x", Kind: "go", Code: []byte("x")},
			{Name: "x", Kind: "python:3", Main: "app", Code: []byte("x")},
			{Name: "x", Kind: "python:3", Main: "app:app;rm", Code: []byte("x")},
			{Name: "bad/name", Kind: "python:3", Code: []byte("x")},
			{Name: "x", Kind: "python:3"},
			{Name: "x", Kind: "python:3", Code: []byte("x"), Limits: entity.Limits{Memory: 1}},
		} {
			bad.Namespace = "_"
			_, err := b.DeployApp(e.ctx, e.id, bad)
			wantErr(t, err, controller.ErrInvalid)
		}
		_, err = b.DeployApp(e.ctx, e.id, controller.DeployAppRequest{Namespace: "_", Name: "x", Kind: "python:3", Code: make([]byte, entity.MaxCodeBytes+1)})
		wantErr(t, err, controller.ErrTooLarge)
		_, err = b.DeployApp(e.ctx, e.id, controller.DeployAppRequest{Namespace: "other", Name: "x", Kind: "python:3", Code: []byte("x")})
		wantErr(t, err, controller.ErrForbidden)
		_, err = b.InvokeApp(e.ctx, controller.AppRequest{App: "nosuch", Endpoint: "index"})
		wantErr(t, err, controller.ErrNotFound)
		_, err = b.InvokeApp(e.ctx, controller.AppRequest{App: "shop", Revision: 99999, Endpoint: "index"})
		wantErr(t, err, controller.ErrNotFound)

		_, err = b.DeleteApp(e.ctx, e.id, "_", "shop")
		must(t, err)
		_, err = b.App(e.ctx, "shop")
		wantErr(t, err, controller.ErrNotFound)
		_, err = b.DeleteApp(e.ctx, e.id, "_", "shop")
		wantErr(t, err, controller.ErrNotFound)
	})
}
