package controller_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
	"github.com/flurryfn/flurry/internal/testutil"
)

func routeReq(name, path, action string, methods ...string) controller.PutRouteRequest {
	return controller.PutRouteRequest{Namespace: "_", Name: name, Methods: methods, Path: path, Action: action}
}

func TestRoutes(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		ctx := e.ctx
		_, err := b.PutRoute(ctx, e.id, routeReq("r", "/users/{id}", "nope", "GET"))
		wantErr(t, err, controller.ErrNotFound)
		_, err = b.PutAction(ctx, e.id, goAction("get-user", code1))
		must(t, err)

		r, err := b.PutRoute(ctx, e.id, routeReq("get-user", "/users//{id}/", "get-user", "get", "GET", "head"))
		must(t, err)
		if r.Revision != 1 || r.Path != "/users/{id}" || !reflect.DeepEqual(r.Methods, []string{"GET", "HEAD"}) || r.Namespace != "guest" || r.Public {
			t.Fatalf("route = %+v", r)
		}
		_, err = b.PutRoute(ctx, e.id, routeReq("get-user", "/users/{id}", "get-user", "GET"))
		wantErr(t, err, controller.ErrExists)

		// The same method on the same path shape is a conflict, whatever
		// the parameter is called; another method or shape is not.
		_, err = b.PutRoute(ctx, e.id, routeReq("clash", "/users/{uid}", "get-user", "PUT", "GET"))
		wantErr(t, err, controller.ErrExists)
		_, err = b.PutRoute(ctx, e.id, routeReq("put-user", "/users/{uid}", "get-user", "PUT"))
		must(t, err)
		_, err = b.PutRoute(ctx, e.id, routeReq("me", "/users/me", "get-user", "GET"))
		must(t, err)
		_, err = b.PutRoute(ctx, e.id, routeReq("all", "/users/*", "get-user", "GET"))
		must(t, err)

		// Overwrite makes a new revision; a stale revision is a conflict.
		up := routeReq("get-user", "/users/{id}", "get-user", "GET")
		up.Overwrite, up.Public = true, true
		r, err = b.PutRoute(ctx, e.id, up)
		must(t, err)
		if r.Revision != 2 || !r.Public {
			t.Fatalf("updated route = %+v", r)
		}
		up.Revision = 1
		_, err = b.PutRoute(ctx, e.id, up)
		wantErr(t, err, controller.ErrConflict)
		up.Revision = 2
		r, err = b.PutRoute(ctx, e.id, up)
		must(t, err)
		if r.Revision != 3 {
			t.Fatalf("revision = %d", r.Revision)
		}

		got, err := b.GetRoute(ctx, e.id, "_", "get-user")
		must(t, err)
		if !reflect.DeepEqual(got, r) {
			t.Errorf("get = %+v, want %+v", got, r)
		}
		list, err := b.ListRoutes(ctx, e.id, "_")
		must(t, err)
		var names []string
		for _, r := range list {
			names = append(names, r.Name)
		}
		if !reflect.DeepEqual(names, []string{"all", "get-user", "me", "put-user"}) {
			t.Errorf("list = %v", names)
		}
		tab, err := b.RouteTable(ctx, "guest")
		must(t, err)
		if len(tab.Routes) != 4 || tab.Revision == 0 {
			t.Errorf("table = %+v", tab)
		}

		d, err := b.DeleteRoute(ctx, e.id, "_", "me")
		must(t, err)
		if d.Name != "me" {
			t.Errorf("deleted %+v", d)
		}
		_, err = b.DeleteRoute(ctx, e.id, "_", "me")
		wantErr(t, err, controller.ErrNotFound)
		_, err = b.GetRoute(ctx, e.id, "_", "me")
		wantErr(t, err, controller.ErrNotFound)
		tab2, err := b.RouteTable(ctx, "guest")
		must(t, err)
		if len(tab2.Routes) != 3 || tab2.Revision <= tab.Revision {
			t.Errorf("table after delete = %+v (before: revision %d)", tab2, tab.Revision)
		}
		// A freed method and path can be taken again.
		_, err = b.PutRoute(ctx, e.id, routeReq("me2", "/users/me", "get-user", "GET"))
		must(t, err)

		empty, err := b.RouteTable(ctx, "nobody")
		must(t, err)
		if len(empty.Routes) != 0 || empty.Revision != 0 {
			t.Errorf("table of a namespace without routes = %+v", empty)
		}
		_, err = b.ListRoutes(ctx, e.id, "other")
		wantErr(t, err, controller.ErrForbidden)
		_, err = b.PutRoute(ctx, e.id, controller.PutRouteRequest{Namespace: "other", Name: "x", Methods: []string{"GET"}, Path: "/", Action: "get-user"})
		wantErr(t, err, controller.ErrForbidden)

		a, err := b.WebAction(ctx, "guest", "get-user")
		must(t, err)
		if a.Name != "get-user" {
			t.Errorf("web action = %+v", a)
		}
		_, err = b.WebAction(ctx, "guest", "nope")
		wantErr(t, err, controller.ErrNotFound)
	})
}

