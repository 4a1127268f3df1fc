package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flurryfn/flurry/internal/client"
)

// The apps part (ADR 010) prints the "Apps" section of docs/benchmarks.md.
// It deploys actions/examples/apps/shop, an unchanged Flask app, on the
// standalone the kinds use (no stem cells) and measures:
//
//   - deploy: client latency of DeployApp, which answers after the app's
//     register activation has run in a cold python:3 container; every
//     deploy sends a new code revision, so each is a real register;
//
//   - cold start: the first GET /apps/shop/items/1 after each deploy (a
//     new revision has no warm container), with the record's initTime
//     (/init of the app + /specialize) and waitTime (container start);
//
//   - app start on a running container: /init + /specialize + first /run
//     straight to the proxy, the part of a cold start a stem cell would
//     not save, next to the same for a plain python:3 action;
//
//   - warm p50/p99 of GET /apps/shop/items/1 and POST /apps/shop/cart,
//     sequential, in interleaved rounds with the baseline, a plain
//     python:3 action `return {"id": 1}` invoked through REST (blocking,
//     result only), and with /run sent straight to a warm app container and
//     a warm action container of the same image (the runtime without the
//     platform);
//
//   - memory per warm container (docker stats) of the app's containers and
//     of the baseline action's.

const (
	shopDir     = "actions/examples/apps/shop"
	shopApp     = "shop"
	shopItem    = "/apps/shop/items/1"
	shopCart    = "/apps/shop/cart"
	cartBody    = `{"id":1,"qty":2}`
	appBaseline = "python3-app-baseline"
	// appWarmup rounds are run and left out before the warm samples.
	appWarmup = 50
)

// baselineCode is the plain python:3 action the app is compared with: it
// answers what GET /items/1 answers, without Flask.
const baselineCode = "def main(args):\n    return {\"id\": 1}\n"

// webClient sends the apps' (public) requests; an app request is bounded
// by its activation's time limit, this only guards against a hang.
var webClient = &http.Client{Timeout: 2 * time.Minute}

