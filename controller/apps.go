package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/stored"
)

// Web apps (ADR 010). An app is one KV entry holding its code revision and
// the route table its runtime's /register returned; a deploy replaces both
// in one write, so a redeploy swaps the routes atomically. App names are
// cluster-wide because apps are served at /apps/{name}/.

// DefaultAppMain is the WSGI object an app's main names by default.
const DefaultAppMain = "app:app"

// appKinds are the kinds that can run an app.
var appKinds = []string{entity.KindPython}

// appMain is "module:attr" with a dotted module path.
var appMain = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$`)

// registerWait bounds the wait for a deploy's register activation beyond
// the app's own timeout: a cold container on a busy node.
const registerWait = time.Minute

// DeployAppRequest deploys (creates or replaces) an app.
type DeployAppRequest struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	// Main names the WSGI object, "module:attr" (default DefaultAppMain).
	Main string `json:"main"`
	// Code is the app as /init receives it: base64 of a zip of the app's
	// directory when Binary, else the source of a one-file app. Either
	// Code or CodeDigest of code already in the code store is set.
	Code       []byte        `json:"code,omitempty"`
	CodeDigest string        `json:"codeDigest,omitempty"`
	Binary     bool          `json:"binary"`
	Limits     entity.Limits `json:"limits"`
}

// appStore is the controller's side of the apps bucket: every app, in a
// cache fed by a KV watch.
type appStore struct {
	kv    jetstream.KeyValue
	cache *cache[entity.App]
}

// newAppStore opens the apps bucket and starts its watch (until wctx
// ends); it returns once the store holds the bucket's contents.
func newAppStore(ctx, wctx context.Context, c *Controller) (*appStore, error) {
	kv, err := c.js.KeyValue(ctx, names.AppsBucket)
	if err != nil {
		return nil, fmt.Errorf("controller: kv %s: %w", names.AppsBucket, err)
	}
	s := &appStore{kv: kv, cache: newCache[entity.App]()}
	ready, err := c.watch(wctx, kv, func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			s.cache.remove(e.Key(), e.Revision())
			return
		}
		a, err := decodeApp(e)
		if err != nil {
			c.log.Warn("bad app entry", "key", e.Key(), "err", err)
			return
		}
		s.cache.put(e.Key(), a, e.Revision())
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("controller: loading apps: %w", ctx.Err())
	}
	return s, nil
}

func decodeApp(e jetstream.KeyValueEntry) (*entity.App, error) {
	var a entity.App
	if err := stored.Decode(e.Value(), &a); err != nil {
		return nil, err
	}
	a.Revision = e.Revision()
	if a.Routes == nil {
		a.Routes = []entity.AppRoute{}
	}
	return &a, nil
}

// inNamespace returns ns's apps sorted by name.
func (s *appStore) inNamespace(ns string) []*entity.App {
	var out []*entity.App
	for _, a := range s.cache.values() {
		if a.Namespace == ns {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// load reads app name from the KV (not the store); nil when absent.
func (s *appStore) load(ctx context.Context, name string) (*entity.App, error) {
	key := names.AppKey(name)
	e, err := s.kv.Get(ctx, key)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable("apps", err)
	}
	a, err := decodeApp(e)
	if err != nil {
		return nil, fmt.Errorf("apps: stored %s: %w", key, err)
	}
	return a, nil
}

// DeployApp creates or replaces app req.Name in its namespace: it stores
// the code, runs the register activation to learn the app's routes, and
// writes code revision and routes in one KV update. Until that write the
// previous revision keeps serving.
//
// Errors: ErrInvalid (bad name, kind, main or limits; the app failed to
// load or to register, with the runtime's message and the activation id),
// ErrTooLarge (code), ErrExists (the name belongs to another namespace),
// ErrConflict (another deploy of the app won the race), ErrUnavailable.
func (c *Controller) DeployApp(ctx context.Context, id Identity, req DeployAppRequest) (*entity.App, error) {
	ns, err := namespace(id, req.Namespace)
	if err != nil {
		return nil, err
	}
	if !entity.ValidName(req.Name) {
		return nil, fmt.Errorf("app name %q: %w", req.Name, ErrInvalid)
	}
	if len(req.Code) > entity.MaxCodeBytes {
		return nil, fmt.Errorf("app %q: code is %d bytes, over %d: %w", req.Name, len(req.Code), entity.MaxCodeBytes, ErrTooLarge)
	}
	kind := entity.CanonicalKind(req.Kind)
	if kind == "" {
		kind = entity.KindPython
	}
	if !slices.Contains(appKinds, kind) {
		return nil, fmt.Errorf("app %q: %w: kind %q cannot run apps (apps are WSGI apps on %s)", req.Name, ErrInvalid, req.Kind, strings.Join(appKinds, ", "))
	}
	main := req.Main
	if main == "" {
		main = DefaultAppMain
	}
	if !appMain.MatchString(main) {
		return nil, fmt.Errorf("app %q: %w: main %q must be module:attribute, e.g. %s", req.Name, ErrInvalid, main, DefaultAppMain)
	}
	old, err := c.apps.load(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	if old != nil && old.Namespace != ns {
		return nil, fmt.Errorf("app name %q is taken by another namespace (app names are unique across namespaces): %w", req.Name, ErrExists)
	}

	a := &entity.Action{
		Namespace: ns,
		Name:      req.Name,
		Version:   "0.0.1",
		// Unique per deploy, so warm containers of an earlier deploy (or of
		// a deleted app of the same name) are never reused.
		Revision:    uint64(time.Now().UnixNano()),
		Exec:        entity.Exec{Kind: kind, Main: main, Binary: req.Binary, CodeDigest: req.CodeDigest},
		Parameters:  []entity.KeyValue{},
		Limits:      req.Limits.WithDefaults(),
		Annotations: []entity.KeyValue{{Key: activation.AnnotationApp, Value: json.RawMessage(strconv.Quote(req.Name))}},
		Updated:     now(),
	}
	if old != nil {
		a.Version = nextVersion(old.Action.Version)
	}
	if err := a.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("app %q: %w: %w", req.Name, ErrInvalid, err)
	}
	if len(req.Code) > 0 {
		if err := entity.ValidateCode(a.Exec, req.Code); err != nil {
			return nil, fmt.Errorf("app %q: %w: %w", req.Name, ErrInvalid, err)
		}
	}
	if err := c.storeCode(ctx, &a.Exec, req.Code); err != nil {
		return nil, fmt.Errorf("app %q: %w", req.Name, err)
	}
	if err := validateExec(ns, a.Exec); err != nil {
		return nil, fmt.Errorf("app %q: %w", req.Name, err)
	}

	aid, routes, err := c.registerApp(ctx, id, a)
	if err != nil {
		return nil, err
	}
	app := &entity.App{Namespace: ns, Name: req.Name, Action: *a, Routes: routes, Registration: aid, Updated: a.Updated}
	if err := c.writeApp(ctx, app, old); err != nil {
		return nil, err
	}
	c.log.Info("app deployed", "namespace", ns, "app", app.Name, "version", a.Version, "routes", len(routes), "revision", app.Revision)
	return app, nil
}

// registerApp runs the register activation of code revision a and returns
// its id and the converted route table.
func (c *Controller) registerApp(ctx context.Context, id Identity, a *entity.Action) (string, []entity.AppRoute, error) {
	res, err := c.enqueue(ctx, id, a, json.RawMessage(`{}`), InvokeRequest{
		Blocking: true,
		Wait:     time.Duration(a.Limits.Timeout)*time.Millisecond + registerWait,
	}, &activation.AppCall{Op: activation.AppRegister})
	if err != nil {
		return "", nil, fmt.Errorf("app %q: register: %w", a.Name, err)
	}
	rec := res.Record
	if rec == nil {
		return "", nil, fmt.Errorf("app %q: the register activation %s did not finish in time: %w", a.Name, res.ActivationID, ErrUnavailable)
	}
	if !rec.Response.Success {
		return "", nil, fmt.Errorf("app %q: %w: the app did not load or register (activation %s)%s",
			a.Name, ErrInvalid, rec.ActivationID, resultError(rec.Response.Result))
	}
	var table struct {
		Routes []struct {
			Methods  []string `json:"methods"`
			Rule     string   `json:"rule"`
			Endpoint string   `json:"endpoint"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(rec.Response.Result, &table); err != nil {
		return "", nil, fmt.Errorf("app %q: %w: the route table from /register (activation %s) is malformed: %v", a.Name, ErrInvalid, rec.ActivationID, err)
	}
	if len(table.Routes) > MaxRoutesPerNamespace {
		return "", nil, fmt.Errorf("app %q: %w: %d routes, over %d", a.Name, ErrInvalid, len(table.Routes), MaxRoutesPerNamespace)
	}
	routes := make([]entity.AppRoute, 0, len(table.Routes))
	for _, r := range table.Routes {
		ar, ok, err := appRoute(r.Methods, r.Rule, r.Endpoint)
		if err != nil {
			return "", nil, fmt.Errorf("app %q: %w: route table from /register (activation %s): %v", a.Name, ErrInvalid, rec.ActivationID, err)
		}
		if ok {
			routes = append(routes, ar)
		}
	}
	return rec.ActivationID, routes, nil
}

