package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/stored"
)

// HTTP routes (ADR 009). A namespace's routes live together in one KV
// entry, its route table, so checking that no other route serves the same
// method and path and writing the new table is one compare-and-set.
// Controllers keep every table in a cache fed by a KV watch; the gateway
// reads a namespace's table through RouteTable on every routed request.

// MaxRoutesPerNamespace bounds a route table (a KV value stays well under
// NATS's payload limit).
const MaxRoutesPerNamespace = 1000

// RouteMethods are the HTTP methods a route may name.
var RouteMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

// PutRouteRequest creates or updates a route.
type PutRouteRequest struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Methods   []string `json:"methods"`
	Path      string   `json:"path"`
	Action    string   `json:"action"`
	Public    bool     `json:"public"`
	// Overwrite allows replacing an existing route of the same name.
	Overwrite bool `json:"overwrite"`
	// Revision, when not 0, must be the stored route's revision (a stale
	// update is ErrConflict).
	Revision uint64 `json:"revision,omitempty"`
}

// RouteTable is every route of a namespace. Revision is the KV revision
// of the table (0: the namespace has no routes), so a reader can keep
// what it derived from a table until the revision changes.
type RouteTable struct {
	Namespace string          `json:"namespace"`
	Revision  uint64          `json:"revision"`
	Routes    []*entity.Route `json:"routes"`
}

// storedRoutes is a route table's KV value.
type storedRoutes struct {
	Routes []*entity.Route `json:"routes"`
}

// Segment kinds of a route path.
const (
	SegmentLiteral  = iota // matches itself
	SegmentParam           // {name}: matches any one segment
	SegmentWildcard        // trailing *: matches the rest, zero or more segments
)

// RouteSegment is one segment of a parsed route path.
type RouteSegment struct {
	Kind int
	// Value is the literal text or the parameter's name ("" for *).
	Value string
}

var paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// ParseRoutePath parses a route path: "/" followed by segments that are
// literal text, "{name}" parameters, or a last "*" (prefix match). Empty
// segments are ignored, so "/users/" is "/users". It returns ErrInvalid
// for anything else.
func ParseRoutePath(path string) ([]RouteSegment, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("%w: route path %q must start with /", ErrInvalid, path)
	}
	if len(path) > 1024 {
		return nil, fmt.Errorf("%w: route path is over 1024 bytes", ErrInvalid)
	}
	var segs []RouteSegment
	seen := map[string]bool{}
	parts := strings.Split(path[1:], "/")
	for i, p := range parts {
		switch {
		case p == "":
			continue
		case p == "*":
			if i != len(parts)-1 {
				return nil, fmt.Errorf("%w: route path %q: * must be the last segment", ErrInvalid, path)
			}
			segs = append(segs, RouteSegment{Kind: SegmentWildcard})
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			name := p[1 : len(p)-1]
			if !paramName.MatchString(name) {
				return nil, fmt.Errorf("%w: route path %q: parameter %q must be a letter or _ then letters, digits or _", ErrInvalid, path, name)
			}
			if seen[name] {
				return nil, fmt.Errorf("%w: route path %q: parameter %q appears twice", ErrInvalid, path, name)
			}
			seen[name] = true
			segs = append(segs, RouteSegment{Kind: SegmentParam, Value: name})
		case p == "." || p == "..":
			// A client or proxy resolves dot segments before the request
			// arrives, so such a route could never match.
			return nil, fmt.Errorf("%w: route path %q: segment %q (dot segments are resolved by clients, so the route could never match)", ErrInvalid, path, p)
		case strings.ContainsAny(p, "{}*?#% \t\r\n"):
			return nil, fmt.Errorf("%w: route path %q: segment %q may not contain {, }, *, ?, #, %% or spaces (parameters are whole segments)", ErrInvalid, path, p)
		default:
			segs = append(segs, RouteSegment{Kind: SegmentLiteral, Value: p})
		}
	}
	return segs, nil
}

