package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flurryfn/flurry/actions/gowrap"
	"github.com/flurryfn/flurry/e2e/internal/benchsys"
)

// The -routes mode measures a request through an HTTP route (ADR 009) and
// through a web action beside a direct blocking REST invoke of the same
// action, interleaved in the same run, and nothing else.

var routesMode = flag.Bool("routes", false, "measure HTTP route and web action latency beside a direct invoke (only that)")

// routeDistractors is how many other routes the namespace holds, so the
// matcher has a realistic table to search.
const routeDistractors = 50

const httpOKSource = `package main

func Main(args map[string]interface{}) map[string]interface{} {
	return map[string]interface{}{"statusCode": 200, "headers": map[string]interface{}{"Content-Type": "text/plain"}, "body": "ok"}
}
`

// runRoutesMode runs the routes benchmark when -routes is set and reports
// whether it did; it exits on failure.
func runRoutesMode(bin string, n, rounds int) bool {
	if !*routesMode {
		return false
	}
	if err := runRoutes(bin, n, rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	return true
}

func runRoutes(bin string, n, rounds int) error {
	tmp, err := os.MkdirTemp("", "flurry-bench-routes")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "httpok.go")
	if err := os.WriteFile(src, []byte(httpOKSource), 0o644); err != nil {
		return err
	}
	exe, err := gowrap.Build(context.Background(), src, "Main")
	if err != nil {
		return err
	}
	sys, err := start(bin, filepath.Join(tmp, "a"), "--memory", "4096")
	if err != nil {
		return err
	}
	defer sys.Stop()
	fmt.Printf("runtime: %s\n\n", sys.Runtime)

	st, b, err := sys.Request(http.MethodPut, "/api/v1/namespaces/_/actions/httpok?overwrite=true", map[string]any{
		"exec":        map[string]any{"kind": "go", "binary": true, "code": base64.StdEncoding.EncodeToString(exe)},
		"limits":      map[string]any{"memory": 128},
		"annotations": []map[string]any{{"key": "web-export", "value": true}},
	})
	if err == nil && st != 200 {
		err = fmt.Errorf("put httpok: %d %s", st, b)
	}
	if err != nil {
		return err
	}
	putRoute := func(name, path string, public bool) error {
		st, b, err := sys.Request(http.MethodPut, "/api/v1/namespaces/_/routes/"+name, map[string]any{
			"methods": []string{"GET"}, "path": path, "action": "httpok", "public": public})
		if err == nil && st != 200 {
			err = fmt.Errorf("put route %s: %d %s", name, st, b)
		}
		return err
	}
	for i := range routeDistractors {
		if err := putRoute(fmt.Sprintf("other%d", i), fmt.Sprintf("/other%d/{id}/items/*", i), true); err != nil {
			return err
		}
	}
	if err := putRoute("pub", "/users/{id}", true); err != nil {
		return err
	}
	if err := putRoute("priv", "/private/{id}", false); err != nil {
		return err
	}
	u, k, _ := strings.Cut(benchsys.Auth, ":")
	get := func(path string, withKey bool) func() error {
		return func() error {
			req, err := http.NewRequest(http.MethodGet, sys.API+path, nil)
			if err != nil {
				return err
			}
			if withKey {
				req.SetBasicAuth(u, k)
			}
			resp, err := sys.Client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "ok" {
				return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
			}
			return nil
		}
	}
	paths := []struct {
		name string
		fn   func() error
		d    []time.Duration
	}{
		{name: "REST POST /api/v1/.../actions/httpok?blocking=true&result=true (direct invoke)", fn: func() error { _, err := sys.restInvoke("httpok"); return err }},
		{name: fmt.Sprintf("route GET /r/guest/users/{id}, public (%d routes in the namespace)", routeDistractors+2), fn: get("/r/guest/users/42", false)},
		{name: "route GET /r/guest/private/{id}, with key", fn: get("/r/guest/private/42", true)},
		{name: "web action GET /api/v1/web/guest/default/httpok.http", fn: get("/api/v1/web/guest/default/httpok.http", false)},
	}
	for range 200 { // warm-up
		for _, p := range paths {
			if err := p.fn(); err != nil {
				return err
			}
		}
	}
	per := max(n/rounds, 1)
	for range rounds {
		for i := range paths {
			for range per {
				t0 := time.Now()
				if err := paths[i].fn(); err != nil {
					return err
				}
				paths[i].d = append(paths[i].d, time.Since(t0))
			}
		}
	}
	fmt.Println("| path (warm, blocking, sequential) | n | p50 | p99 | p50 vs direct invoke |")
	fmt.Println("|---|---|---|---|---|")
	base := benchsys.Percentile(paths[0].d, 50)
	for _, p := range paths {
		fmt.Printf("| %s | %d | %s | %s | %s |\n", p.name, len(p.d), ms(benchsys.Percentile(p.d, 50)), ms(benchsys.Percentile(p.d, 99)), ms(benchsys.Percentile(p.d, 50)-base))
	}
	return nil
}