// appRoute converts one registered rule. Methods Flurry does not route
// are dropped; ok is false when none is left.
func appRoute(methods []string, rule, endpoint string) (entity.AppRoute, bool, error) {
	if endpoint == "" {
		return entity.AppRoute{}, false, fmt.Errorf("rule %q has no endpoint", rule)
	}
	var ms []string
	for _, m := range methods {
		m = strings.ToUpper(m)
		if slices.Contains(RouteMethods, m) && !slices.Contains(ms, m) {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return entity.AppRoute{}, false, nil
	}
	sort.Strings(ms)
	path, err := AppRulePath(rule)
	if err != nil {
		return entity.AppRoute{}, false, err
	}
	return entity.AppRoute{Methods: ms, Rule: rule, Endpoint: endpoint, Path: path}, true, nil
}

// ruleVar is one <converter(args):name> or <name> of a Werkzeug rule.
var ruleVar = regexp.MustCompile(`<(?:([A-Za-z_][A-Za-z0-9_]*)(?:\([^)]*\))?:)?([A-Za-z_][A-Za-z0-9_]*)>`)

// AppRulePath turns a Werkzeug rule into a Flurry route pattern (ADR 010):
// a segment that is one variable becomes {name}; a path converter
// becomes a last * (it matches across slashes); any other segment with a
// variable, or with characters a literal may not hold, becomes a
// parameter. The pattern only chooses the endpoint: the app's own router
// matches exactly.
func AppRulePath(rule string) (string, error) {
	if !strings.HasPrefix(rule, "/") {
		return "", fmt.Errorf("rule %q must start with /", rule)
	}
	var segs []string
	anon := 0
	for _, seg := range strings.Split(rule[1:], "/") {
		if seg == "" {
			continue
		}
		vars := ruleVar.FindAllStringSubmatchIndex(seg, -1)
		if slices.ContainsFunc(vars, func(m []int) bool { return m[2] >= 0 && seg[m[2]:m[3]] == "path" }) {
			segs = append(segs, "*")
			break
		}
		switch {
		case len(vars) == 1 && vars[0][0] == 0 && vars[0][1] == len(seg):
			segs = append(segs, "{"+seg[vars[0][4]:vars[0][5]]+"}")
		case len(vars) > 0 || strings.ContainsAny(seg, "{}*?#% \t\r\n<>"):
			anon++
			segs = append(segs, fmt.Sprintf("{_part%d}", anon))
		default:
			segs = append(segs, seg)
		}
	}
	path := "/" + strings.Join(segs, "/")
	parsed, err := ParseRoutePath(path)
	if err != nil {
		return "", fmt.Errorf("rule %q: %w", rule, err)
	}
	return canonicalPath(parsed), nil
}

// writeApp stores app as the new revision after old (nil: create).
func (c *Controller) writeApp(ctx context.Context, app, old *entity.App) error {
	b, err := json.Marshal(app)
	if err != nil {
		return fmt.Errorf("app %q: %w", app.Name, err)
	}
	key := names.AppKey(app.Name)
	var rev uint64
	if old == nil {
		rev, err = c.apps.kv.Create(ctx, key, b)
	} else {
		rev, err = c.apps.kv.Update(ctx, key, b, old.Revision)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("app %q was deployed or deleted concurrently: %w", app.Name, ErrConflict)
	}
	if err != nil {
		return unavailable("apps", err)
	}
	app.Revision = rev
	c.apps.cache.put(key, app, rev)
	return nil
}

// GetApp returns app name of namespace ns. Errors: ErrNotFound (also for
// an app of another namespace), ErrForbidden, ErrInvalid.
func (c *Controller) GetApp(ctx context.Context, id Identity, ns, name string) (*entity.App, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return nil, err
	}
	a, err := c.App(ctx, name)
	if err != nil {
		return nil, err
	}
	if a.Namespace != ns {
		return nil, fmt.Errorf("app %q in namespace %q: %w", name, ns, ErrNotFound)
	}
	return a, nil
}