// benchApps measures the example shop against a plain python:3 action on
// sys and prints the tables.
func benchApps(ctx context.Context, sys *system, bin string, starts, n int) error {
	image, err := imageTag(bin, "python:3")
	if err != nil {
		return err
	}
	files, err := readDir(shopDir)
	if err != nil {
		return err
	}
	cl, err := client.New(sys.api, auth)
	if err != nil {
		return err
	}

	// The baseline action's container is the only python:3 one created
	// between the two listings, and the app's are the ones created after
	// the second.
	before, err := flurryContainers("python:3")
	if err != nil {
		return err
	}
	if err := sys.put(appBaseline, map[string]any{"kind": "python:3", "code": baselineCode}); err != nil {
		return err
	}
	if _, err := sys.invoke(appBaseline, true); err != nil {
		return fmt.Errorf("baseline action: %w", err)
	}
	withBaseline, err := flurryContainers("python:3")
	if err != nil {
		return err
	}

	deploys, colds, err := appStarts(ctx, sys, cl, files, starts)
	if err != nil {
		return err
	}
	direct, err := directAppStarts(image, files, starts)
	if err != nil {
		return err
	}
	warm, err := appWarm(sys, image, files, n)
	if err != nil {
		return err
	}

	after, err := flurryContainers("python:3")
	if err != nil {
		return err
	}
	baseMem, err := medianMemory(without(withBaseline, before))
	if err != nil {
		return fmt.Errorf("baseline action memory: %w", err)
	}
	appMem, err := medianMemory(without(after, withBaseline))
	if err != nil {
		return fmt.Errorf("app memory: %w", err)
	}

	fmt.Println("| deploy and starts (python:3, Flask shop) | n | p50 | p99 | initTime p50 / p99 | waitTime p50 |")
	fmt.Println("|---|---|---|---|---|---|")
	deploys.print(fmt.Sprintf("deploy: `DeployApp` client latency (%d revisions; register activation in a cold container)", starts))
	colds.print("first GET " + shopItem + " after each deploy (the register container, loaded), client latency")
	fmt.Printf("| app start on a running container, direct: `/init` + `/specialize` + first `/run` | %d | %s | %s | | |\n",
		len(direct.app), ms(pct(direct.app, 50)), ms(pct(direct.app, 99)))
	fmt.Printf("| python:3 action start on a running container, direct: `/init` + first `/run` | %d | %s | %s | | |\n",
		len(direct.action), ms(pct(direct.action, 50)), ms(pct(direct.action, 99)))
	fmt.Println()
	fmt.Println("| warm, sequential, interleaved rounds | n | p50 | p99 | p50 over its baseline | memory per warm container |")
	fmt.Println("|---|---|---|---|---|---|")
	for i, w := range warm {
		over, mem := "—", ""
		if w.ref != nil {
			over = fmt.Sprintf("%+.2f ms (vs %s)", float64((pct(w.samples, 50)-pct(w.ref.samples, 50)).Microseconds())/1000, w.ref.short)
		}
		switch i {
		case 0:
			mem = baseMem
		case 1:
			mem = appMem + ", the app's"
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %s |\n", w.name, len(w.samples), ms2(pct(w.samples, 50)), ms2(pct(w.samples, 99)), over, mem)
	}
	return nil
}

// startSamples are the client latencies of one kind of start and, from
// their records, initTime and waitTime.
type startSamples struct {
	latency, init, wait []time.Duration
}

// add records one start whose record is rec.
func (s *startSamples) add(d time.Duration, rec map[string]any) {
	s.latency = append(s.latency, d)
	s.init = append(s.init, time.Duration(annotationNumber(rec, "initTime"))*time.Millisecond)
	s.wait = append(s.wait, time.Duration(annotationNumber(rec, "waitTime"))*time.Millisecond)
}

// print writes the samples as a row of the starts table.
func (s *startSamples) print(what string) {
	fmt.Printf("| %s | %d | %s | %s | %s / %s | %s |\n", what, len(s.latency), ms(pct(s.latency, 50)), ms(pct(s.latency, 99)),
		ms(pct(s.init, 50)), ms(pct(s.init, 99)), ms(pct(s.wait, 50)))
}

// appStarts deploys the shop n times, each time with a new code revision,
// and sends GET /items/1 after each deploy: a cold start of the item
// endpoint. A deploy or request that fails (a shared engine may remove
// Flurry's containers) is reported and left out.
func appStarts(ctx context.Context, sys *system, cl *client.Client, files map[string][]byte, n int) (deploys, colds *startSamples, err error) {
	deploys, colds = &startSamples{}, &startSamples{}
	for i := range n {
		code, err := shopZip(files, i)
		if err != nil {
			return nil, nil, err
		}
		t0 := time.Now()
		app, err := cl.DeployApp(ctx, "_", shopApp, client.AppSpec{Kind: "python:3", Code: code, Binary: true})
		if err != nil {
			fmt.Fprintf(os.Stderr, "app deploy %d: %v\n", i, err)
			continue
		}
		d := time.Since(t0)
		rec, err := sys.record(app.Registration)
		if err != nil {
			return nil, nil, fmt.Errorf("deploy %d: %w", i, err)
		}
		deploys.add(d, rec)

		t0 = time.Now()
		id, err := sys.web(http.MethodGet, shopItem, "", "", http.StatusOK)
		if err != nil {
			fmt.Fprintf(os.Stderr, "app cold request %d: %v\n", i, err)
			continue
		}
		d = time.Since(t0)
		if rec, err = sys.record(id); err != nil {
			return nil, nil, fmt.Errorf("cold request %d: %w", i, err)
		}
		colds.add(d, rec)
	}
	if len(deploys.latency) == 0 || len(colds.latency) == 0 {
		return nil, nil, fmt.Errorf("no successful deploy and cold request out of %d", n)
	}
	return deploys, colds, nil
}

// directStartSamples are starts on running containers, timed straight
// against the proxy.
type directStartSamples struct {
	app, action []time.Duration
}

// directAppStarts times the shop's start (/init, /specialize for the item
// endpoint, first /run) and the baseline action's (/init, first /run) on
// n running containers of image each.
func directAppStarts(image string, files map[string][]byte, n int) (directStartSamples, error) {
	code, err := shopZip(files, 0)
	if err != nil {
		return directStartSamples{}, err
	}
	app, err := directStarts(image, appSetup(code), n)
	if err != nil {
		return directStartSamples{}, fmt.Errorf("app start: %w", err)
	}
	action, err := directStarts(image, baselineSetup(), n)
	if err != nil {
		return directStartSamples{}, fmt.Errorf("action start: %w", err)
	}
	return directStartSamples{app: app, action: action}, nil
}

// appSetup serves GET /items/1 of the shop whose code (a base64 zip) is
// code, as the gateway and the invoker would.
func appSetup(code string) directSetup {
	return directSetup{
		init:     map[string]any{"value": map[string]any{"app": true, "main": "app:app", "code": code, "binary": true}},
		endpoint: "item",
		run: map[string]any{
			"method": "GET", "path": "/items/1", "route": "/items/{item_id}", "pathParams": map[string]string{"item_id": "1"},
			"query": map[string]string{}, "rawQuery": "", "headers": map[string]string{"host": "127.0.0.1"},
			"body": "", "isBase64Encoded": false, "scriptName": "/apps/" + shopApp,
		},
		check: func(res []byte) error {
			var r struct {
				StatusCode int    `json:"statusCode"`
				Body       string `json:"body"`
			}
			if err := json.Unmarshal(res, &r); err != nil || r.StatusCode != http.StatusOK || !strings.Contains(r.Body, "teapot") {
				return fmt.Errorf("app /run answered %s", res)
			}
			return nil
		},
	}
}

// baselineSetup runs the baseline action.
func baselineSetup() directSetup {
	return directSetup{
		init: map[string]any{"value": map[string]any{"name": appBaseline, "main": "main", "code": baselineCode}},
		run:  map[string]any{"x": 1},
	}
}

// warmPath is one path of the warm rounds and its samples; ref, if any,
// is the path it is compared with, called short in the table.
type warmPath struct {
	name, short string
	do          func() (time.Duration, error)
	ref         *warmPath
	samples     []time.Duration
	failed      int
}

// appWarm runs appWarmup + n interleaved rounds of sequential requests,
// one per path, the baseline first. It sends the warm-up rounds to the
// app too, so the cart endpoint's cold start is among them.
func appWarm(sys *system, image string, files map[string][]byte, n int) ([]*warmPath, error) {
	code, err := shopZip(files, 0)
	if err != nil {
		return nil, err
	}
	runApp, removeApp, err := directWarm(image, appSetup(code))
	if err != nil {
		return nil, fmt.Errorf("direct app container: %w", err)
	}
	defer removeApp()
	runAction, removeAction, err := directWarm(image, baselineSetup())
	if err != nil {
		return nil, fmt.Errorf("direct action container: %w", err)
	}
	defer removeAction()

	timed := func(f func() error) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			t0 := time.Now()
			err := f()
			return time.Since(t0), err
		}
	}
	rest := &warmPath{name: "python:3 action `return {\"id\": 1}`, REST blocking invoke (baseline)", short: "REST action", do: timed(func() error {
		_, err := sys.invoke(appBaseline, true)
		return err
	})}
	direct := &warmPath{name: "direct `/run` to a warm container of that action (no platform)", short: "direct action", do: runAction}
	paths := []*warmPath{
		rest,
		{name: "app GET " + shopItem, ref: rest, do: timed(func() error {
			_, err := sys.web(http.MethodGet, shopItem, "", "", http.StatusOK)
			return err
		})},
		{name: "app POST " + shopCart + " (JSON body, sets 2 cookies)", ref: rest, do: timed(func() error {
			_, err := sys.web(http.MethodPost, shopCart, "application/json", cartBody, http.StatusCreated)
			return err
		})},
		direct,
		{name: "direct `/run` to a warm app container, GET /items/1 (Flask, no platform)", ref: direct, do: runApp},
	}
	for i := range appWarmup + n {
		for _, p := range paths {
			d, err := p.do()
			switch {
			case err != nil:
				fmt.Fprintf(os.Stderr, "%s: %v\n", p.name, err)
				p.failed++
			case i >= appWarmup:
				p.samples = append(p.samples, d)
			}
		}
	}
	for _, p := range paths {
		if p.failed > n/10 {
			return nil, fmt.Errorf("%s: %d of %d requests failed", p.name, p.failed, appWarmup+n)
		}
	}
	return paths, nil
}