// RoutePattern is a parsed path's shape with parameter names erased
// ("/users/{}/*"): two routes with the same pattern and a common method
// would serve the same requests.
func RoutePattern(segs []RouteSegment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		switch s.Kind {
		case SegmentLiteral:
			b.WriteString(s.Value)
		case SegmentParam:
			b.WriteString("{}")
		default:
			b.WriteString("*")
		}
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// canonicalPath renders segments back to a path, without empty segments.
func canonicalPath(segs []RouteSegment) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		switch s.Kind {
		case SegmentLiteral:
			b.WriteString(s.Value)
		case SegmentParam:
			b.WriteString("{" + s.Value + "}")
		default:
			b.WriteString("*")
		}
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// normalizeMethods upper-cases, sorts and de-duplicates methods.
func normalizeMethods(ms []string) ([]string, error) {
	if len(ms) == 0 {
		return nil, fmt.Errorf("%w: a route needs at least one method", ErrInvalid)
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		m = strings.ToUpper(strings.TrimSpace(m))
		if !slices.Contains(RouteMethods, m) {
			return nil, fmt.Errorf("%w: method %q is not one of %s", ErrInvalid, m, strings.Join(RouteMethods, ", "))
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out, nil
}

// routeStore is the controller's side of the routes bucket.
type routeStore struct {
	kv    jetstream.KeyValue
	cache *cache[RouteTable]
}

// newRouteStore opens the routes bucket and starts its watch (until wctx
// ends); it returns once the cache holds the bucket's contents.
func newRouteStore(ctx, wctx context.Context, c *Controller) (*routeStore, error) {
	kv, err := c.js.KeyValue(ctx, names.RoutesBucket)
	if err != nil {
		return nil, fmt.Errorf("controller: kv %s: %w", names.RoutesBucket, err)
	}
	s := &routeStore{kv: kv, cache: newCache[RouteTable]()}
	ready, err := c.watch(wctx, kv, func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			s.cache.remove(e.Key(), e.Revision())
			return
		}
		t, err := decodeRouteTable(e)
		if err != nil {
			c.log.Warn("bad route table entry", "key", e.Key(), "err", err)
			return
		}
		s.cache.put(e.Key(), t, e.Revision())
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("controller: loading routes: %w", ctx.Err())
	}
	return s, nil
}

func decodeRouteTable(e jetstream.KeyValueEntry) (*RouteTable, error) {
	var sr storedRoutes
	if err := stored.Decode(e.Value(), &sr); err != nil {
		return nil, err
	}
	// The namespace is the key's, not the value's: keys are authoritative.
	ns := untoken(e.Key())
	for _, r := range sr.Routes {
		r.Namespace = ns
	}
	return &RouteTable{Namespace: ns, Revision: e.Revision(), Routes: nonNilRoutes(sr.Routes)}, nil
}

func nonNilRoutes(rs []*entity.Route) []*entity.Route {
	if rs == nil {
		return []*entity.Route{}
	}
	return rs
}

// load reads ns's table from the KV (not the cache); a namespace without
// routes has an empty table at revision 0.
func (s *routeStore) load(ctx context.Context, ns string) (*RouteTable, error) {
	key := names.RouteTableKey(ns)
	e, err := s.kv.Get(ctx, key)
	if isNotFound(err) {
		return &RouteTable{Namespace: ns, Routes: []*entity.Route{}}, nil
	}
	if err != nil {
		return nil, unavailable("routes", err)
	}
	t, err := decodeRouteTable(e)
	if err != nil {
		return nil, fmt.Errorf("routes: stored %s: %w", key, err)
	}
	s.cache.put(key, t, t.Revision)
	return t, nil
}

// write stores routes as ns's table if it is still at revision rev. A lost
// race is errRaced.
func (s *routeStore) write(ctx context.Context, ns string, rev uint64, routes []*entity.Route) (uint64, error) {
	b, err := json.Marshal(storedRoutes{Routes: routes})
	if err != nil {
		return 0, fmt.Errorf("routes: %w", err)
	}
	key := names.RouteTableKey(ns)
	var nrev uint64
	if rev == 0 {
		nrev, err = s.kv.Create(ctx, key, b)
	} else {
		nrev, err = s.kv.Update(ctx, key, b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, errRaced
	}
	if err != nil {
		return 0, unavailable("routes", err)
	}
	s.cache.put(key, &RouteTable{Namespace: ns, Revision: nrev, Routes: routes}, nrev)
	return nrev, nil
}

// errRaced is a route table write that lost to another writer; the
// operation re-reads and tries again.
var errRaced = errors.New("route table changed concurrently")

// tableAttempts bounds the retries of a route table update that keeps
// losing races to other writers of the same namespace. Each round of
// racing writers lets at least one through, so this many concurrent
// writers of one namespace always succeed.
const tableAttempts = 64

// raceBackoff waits a few random milliseconds after a lost race, so that
// writers in lockstep spread out; it returns ctx's error if ctx ends.
func raceBackoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(min(attempt+1, 10)) * int64(time.Millisecond)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return unavailable("routes", ctx.Err())
	}
}

// PutRoute creates a route, or with req.Overwrite replaces the route of
// the same name. The route's Revision counts its versions (1 on create).
//
// Errors: ErrInvalid (names, methods, path), ErrNotFound (the action does
// not exist), ErrExists (the name exists and !Overwrite, or another route
// serves one of the methods on the same path pattern), ErrConflict (stale
// req.Revision, or the table kept changing concurrently), ErrForbidden.
func (c *Controller) PutRoute(ctx context.Context, id Identity, req PutRouteRequest) (*entity.Route, error) {
	ns, err := namespace(id, req.Namespace)
	if err != nil {
		return nil, err
	}
	if !entity.ValidName(req.Name) {
		return nil, fmt.Errorf("route name %q: %w", req.Name, ErrInvalid)
	}
	if !entity.ValidName(req.Action) {
		return nil, fmt.Errorf("route %q: action name %q: %w", req.Name, req.Action, ErrInvalid)
	}
	methods, err := normalizeMethods(req.Methods)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", req.Name, err)
	}
	segs, err := ParseRoutePath(req.Path)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", req.Name, err)
	}
	if _, err := c.action(ctx, ns, req.Action); err != nil {
		return nil, fmt.Errorf("route %q: %w", req.Name, err)
	}
	pattern := RoutePattern(segs)
	r := &entity.Route{
		Namespace: ns, Name: req.Name, Methods: methods, Path: canonicalPath(segs),
		Action: req.Action, Public: req.Public, Revision: 1, Updated: now(),
	}
	for attempt := range tableAttempts {
		if attempt > 0 {
			if err := raceBackoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		t, err := c.routes.load(ctx, ns)
		if err != nil {
			return nil, err
		}
		next := make([]*entity.Route, 0, len(t.Routes)+1)
		replaced := false
		for _, o := range t.Routes {
			if o.Name == r.Name {
				switch {
				case !req.Overwrite:
					return nil, fmt.Errorf("route %q in namespace %q: %w", r.Name, ns, ErrExists)
				case req.Revision != 0 && req.Revision != o.Revision:
					return nil, fmt.Errorf("route %q in namespace %q is at revision %d, not %d: %w", r.Name, ns, o.Revision, req.Revision, ErrConflict)
				}
				r.Revision = o.Revision + 1
				replaced = true
				next = append(next, r)
				continue
			}
			if err := routeClash(o, r, pattern); err != nil {
				return nil, err
			}
			next = append(next, o)
		}
		if !replaced {
			if req.Revision != 0 {
				return nil, fmt.Errorf("route %q in namespace %q does not exist at revision %d: %w", r.Name, ns, req.Revision, ErrConflict)
			}
			if len(next) >= MaxRoutesPerNamespace {
				return nil, fmt.Errorf("namespace %q has %d routes, the most allowed: %w", ns, len(next), ErrInvalid)
			}
			r.Revision = 1
			next = append(next, r)
		}
		sort.Slice(next, func(i, j int) bool { return next[i].Name < next[j].Name })
		if _, err := c.routes.write(ctx, ns, t.Revision, next); err != nil {
			if errors.Is(err, errRaced) {
				continue
			}
			return nil, err
		}
		c.log.Info("route stored", "namespace", ns, "route", r.Name, "methods", r.Methods, "path", r.Path, "action", r.Action, "revision", r.Revision)
		return r, nil
	}
	return nil, fmt.Errorf("route %q in namespace %q: %w", r.Name, ns, ErrConflict)
}