// ListApps returns namespace ns's apps sorted by name.
func (c *Controller) ListApps(ctx context.Context, id Identity, ns string) ([]*entity.App, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return nil, err
	}
	apps := c.apps.inNamespace(ns)
	if apps == nil {
		apps = []*entity.App{}
	}
	return apps, nil
}

// DeleteApp removes app name of namespace ns and returns it; its routes
// answer 404 at once.
func (c *Controller) DeleteApp(ctx context.Context, id Identity, ns, name string) (*entity.App, error) {
	a, err := c.GetApp(ctx, id, ns, name)
	if err != nil {
		return nil, err
	}
	key := names.AppKey(name)
	err = c.apps.kv.Delete(ctx, key, jetstream.LastRevision(a.Revision))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("app %q was deployed concurrently: %w", name, ErrConflict)
	}
	if err != nil {
		return nil, unavailable("apps", err)
	}
	c.apps.cache.remove(key, a.Revision+1)
	c.log.Info("app deleted", "namespace", a.Namespace, "app", name)
	return a, nil
}

// App returns app name without an identity, for serving its routes (apps
// are public). ErrNotFound when there is none. The app is shared and must
// not be modified.
func (c *Controller) App(ctx context.Context, name string) (*entity.App, error) {
	if !entity.ValidName(name) {
		return nil, fmt.Errorf("app %q: %w", name, ErrNotFound)
	}
	a, _ := c.apps.cache.get(names.AppKey(name))
	if a == nil {
		// Not in the store yet (a deploy through another controller whose
		// watch update is still on its way); misses are not remembered.
		var err error
		if a, err = c.apps.load(ctx, name); err != nil {
			return nil, err
		}
	}
	if a == nil {
		return nil, fmt.Errorf("app %q: %w", name, ErrNotFound)
	}
	return a, nil
}