// web sends an app request (apps are public: no key) and returns its
// activation id; an answer other than want is an error.
func (s *system) web(method, path, contentType, body string, want int) (string, error) {
	req, err := http.NewRequest(method, s.api+path, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	r, err := webClient.Do(req)
	if err != nil {
		return "", err
	}
	defer r.Body.Close()
	rb, err := io.ReadAll(r.Body)
	if err != nil {
		return "", err
	}
	if r.StatusCode != want {
		return "", fmt.Errorf("%s %s: %d %s", method, path, r.StatusCode, rb)
	}
	id := r.Header.Get("X-Openwhisk-Activation-Id")
	if id == "" {
		return "", fmt.Errorf("%s %s: no activation id", method, path)
	}
	return id, nil
}

// record fetches activation id's record, waiting for it to be written.
func (s *system) record(id string) (map[string]any, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, st, err := s.request(http.MethodGet, "/api/v1/namespaces/_/activations/"+id, nil)
		if err == nil && st == http.StatusOK {
			var rec map[string]any
			return rec, json.Unmarshal(b, &rec)
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%d %s", st, b)
			}
			return nil, fmt.Errorf("record %s: %w", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readDir reads the regular files of dir (one level: the shop has no
// packages).
func readDir(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("app code: %w", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".pyc") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("app code: %w", err)
		}
		files[e.Name()] = b
	}
	if files["app.py"] == nil {
		return nil, fmt.Errorf("app code: no app.py in %s", dir)
	}
	return files, nil
}

// shopZip zips files, with a comment naming revision appended to app.py
// so that each revision is different code, and returns it as base64.
func shopZip(files map[string][]byte, revision int) (string, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b := files[name]
		if name == "app.py" {
			b = fmt.Appendf(slices.Clip(b), "\n# kindbench revision %d\n", revision)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			return "", err
		}
		if _, err := w.Write(b); err != nil {
			return "", err
		}
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// ms2 is d in milliseconds with two decimals, for warm latencies.
func ms2(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// without returns the ids of all that are not in some.
func without(all, some []string) []string {
	var out []string
	for _, id := range all {
		if !slices.Contains(some, id) {
			out = append(out, id)
		}
	}
	return out
}