// routeClash reports other serving one of r's methods on r's pattern.
func routeClash(other, r *entity.Route, pattern string) error {
	osegs, err := ParseRoutePath(other.Path)
	if err != nil || RoutePattern(osegs) != pattern {
		return nil
	}
	for _, m := range r.Methods {
		if slices.Contains(other.Methods, m) {
			return fmt.Errorf("route %q already serves %s %s: %w", other.Name, m, other.Path, ErrExists)
		}
	}
	return nil
}

// GetRoute returns one route. Errors: ErrNotFound, ErrInvalid, ErrForbidden.
func (c *Controller) GetRoute(ctx context.Context, id Identity, ns, name string) (*entity.Route, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return nil, err
	}
	t, err := c.routes.load(ctx, ns)
	if err != nil {
		return nil, err
	}
	for _, r := range t.Routes {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, fmt.Errorf("route %q in namespace %q: %w", name, ns, ErrNotFound)
}

// ListRoutes returns the namespace's routes sorted by name.
// Errors: ErrInvalid, ErrForbidden.
func (c *Controller) ListRoutes(ctx context.Context, id Identity, ns string) ([]*entity.Route, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return nil, err
	}
	t, err := c.routes.load(ctx, ns)
	if err != nil {
		return nil, err
	}
	return t.Routes, nil
}