// AppRequest is one HTTP request to an app's endpoint.
type AppRequest struct {
	App string `json:"app"`
	// Revision is the app entry's revision the request was matched
	// against; that revision's code serves it.
	Revision uint64 `json:"revision"`
	Endpoint string `json:"endpoint"`
	// Params is the request event (gateway.RouteEvent with scriptName).
	Params json.RawMessage `json:"params"`
	// Wait bounds the blocking wait; 0 means Config.DefaultWait.
	Wait time.Duration `json:"wait"`
}

// InvokeApp serves req as a blocking activation of the app's code,
// accounted to the app's namespace. Errors: ErrNotFound (no such app or
// revision), ErrTooLarge, ErrThrottled, ErrUnavailable.
func (c *Controller) InvokeApp(ctx context.Context, req AppRequest) (*InvokeResult, error) {
	a, err := c.App(ctx, req.App)
	if err != nil {
		return nil, err
	}
	if a.Revision != req.Revision {
		// Redeployed since the gateway matched: run what it matched.
		e, err := c.apps.kv.GetRevision(ctx, names.AppKey(req.App), req.Revision)
		if isNotFound(err) {
			return nil, fmt.Errorf("app %q revision %d: %w", req.App, req.Revision, ErrNotFound)
		}
		if err != nil {
			return nil, unavailable("apps", err)
		}
		if a, err = decodeApp(e); err != nil {
			return nil, fmt.Errorf("apps: stored %s revision %d: %w", req.App, req.Revision, err)
		}
	}
	if len(req.Params) > entity.MaxPayloadBytes {
		return nil, fmt.Errorf("app %q: the request is %d bytes, over %d: %w", req.App, len(req.Params), entity.MaxPayloadBytes, ErrTooLarge)
	}
	owner := Identity{UUID: a.Namespace, Namespace: a.Namespace}
	return c.enqueue(ctx, owner, &a.Action, req.Params, InvokeRequest{Blocking: true, Wait: req.Wait},
		&activation.AppCall{Op: activation.AppServe, Endpoint: req.Endpoint})
}