func TestRouteValidation(t *testing.T) {
	e := newEnv(t, controller.Config{})
	_, err := e.ctl.PutAction(e.ctx, e.id, goAction("a", code1))
	must(t, err)
	cases := []struct {
		name string
		req  controller.PutRouteRequest
	}{
		{"no methods", routeReq("r", "/x", "a")},
		{"unknown method", routeReq("r", "/x", "a", "BREW")},
		{"relative path", routeReq("r", "x", "a", "GET")},
		{"star in the middle", routeReq("r", "/a/*/b", "a", "GET")},
		{"partial parameter", routeReq("r", "/a/x{id}", "a", "GET")},
		{"bad parameter name", routeReq("r", "/a/{1x}", "a", "GET")},
		{"parameter twice", routeReq("r", "/a/{id}/{id}", "a", "GET")},
		{"query in path", routeReq("r", "/a?b", "a", "GET")},
		{"bad route name", routeReq("r/x", "/a", "a", "GET")},
		{"bad action name", routeReq("r", "/a", "a b", "GET")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ctl.PutRoute(e.ctx, e.id, tc.req)
			wantErr(t, err, controller.ErrInvalid)
		})
	}
}

// Concurrent writers of one namespace's table all get through (each
// retries its compare-and-set), and a second controller sees the result
// through its watch.
func TestRoutesConcurrentAndWatched(t *testing.T) {
	e := newEnv(t, controller.Config{})
	_, err := e.ctl.PutAction(e.ctx, e.id, goAction("a", code1))
	must(t, err)
	other, err := controller.New(e.ctx, e.nc, controller.Config{}, nil)
	must(t, err)
	t.Cleanup(other.Close)

	const n = 12
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.ctl
			if i%2 == 1 {
				c = other
			}
			_, err := c.PutRoute(e.ctx, e.id, routeReq(fmt.Sprintf("r%d", i), fmt.Sprintf("/p/%d", i), "a", "GET"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent put: %v", err)
		}
	}
	for _, c := range []*controller.Controller{e.ctl, other} {
		testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			tab, err := c.RouteTable(context.Background(), "guest")
			if err != nil {
				return err
			}
			if len(tab.Routes) != n {
				return fmt.Errorf("%d routes, want %d", len(tab.Routes), n)
			}
			return nil
		})
	}
	// Two writers racing for the same method and path: exactly one wins.
	var wins, clashes int
	var mu sync.Mutex
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := []*controller.Controller{e.ctl, other}[i]
			_, err := c.PutRoute(e.ctx, e.id, routeReq(fmt.Sprintf("same%d", i), "/same", "a", "GET"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, controller.ErrExists):
				clashes++
			default:
				t.Errorf("put: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || clashes != 1 {
		t.Errorf("wins %d, clashes %d; want 1 and 1", wins, clashes)
	}
}