// DeleteRoute removes a route and returns it.
// Errors: ErrNotFound, ErrConflict, ErrInvalid, ErrForbidden.
func (c *Controller) DeleteRoute(ctx context.Context, id Identity, ns, name string) (*entity.Route, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return nil, err
	}
	for attempt := range tableAttempts {
		if attempt > 0 {
			if err := raceBackoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		t, err := c.routes.load(ctx, ns)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(t.Routes, func(r *entity.Route) bool { return r.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("route %q in namespace %q: %w", name, ns, ErrNotFound)
		}
		gone := t.Routes[i]
		next := slices.Delete(slices.Clone(t.Routes), i, i+1)
		if _, err := c.routes.write(ctx, ns, t.Revision, next); err != nil {
			if errors.Is(err, errRaced) {
				continue
			}
			return nil, err
		}
		c.log.Info("route deleted", "namespace", ns, "route", name)
		return gone, nil
	}
	return nil, fmt.Errorf("route %q in namespace %q: %w", name, ns, ErrConflict)
}

// RouteTable returns namespace ns's routes from the watch-fed cache, for
// the gateway to serve them: it needs no identity, since public routes are
// served to anyone. A namespace the cache has not seen is read from the KV.
// Errors: ErrInvalid (bad namespace name), ErrUnavailable.
func (c *Controller) RouteTable(ctx context.Context, ns string) (*RouteTable, error) {
	if !entity.ValidName(ns) {
		return nil, fmt.Errorf("namespace %q: %w", ns, ErrInvalid)
	}
	key := names.RouteTableKey(ns)
	if t, known := c.routes.cache.get(key); known {
		if t == nil {
			return &RouteTable{Namespace: ns, Routes: []*entity.Route{}}, nil
		}
		return t, nil
	}
	// Not cached: no routes, or a table another controller wrote an
	// instant ago. "No routes" is not remembered, so requests for made-up
	// namespaces cannot grow the cache (as for unknown actions).
	return c.routes.load(ctx, ns)
}

// WebAction returns action ns/name for the gateway's web-action dispatch,
// which decides by the action's annotations (web-export, raw-http,
// require-whisk-auth) whether and how to serve it; like RouteTable it
// needs no identity. The caller must not show the action to the client.
// Errors: ErrNotFound, ErrInvalid.
func (c *Controller) WebAction(ctx context.Context, ns, name string) (*entity.Action, error) {
	if !entity.ValidName(ns) || !entity.ValidName(name) {
		return nil, fmt.Errorf("action %q in namespace %q: %w", name, ns, ErrNotFound)
	}
	return c.action(ctx, ns, name)
}
