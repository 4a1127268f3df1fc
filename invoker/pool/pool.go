package pool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flurryfn/flurry/invoker/container"
)

// Start says how Acquire had the container.
type Start string

// How a container was had, as the record's "start" annotation says it.
const (
	StartWarm    Start = "warm"    // already initialized for this action revision
	StartPrewarm Start = "prewarm" // a stem cell: needs /init
	StartCold    Start = "cold"    // started for this request: needs /init
	// StartLoaded is a container initialized for Request.Loaded and now
	// bound to Request.Key: it needs no /init, only what binds it to the
	// key (an app's /specialize, ADR 010).
	StartLoaded Start = "loaded"
)

// Errors of Acquire.
var (
	// ErrClosed is returned once Close has begun.
	ErrClosed = errors.New("pool closed")
	// ErrTooLarge is returned for a request bigger than the whole budget.
	ErrTooLarge = errors.New("memory request exceeds the pool budget")
)

// WarmFunc initializes a container for the action revision key (its
// /init) without an activation, for a policy prewarm off the critical
// path. conn is what the OpenFunc returned. An error makes the pool
// remove the container.
type WarmFunc[T any] func(ctx context.Context, key string, conn T) error

// OpenFunc prepares a freshly started container for use (waits for its
// proxy to accept connections, makes a protocol client and log
// collector). An error makes the pool remove the container.
type OpenFunc[T any] func(ctx context.Context, c *container.Container) (T, error)

// Request describes the container an activation needs.
type Request struct {
	// Key is the action revision (entity.Action.Key).
	Key string
	// Kind and Image say what to start on a cold start; a stem cell is
	// taken only when both match.
	Kind  string
	Image string
	// MemoryMB is the container's memory limit.
	MemoryMB int64
	// Network is the network policy of the action's namespace
	// (container.NetworkDefault when empty). A container serves only
	// requests of the policy it was started with: stem cells, started
	// with the default, serve no other, and idle containers of Key started
	// with another policy are removed.
	Network string
	// Concurrency is how many activations the container may run at once
	// (values below 1 mean 1).
	Concurrency int
	// Loaded, when set, is the key of initialized containers that can
	// serve Key after a cheap step of the caller's (StartLoaded): an idle
	// one of the same memory is rebound to Key before anything is
	// started. A web app's containers are loaded with the app under one
	// key and specialized per endpoint (ADR 010).
	Loaded string
	// Family and Revision, when Family is set, say that Key is revision
	// Revision of the action Family (namespace/name). A request for a
	// newer revision than the pool has seen retires the family's older
	// revisions: their idle containers are removed at once, busy ones
	// when released, and the keep-alive policy prewarms none of them.
	// An action update thus frees its old containers' memory at its
	// first call instead of after the idle timeout.
	Family   string
	Revision uint64
}

// Container is one container of the pool. Its exported fields never
// change after Acquire returns it.
type Container[T any] struct {
	ID       string
	Kind     string
	Image    string
	MemoryMB int64
	// Network is the network policy it was started with.
	Network string
	// Raw is what the runtime returned from Start.
	Raw *container.Container
	// Conn is what the OpenFunc returned.
	Conn T

	// Guarded by Pool.mu.
	key         string // "" for a stem cell
	maxActive   int
	active      int
	initialized bool
	removing    bool
	lastUsed    time.Time
	// policyWarmed: initialized by a policy prewarm and not used since.
	policyWarmed bool
	// runSince is when the last warm Acquire took c, or when /init
	// ended for the activation that started it (zero otherwise): Release
	// measures the key's run time from it. firstRun marks the latter.
	runSince time.Time
	firstRun bool

	fz freezeState
}

// Stats is a snapshot of the pool: current sizes, then counters that
// only grow from New on (for benchmarks and heartbeats).
type Stats struct {
	MemoryMB int64 `json:"memoryMB"` // the budget
	UsedMB   int64 `json:"usedMB"`   // memory of all containers, starting and removing ones included
	Warm     int   `json:"warm"`     // containers bound to an action revision
	Prewarm  int   `json:"prewarm"`  // idle stem cells
	Busy     int   `json:"busy"`     // activations running in containers
	// PrewarmTarget is the number of stem cells currently wanted, over
	// all (kind, memory) pairs (adaptive; see StemConfig).
	PrewarmTarget int `json:"prewarmTarget"`

	// ColdStarts counts Acquires that started a container (StartCold).
	ColdStarts uint64 `json:"coldStarts"`
	// PrewarmStarts counts Acquires that took a stem cell (StartPrewarm).
	PrewarmStarts uint64 `json:"prewarmStarts"`
	// WarmHits counts Acquires served by an initialized container
	// (StartWarm), policy-prewarmed ones included.
	WarmHits uint64 `json:"warmHits"`
	// PolicyPrewarms counts containers the KeepAlive policy had started
	// and initialized for an action ahead of its expected next call.
	PolicyPrewarms uint64 `json:"policyPrewarms"`
	// PolicyPrewarmHits counts warm hits on such a container (first use).
	PolicyPrewarmHits uint64 `json:"policyPrewarmHits"`
	// ScaleOuts counts containers started and initialized in the
	// background for an action whose activations were queued for its
	// busy warm containers (ADR 011).
	ScaleOuts uint64 `json:"scaleOuts"`
	// Evictions counts idle containers removed to make room (see
	// reserveLocked for the order).
	Evictions uint64 `json:"evictions"`
	// Expired counts idle containers removed by the keep-alive policy
	// (idle timeout, release for re-warm) and excess stem cells.
	Expired uint64 `json:"expired"`
	// MemoryMBSeconds is the integral over time of UsedMB: the memory the
	// pool held, in MB·s.
	MemoryMBSeconds float64 `json:"memoryMBSeconds"`
}

// counters are the cumulative part of Stats.
type counters struct {
	cold, prewarm, warm, policyPrewarms, policyHits, evictions, expired, scaleOuts uint64
}

// Pool owns the containers of one invoker. It is safe for concurrent use.
type Pool[T any] struct {
	rt container.Runtime
	// freezer is rt's, nil when it has none or freezing is off.
	freezer container.Freezer
	cfg     Config
	open    OpenFunc[T]
	log     *slog.Logger

	nameID string
	seq    atomic.Uint64
	refill chan struct{}
	wg     sync.WaitGroup // background removals

	mu      sync.Mutex
	all     map[string]*Container[T]
	byKey   map[string][]*Container[T] // all, by action revision ("": stem cells)
	usedMB  int64
	changed chan struct{} // closed and replaced on every change that may free capacity
	closed  bool
	backoff map[stemKey]prewarmBackoff
	now     func() time.Time

	warm      WarmFunc[T]          // nil: no policy prewarms
	avgStart  time.Duration        // moving average of container starts (ADR 011)
	keys      map[string]*keyState // action revisions seen and not yet forgotten
	latest    map[string]uint64    // newest revision requested per Request.Family
	stems     stemState
	count     counters
	memMBs    float64   // MB·s accrued up to lastAccrue
	lastAccru time.Time // zero before the first change of usedMB
}

// keyState is what the pool remembers of one action revision.
type keyState struct {
	req       Request   // the last request, to start a container like it
	running   int       // Acquires of the key not yet released
	idleSince time.Time // when running last dropped to 0
	rewarmed  bool      // the current idle period's policy prewarm is done or given up
	warming   bool      // a policy prewarm is in progress
	retired   bool      // a newer revision of the key's action was requested
	// avgRun is a moving average of how long an activation holds a
	// container (0: not known yet); floorRun follows its recent shortest
	// runs (falls at once, rises slowly: the run without CPU contention,
	// ADR 013); waiting counts Acquires queued for a busy warm container
	// (ADR 011).
	avgRun   time.Duration
	floorRun time.Duration
	waiting  int
	// firstOnly: avgRun is the run right after a cold start's /init,
	// the only one measured so far (see measureRun).
	firstOnly bool
	// starting counts cold starts for the key in progress (in the pool's
	// index only once the runtime start returns).
	starting int
	// avgGap is a moving average of the time between two Acquires of the
	// key (0: not known yet), lastArrival the latest one's time.
	avgGap      time.Duration
	lastArrival time.Time
}

type prewarmBackoff struct {
	until time.Time
	delay time.Duration
}

// New makes a pool over rt. open may be nil when the caller needs nothing
// per container.
func New[T any](rt container.Runtime, cfg Config, open OpenFunc[T], log *slog.Logger) (*Pool[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if open == nil {
		open = func(context.Context, *container.Container) (T, error) { var z T; return z, nil }
	}
	if log == nil {
		log = slog.Default()
	}
	return &Pool[T]{
		rt:      rt,
		freezer: freezerOf(rt, cfg.withDefaults().FreezeGrace),
		cfg:     cfg.withDefaults(),
		open:    open,
		log:     log,
		nameID:  nameUnsafe.ReplaceAllString(cfg.InvokerID, "-") + "-" + runToken(),
		refill:  make(chan struct{}, 1),
		all:     map[string]*Container[T]{},
		byKey:   map[string][]*Container[T]{},
		changed: make(chan struct{}),
		backoff: map[stemKey]prewarmBackoff{},
		now:     time.Now,
		keys:    map[string]*keyState{},
		latest:  map[string]uint64{},
		stems:   newStemState(cfg.withDefaults()),
	}, nil
}

// SetWarm sets the hook that initializes a container for an action
// revision, which policy prewarms need. Call it before Run.
func (p *Pool[T]) SetWarm(w WarmFunc[T]) {
	p.mu.Lock()
	p.warm = w
	p.mu.Unlock()
}

var nameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// runToken tells this run's container names from a previous run's of the
// same invoker id, which may still be being removed (RemoveLeftovers)
// while this run starts containers: the runtime refuses a name in use.
func runToken() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b)
}

// Acquire returns a container for req: a warm one of req.Key with a free
// concurrency slot, else an idle stem cell of the same kind, image and
// memory, else a new one (evicting idle containers when the budget is
// full, see reserveLocked). When nothing can be evicted it waits
// for capacity until ctx is done. Errors are platform errors (runtime
// failure, ErrClosed, ErrTooLarge, ctx.Err()).
//
// The caller must call Initialized after a successful /init on a
// prewarm or cold container, and finally Release or Discard.
func (p *Pool[T]) Acquire(ctx context.Context, req Request) (*Container[T], Start, error) {
	if req.Concurrency < 1 {
		req.Concurrency = 1
	}
	if req.Network == "" {
		req.Network = container.NetworkDefault
	}
	if req.MemoryMB > p.cfg.MemoryMB {
		return nil, "", fmt.Errorf("%d MB of %d MB: %w", req.MemoryMB, p.cfg.MemoryMB, ErrTooLarge)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, "", ErrClosed
	}
	p.arriveLocked(req)
	p.mu.Unlock()
	c, how, err := p.acquire(ctx, req)
	if err != nil {
		p.mu.Lock()
		p.leaveLocked(req.Key)
		p.mu.Unlock()
	}
	return c, how, err
}

// arriveLocked counts an activation of req.Key in and, when none was
// running, tells the policy that an idle period ended.
func (p *Pool[T]) arriveLocked(req Request) {
	ks := p.keys[req.Key]
	if ks == nil {
		ks = &keyState{}
		p.keys[req.Key] = ks
	}
	now := p.now()
	if ks.running == 0 {
		p.cfg.KeepAlive.Arrive(req.Key, now)
	}
	if !ks.lastArrival.IsZero() {
		ks.avgGap = ewma(ks.avgGap, now.Sub(ks.lastArrival))
	}
	ks.lastArrival = now
	ks.req = req
	ks.running++
	ks.rewarmed = false
	if req.Family != "" {
		p.supersedeLocked(req, ks)
	}
	p.dropOtherNetworkLocked(req)
}

// dropOtherNetworkLocked removes the idle containers of req.Key and
// req.Loaded that were started with another network policy than req's:
// the namespace's policy changed. Busy ones go when released.
func (p *Pool[T]) dropOtherNetworkLocked(req Request) {
	for _, key := range []string{req.Key, req.Loaded} {
		if key == "" {
			continue
		}
		for _, c := range p.byKey[key] {
			if c.Network != req.Network && c.active == 0 && !c.removing {
				c.removing = true
				p.log.Info("removing idle container of another network policy", "container", c.ID,
					"action", key, "network", c.Network, "want", req.Network)
				p.removeAsync(c)
			}
		}
	}
}

// supersedeLocked notes req's revision of its action: a newer one than
// seen retires the older revisions' keys and removes their idle
// containers; an older one (a late call, e.g. from a controller that has
// not seen the update yet) runs, and its key is retired from the start.
func (p *Pool[T]) supersedeLocked(req Request, ks *keyState) {
	latest, seen := p.latest[req.Family]
	if seen && req.Revision < latest {
		ks.retired = true
		return
	}
	if seen && req.Revision == latest {
		return
	}
	p.latest[req.Family] = req.Revision
	for key, old := range p.keys {
		if old.retired || old.req.Family != req.Family || old.req.Revision >= req.Revision {
			continue
		}
		old.retired = true
		for _, c := range p.byKey[key] {
			if c.active == 0 && !c.removing {
				c.removing = true
				p.log.Info("removing idle container of a superseded revision", "container", c.ID,
					"action", key, "newRevision", req.Revision)
				p.removeAsync(c)
			}
		}
	}
}

// leaveLocked counts an activation of key out and, when it was the last
// one running, tells the policy that an idle period began.
func (p *Pool[T]) leaveLocked(key string) {
	ks := p.keys[key]
	if ks == nil || ks.running == 0 {
		return
	}
	ks.running--
	if ks.running == 0 {
		ks.idleSince = p.now()
		p.cfg.KeepAlive.Idle(key, ks.idleSince)
	}
}

func (p *Pool[T]) acquire(ctx context.Context, req Request) (*Container[T], Start, error) {
	var queueUntil time.Time // set when the first wait for a busy container begins
	var arrived time.Time    // when this Acquire first looked
	pressed := false         // memory was found short (see shortLocked)
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, "", ErrClosed
		}
		now := p.now()
		if arrived.IsZero() {
			arrived = now
		}
		if c := p.warmLocked(req); c != nil {
			c.active++
			c.lastUsed = now
			c.runSince, c.firstRun = now, false
			p.count.warm++
			if c.policyWarmed {
				c.policyWarmed = false
				p.count.policyHits++
			}
			p.mu.Unlock()
			if !p.handOut(c) {
				continue
			}
			return c, StartWarm, nil
		}
		short := p.shortLocked(req, now)
		if queueUntil.IsZero() || p.startUnderWayLocked(req.Key, short) || (short && !pressed) {
			// Waiting beats starting while it is expected to be shorter
			// than a start: at least QueueWait, and as long as starts
			// have been taking lately (seconds on a loaded engine).
			// While the runtime is still starting a container of the
			// key, the wait goes on as long as that start does: one made
			// now would not be ready sooner.
			wait := max(p.cfg.QueueWait, p.avgStart)
			until := now.Add(wait)
			if short {
				// A start now would also evict a container another
				// action still calls, whose next call then pays a start:
				// two starts against one wait, bounded by PressureWait.
				until = now.Add(2 * wait)
				if bound := arrived.Add(p.cfg.PressureWait); until.After(bound) {
					until = bound
				}
			}
			queueUntil = later(queueUntil, until)
		}
		pressed = pressed || short
		if ok, slots := p.queueLocked(req, now, queueUntil, short); ok {
			if err := p.awaitWarm(ctx, req, slots, queueUntil.Sub(now)); err != nil {
				return nil, "", err
			}
			continue
		}
		if c := p.loadedLocked(req); c != nil {
			p.bindLocked(c, req.Key)
			c.maxActive = req.Concurrency
			c.active = 1
			c.lastUsed = now
			c.policyWarmed = false
			p.count.prewarm++
			p.mu.Unlock()
			if !p.handOut(c) {
				continue
			}
			return c, StartLoaded, nil
		}
		if c := p.stemLocked(req); c != nil {
			p.bindLocked(c, req.Key)
			c.maxActive = req.Concurrency
			c.active = 1
			c.lastUsed = now
			p.count.prewarm++
			p.stems.demandLocked(req)
			p.mu.Unlock()
			p.kickRefill()
			return c, StartPrewarm, nil
		}
		victims, ok := p.reserveLocked(req.MemoryMB, p.hasWarmLocked(req.Key), now)
		if ok {
			p.count.evictions += uint64(len(victims))
			p.stems.demandLocked(req)
			if ks := p.keys[req.Key]; ks != nil && p.log.Enabled(ctx, slog.LevelDebug) {
				p.log.Debug("cold start", "action", req.Key, "containers", len(p.byKey[req.Key]),
					"waiting", ks.waiting, "avgRun", ks.avgRun, "floorRun", ks.floorRun,
					"avgStart", p.avgStart, "waitLeft", queueUntil.Sub(now), // ≤ 0: a wait for a busy container ran out
					"contended", p.cfg.Contended())
			}
		} else {
			wait := p.changed
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil, "", fmt.Errorf("wait for %d MB of pool memory: %w", req.MemoryMB, ctx.Err())
			case <-wait:
				continue
			}
		}
		ks := p.keys[req.Key] // not forgotten: this Acquire runs
		ks.starting++
		p.mu.Unlock()
		for _, v := range victims {
			p.log.Info("evicting idle container for capacity", "container", v.ID, "action", v.key, "memoryMB", v.MemoryMB)
			p.remove(ctx, v)
		}
		c, err := p.start(ctx, req.Kind, req.Image, req.MemoryMB, req.Network, func(c *Container[T]) {
			c.key = req.Key
			c.maxActive = req.Concurrency
			c.active = 1
		})
		p.mu.Lock()
		ks.starting--
		if err == nil {
			p.count.cold++
		}
		p.mu.Unlock()
		if err != nil {
			return nil, "", err
		}
		return c, StartCold, nil
	}
}

// warmLocked picks the initialized container of req.Key with a free slot
// that is busiest (packing concurrent activations), then most recent.
func (p *Pool[T]) warmLocked(req Request) *Container[T] {
	var best *Container[T]
	for _, c := range p.byKey[req.Key] {
		if !c.initialized || c.removing || c.active >= c.maxActive || c.Network != req.Network {
			continue
		}
		if best == nil || c.active > best.active || (c.active == best.active && c.lastUsed.After(best.lastUsed)) {
			best = c
		}
	}
	return best
}

// queueLocked decides whether an Acquire of req.Key that found no free
// warm container waits for a busy one (ADR 011): the action's runs are
// known and short enough that, with the Acquires already waiting, one of
// its busy containers is expected to be free before until. slots is the
// number of activations the key's containers run at once.
//
// While no run of the action is known, an Acquire waits (until until) for
// a container of the action that is starting, initializing or running its
// first activation: most actions run for far less than a start takes, and
// the wait costs at most what the start would have. Starting instead, a
// burst of calls for a new action started a container for each call that
// came while the first one started; where starts took seconds (busy
// fuse-overlayfs engine, 4–7 s) that was 3–5 containers per action.
//
// When memory is short (short), a start would evict a container another
// action still calls: then the Acquire also waits for a container of its
// action that is starting or initializing although the action's runs
// are known, and the caller's deadline is the longer pressure one.
func (p *Pool[T]) queueLocked(req Request, now, until time.Time, short bool) (ok bool, slots int) {
	ks := p.keys[req.Key]
	if p.cfg.QueueWait <= 0 || ks == nil || !now.Before(until) {
		return false, 0
	}
	pending := ks.starting
	for _, c := range p.byKey[req.Key] {
		switch {
		case c.removing, c.Network != req.Network: // the latter goes when released
		case c.initialized:
			slots += c.maxActive
		default:
			pending++
		}
	}
	if ks.avgRun <= 0 {
		return slots+pending > 0, slots
	}
	if slots == 0 {
		return short && pending > 0, 0
	}
	expected := ks.avgRun * time.Duration(ks.waiting+1) / time.Duration(slots)
	return now.Add(expected).Before(until), slots
}

// startUnderWayLocked reports whether a cold start of key is in progress
// while no run of key is known: the case where an Acquire waits for the
// start however long it takes. avgStart is a moving average, so it lags
// when starts suddenly slow down (a start storm after an invoker is lost,
// when every start takes seconds); a wait bounded by it ran out before
// the start it waited for finished, and the caller started a container
// of its own, adding to the storm.
//
// When memory is short the same holds whether or not runs are known, up
// to the pressure bound: a second start would also evict.
func (p *Pool[T]) startUnderWayLocked(key string, short bool) bool {
	ks := p.keys[key]
	return ks != nil && ks.starting > 0 && (ks.avgRun <= 0 || short)
}

// shortLocked reports whether memory is short for req: starting a
// container for it now would evict a warm container that its action
// still calls (rank rankInUse), because the free budget, idle stem cells
// and stale containers together hold less than req.MemoryMB. An idle
// stem cell req could take counts as room. Always false when
// PressureWait is negative.
func (p *Pool[T]) shortLocked(req Request, now time.Time) bool {
	if p.cfg.PressureWait < 0 {
		return false
	}
	room := p.cfg.MemoryMB - p.usedMB
	if room >= req.MemoryMB || p.stemLocked(req) != nil {
		return false
	}
	for _, c := range p.all {
		if room >= req.MemoryMB {
			return false
		}
		if c.active > 0 || c.removing || (c.key != "" && !c.initialized) {
			continue
		}
		if p.evictionRank(c, now) != rankInUse {
			room += c.MemoryMB
		}
	}
	return room < req.MemoryMB
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// awaitWarm waits, as one of req.Key's queued Acquires, until a container
// is released or d passes. When more Acquires wait than the key's
// containers have slots and the key's load would keep those slots busy
// (backlogged), it asks for one more container in the background
// (scale-out from free memory). It is called with p.mu held and returns
// with it released.
func (p *Pool[T]) awaitWarm(ctx context.Context, req Request, slots int, d time.Duration) error {
	ks := p.keys[req.Key]
	ks.waiting++
	backlog := slots > 0 && ks.waiting > slots && !ks.warming && ks.backlogged(slots, p.cfg.Contended())
	wait := p.changed
	if backlog {
		p.log.Info("scaling out: starting one more container", "action", req.Key, "waiting", ks.waiting,
			"slots", slots, "avgRun", ks.avgRun, "floorRun", ks.floorRun, "avgGap", ks.avgGap)
	}
	p.mu.Unlock()
	if backlog {
		p.prewarm(ctx, req, true)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	var err error
	select {
	case <-wait:
	case <-t.C:
	case <-ctx.Done():
		err = fmt.Errorf("wait for a warm container: %w", ctx.Err())
	}
	p.mu.Lock()
	ks.waiting--
	p.mu.Unlock()
	return err
}

// measureRun takes one run of d into the key's run times. The run right
// after a cold or prewarm start's /init (first) is slower than later
// ones (page faults, lazy initialization in the action), so it only
// stands in while nothing else is known: without it an action's calls
// that collide before its first warm run would each start a container,
// however short its runs (while starts take seconds, that is every
// collision in the first seconds of a burst). The first warm run
// replaces it; floorRun takes warm runs only.
func (ks *keyState) measureRun(d time.Duration, first bool) {
	switch {
	case first:
		if ks.avgRun == 0 && plausible(d) {
			ks.avgRun, ks.firstOnly = d, true
		}
		return
	case ks.firstOnly && plausible(d):
		ks.avgRun, ks.firstOnly = 0, false
	}
	ks.avgRun = ewma(ks.avgRun, d)
	ks.floorRun = floor(ks.floorRun, d)
}

// backlogged reports whether the key's offered load, arrivals per second
// times run time, fills at least 80 % of slots: a queue that then does not
// drain by itself. Below that a pile-up of calls is chance and clears in a
// few runs; counting waiters alone scaled a 1 ms action out on every
// pile-up of three calls, each start costing far more CPU than the
// milliseconds it saved (ADR 012).
//
// On a contended host (CPUs saturated) the run time is the floor of
// recent runs rather than their average: a 1 ms action whose runs take
// 25 ms waiting for CPU is not a backlog another container would clear,
// while an action that sleeps 100 ms still is (ADR 013).
func (ks *keyState) backlogged(slots int, contended bool) bool {
	if ks.avgGap <= 0 {
		return true // a burst: all arrivals so far at one instant
	}
	run := ks.avgRun
	if contended && ks.floorRun > 0 {
		run = min(run, ks.floorRun)
	}
	return 10*run >= 8*ks.avgGap*time.Duration(slots)
}

// loadedLocked picks an idle container initialized for req.Loaded.
func (p *Pool[T]) loadedLocked(req Request) *Container[T] {
	if req.Loaded == "" {
		return nil
	}
	for _, c := range p.byKey[req.Loaded] {
		if c.initialized && !c.removing && c.active == 0 && c.MemoryMB == req.MemoryMB && c.Network == req.Network {
			return c
		}
	}
	return nil
}

func (p *Pool[T]) stemLocked(req Request) *Container[T] {
	for _, c := range p.byKey[""] {
		if !c.removing && c.active == 0 && c.Kind == req.Kind && c.Image == req.Image && c.MemoryMB == req.MemoryMB &&
			c.Network == req.Network {
			return c
		}
	}
	return nil
}

// reserveLocked reserves mb of the budget, choosing idle containers to
// evict if needed, cheapest loss first (see evictionRank), least recently
// used first within a rank. The victims are marked removing; their memory
// stays counted until the caller has removed them, so the budget holds at
// every moment.
//
// For a scale-out (the action already has a warm container, busy) a
// container its action still calls (rank 2, not surplus) is not evicted:
// the caller waits for its action's own containers instead.
func (p *Pool[T]) reserveLocked(mb int64, scaleOut bool, now time.Time) ([]*Container[T], bool) {
	free := p.cfg.MemoryMB - p.usedMB
	if free >= mb {
		p.useLocked(mb)
		return nil, true
	}
	type candidate struct {
		c    *Container[T]
		rank int
	}
	var idle []candidate
	for _, c := range p.all {
		// A container bound to a key but not initialized is a policy
		// prewarm in progress: not idle yet.
		if c.active > 0 || c.removing || (c.key != "" && !c.initialized) {
			continue
		}
		rank := p.evictionRank(c, now)
		if scaleOut && rank == rankInUse && !p.surplusLocked(c) {
			continue
		}
		idle = append(idle, candidate{c, rank})
	}
	sort.Slice(idle, func(a, b int) bool {
		if idle[a].rank != idle[b].rank {
			return idle[a].rank < idle[b].rank
		}
		return idle[a].c.lastUsed.Before(idle[b].c.lastUsed)
	})
	var victims []*Container[T]
	for _, cd := range idle {
		if free >= mb {
			break
		}
		victims = append(victims, cd.c)
		free += cd.c.MemoryMB
	}
	if free < mb {
		return nil, false
	}
	for _, v := range victims {
		v.removing = true
	}
	p.useLocked(mb)
	return victims, true
}

// Eviction ranks, cheapest loss first.
const (
	rankStale = iota // a warm container its action seems to have stopped calling
	rankStem         // a stem cell: the next start of its kind pays a runtime start
	rankInUse        // a warm container between calls: its next call pays a cold start
)

// staleAfterMin is the least idle time after which a warm container may
// count as stale.
const staleAfterMin = time.Second

// evictionRank ranks the idle container c for eviction. A warm container
// is stale once idle for twice its action's usual gap between calls (and
// at least staleAfterMin).
//
// Stem cells used to go last and scale-outs evicted like first starts,
// least recently used first. With memory for about one container per
// action and calls spread over the actions (a killed invoker's survivor
// running its 16 actions in 2,048 MB beside a 256 MB stem cell), that
// evicted, call after call, the container the next call needed: 126 cold
// starts for 200 calls.
func (p *Pool[T]) evictionRank(c *Container[T], now time.Time) int {
	if c.key == "" {
		return rankStem
	}
	stale := staleAfterMin
	if ks := p.keys[c.key]; ks != nil {
		stale = max(stale, 2*ks.avgGap)
	}
	if now.Sub(c.lastUsed) >= stale {
		return rankStale
	}
	return rankInUse
}

// surplusLocked reports whether c's action has another idle warm container.
func (p *Pool[T]) surplusLocked(c *Container[T]) bool {
	for _, o := range p.byKey[c.key] {
		if o != c && o.initialized && !o.removing && o.active == 0 {
			return true
		}
	}
	return false
}

// hasWarmLocked reports whether key has an initialized container that is
// not being removed: one more would be a scale-out.
func (p *Pool[T]) hasWarmLocked(key string) bool {
	for _, c := range p.byKey[key] {
		if c.initialized && !c.removing {
			return true
		}
	}
	return false
}

// start starts a container whose memory is already reserved, and adds it
// to the pool with bind applied under the lock. On failure it gives the
// reservation back.
func (p *Pool[T]) start(ctx context.Context, kind, image string, mb int64, network string, bind func(*Container[T])) (*Container[T], error) {
	sctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	spec := container.Spec{
		Name:        fmt.Sprintf("flurry-%s-%d", p.nameID, p.seq.Add(1)),
		Image:       image,
		Kind:        kind,
		MemoryBytes: mb << 20,
		Network:     network,
		Labels: map[string]string{
			container.LabelManaged: "true",
			container.LabelInvoker: p.cfg.InvokerID,
			container.LabelKind:    kind,
		},
	}
	t0 := p.now()
	raw, err := p.rt.Start(sctx, spec)
	if err == nil {
		var conn T
		conn, err = p.open(sctx, raw)
		if err == nil {
			c := &Container[T]{ID: raw.ID, Kind: kind, Image: image, MemoryMB: mb, Network: network, Raw: raw, Conn: conn}
			p.mu.Lock()
			c.lastUsed = p.now()
			p.avgStart = ewma(p.avgStart, c.lastUsed.Sub(t0))
			bind(c)
			if p.closed {
				// Close has already swept the pool; this one is ours to remove.
				c.removing = true
				p.addLocked(c)
				p.mu.Unlock()
				p.remove(context.WithoutCancel(ctx), c)
				return nil, ErrClosed
			}
			p.addLocked(c)
			p.mu.Unlock()
			p.log.Debug("container started", "container", c.ID, "kind", kind, "memoryMB", mb)
			return c, nil
		}
		p.removeRaw(context.WithoutCancel(ctx), raw)
		err = fmt.Errorf("open container %s: %w", raw.ID, err)
	} else {
		err = fmt.Errorf("start %s container from %q: %w", kind, image, err)
	}
	p.mu.Lock()
	p.useLocked(-mb)
	p.broadcastLocked()
	p.mu.Unlock()
	return nil, err
}

// Initialized marks c as initialized for its action revision, so that
// further Acquires may reuse it.
func (p *Pool[T]) Initialized(c *Container[T]) {
	p.mu.Lock()
	c.initialized = true
	if c.active > 0 {
		// The activation that started c runs next: its run is the
		// action's first measured one when no warm run is known yet.
		c.runSince, c.firstRun = p.now(), true
	}
	p.broadcastLocked()
	p.mu.Unlock()
}

// Release ends one activation's use of c. A container that was never
// initialized cannot be reused and is removed.
func (p *Pool[T]) Release(c *Container[T]) {
	p.mu.Lock()
	c.active--
	now := p.now()
	if ks := p.keys[c.key]; ks != nil && !c.runSince.IsZero() {
		ks.measureRun(now.Sub(c.runSince), c.firstRun)
		c.runSince, c.firstRun = time.Time{}, false
	}
	c.lastUsed = now
	p.leaveLocked(c.key)
	drop := !c.removing && c.active == 0 && (!c.initialized || p.retiredLocked(c.key) || p.otherNetworkLocked(c))
	if drop {
		c.removing = true
	}
	if c.active == 0 {
		p.idleLocked(c)
	}
	p.broadcastLocked()
	p.mu.Unlock()
	if drop {
		p.removeAsync(c)
	}
}

// forgetFamiliesLocked drops the newest revision noted for actions of
// which no key is left.
func (p *Pool[T]) forgetFamiliesLocked() {
	if len(p.latest) == 0 {
		return
	}
	inUse := make(map[string]bool, len(p.latest))
	for _, ks := range p.keys {
		inUse[ks.req.Family] = true
	}
	for fam := range p.latest {
		if !inUse[fam] {
			delete(p.latest, fam)
		}
	}
}

// otherNetworkLocked reports whether c's action was last requested with
// another network policy than c was started with.
func (p *Pool[T]) otherNetworkLocked(c *Container[T]) bool {
	ks := p.keys[c.key]
	return ks != nil && ks.req.Network != "" && ks.req.Network != c.Network
}

func (p *Pool[T]) retiredLocked(key string) bool {
	ks := p.keys[key]
	return ks != nil && ks.retired
}

// Discard ends one activation's use of c and removes c (it timed out,
// crashed or failed /init). Other activations running in c will fail.
func (p *Pool[T]) Discard(c *Container[T]) {
	p.mu.Lock()
	c.active--
	p.leaveLocked(c.key)
	drop := !c.removing
	c.removing = true
	p.broadcastLocked()
	p.mu.Unlock()
	if drop {
		p.removeAsync(c)
	}
}

func (p *Pool[T]) removeAsync(c *Container[T]) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.remove(context.Background(), c)
	}()
}

// addLocked puts c, bound to its key or none, into the pool.
func (p *Pool[T]) addLocked(c *Container[T]) {
	p.all[c.ID] = c
	p.byKey[c.key] = append(p.byKey[c.key], c)
}

// dropLocked takes c out of the pool.
func (p *Pool[T]) dropLocked(c *Container[T]) {
	delete(p.all, c.ID)
	p.unindexLocked(c)
}

// bindLocked binds c, in the pool, to action revision key.
func (p *Pool[T]) bindLocked(c *Container[T], key string) {
	p.unindexLocked(c)
	c.key = key
	p.byKey[key] = append(p.byKey[key], c)
}

func (p *Pool[T]) unindexLocked(c *Container[T]) {
	cs := p.byKey[c.key]
	if i := slices.Index(cs, c); i >= 0 {
		cs = slices.Delete(cs, i, i+1)
	}
	if len(cs) == 0 {
		delete(p.byKey, c.key)
	} else {
		p.byKey[c.key] = cs
	}
}

// remove removes c (already marked removing) from the runtime and the pool
// and frees its memory.
func (p *Pool[T]) remove(ctx context.Context, c *Container[T]) {
	c.fz.mu.Lock() // no freeze or thaw of c from here on
	p.removeRaw(ctx, c.Raw)
	c.fz.mu.Unlock()
	p.mu.Lock()
	p.dropLocked(c)
	p.useLocked(-c.MemoryMB)
	p.broadcastLocked()
	p.mu.Unlock()
}

func (p *Pool[T]) removeRaw(ctx context.Context, raw *container.Container) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.RemoveTimeout)
	defer cancel()
	if err := p.rt.Remove(ctx, raw.ID); err != nil && !errors.Is(err, container.ErrNotFound) {
		p.log.Error("remove container", "container", raw.ID, "err", err)
	}
	// The streams end with the container; close them so nothing leaks if
	// no reader is left.
	if raw.Stdout != nil {
		raw.Stdout.Close()
	}
	if raw.Stderr != nil {
		raw.Stderr.Close()
	}
}

// floor follows the low end of run times d: it drops to a shorter run at
// once and rises a 32nd of the way towards a longer one, so it tracks an
// action whose runs really got longer within some tens of runs.
// Implausible samples are ignored.
func floor(f, d time.Duration) time.Duration {
	switch {
	case !plausible(d):
		return f
	case f == 0 || d < f:
		return d
	}
	return f + (d-f)/32
}

// ewma adds sample d to the moving average avg (0: none yet), weighing
// the new sample 1/5. Implausible samples are ignored.
func ewma(avg, d time.Duration) time.Duration {
	switch {
	case !plausible(d):
		return avg
	case avg == 0:
		return d
	}
	return (4*avg + d) / 5
}

func (p *Pool[T]) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Pool[T]) kickRefill() {
	select {
	case p.refill <- struct{}{}:
	default:
	}
}

// useLocked changes the memory in use by delta MB, accruing
// MemoryMBSeconds for the time the previous amount was held.
func (p *Pool[T]) useLocked(delta int64) {
	p.accrueLocked()
	p.usedMB += delta
}

func (p *Pool[T]) accrueLocked() {
	now := p.now()
	if !p.lastAccru.IsZero() && now.After(p.lastAccru) {
		p.memMBs += float64(p.usedMB) * now.Sub(p.lastAccru).Seconds()
	}
	p.lastAccru = now
}

// Stats returns a snapshot of the pool.
func (p *Pool[T]) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.accrueLocked()
	s := Stats{
		MemoryMB:          p.cfg.MemoryMB,
		UsedMB:            p.usedMB,
		PrewarmTarget:     p.stems.totalTarget(),
		ColdStarts:        p.count.cold,
		PrewarmStarts:     p.count.prewarm,
		WarmHits:          p.count.warm,
		PolicyPrewarms:    p.count.policyPrewarms,
		PolicyPrewarmHits: p.count.policyHits,
		ScaleOuts:         p.count.scaleOuts,
		Evictions:         p.count.evictions,
		Expired:           p.count.expired,
		MemoryMBSeconds:   p.memMBs,
	}
	for _, c := range p.all {
		switch {
		case c.removing:
		case c.key == "":
			s.Prewarm++
		default:
			s.Warm++
		}
		s.Busy += c.active
	}
	return s
}

// Leftovers lists the containers that a previous run of this invoker
// left behind (labels LabelManaged and LabelInvoker = this id), or every
// Flurry-managed container when all is true (standalone: one invoker per
// engine). Call it before Run: what it lists then cannot be this run's,
// so RemoveLeftovers may remove them while the pool already serves.
func (p *Pool[T]) Leftovers(ctx context.Context, all bool) ([]container.Info, error) {
	labels := map[string]string{container.LabelManaged: "true"}
	if !all {
		labels[container.LabelInvoker] = p.cfg.InvokerID
	}
	infos, err := p.rt.List(ctx, labels)
	if err != nil {
		return nil, fmt.Errorf("list leftover containers: %w", err)
	}
	return infos, nil
}

// RemoveLeftovers removes the containers Leftovers listed, one at a time:
// it runs beside the activations of a restarted invoker, and removing
// them all at once would take the runtime's start slots from their cold
// starts. It stops at ctx's end.
func (p *Pool[T]) RemoveLeftovers(ctx context.Context, infos []container.Info) error {
	var errs []error
	for _, info := range infos {
		if ctx.Err() != nil {
			return errors.Join(append(errs, ctx.Err())...)
		}
		if err := p.rt.Remove(ctx, info.ID); err != nil && !errors.Is(err, container.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove leftover container %s: %w", info.ID, err))
			continue
		}
		p.log.Info("removed leftover container", "container", info.ID, "name", info.Name)
	}
	return errors.Join(errs...)
}

// Run keeps the pool in shape until ctx is done: it fills the stem cells,
// refills them when taken, removes containers idle past their keep-alive,
// starts policy prewarms when due and resizes the stem cells to demand.
// It does not remove containers on return; see Close.
func (p *Pool[T]) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.SweepInterval)
	defer t.Stop()
	p.fill(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.sweep(ctx)
			p.fill(ctx)
		case <-p.refill:
			p.fill(ctx)
		}
	}
}

// sweep removes idle containers past their keep-alive (or at once when
// their policy releases them for a re-warm), removes stem cells over
// their adaptive target, and starts the policy prewarms that are due.
// Prewarms run in the background; Close waits for them.
func (p *Pool[T]) sweep(ctx context.Context) {
	p.mu.Lock()
	now := p.now()
	plans := map[string]Plan{}
	plan := func(key string) Plan {
		pl, ok := plans[key]
		if !ok {
			pl = p.cfg.KeepAlive.Plan(key)
			plans[key] = pl
		}
		return pl
	}
	live := map[string]int{} // containers per key, after this sweep
	var expired []*Container[T]
	for _, c := range p.all {
		if c.key == "" || c.removing {
			continue
		}
		live[c.key]++
		if c.active > 0 || !c.initialized {
			continue
		}
		pl := plan(c.key)
		deadline := c.lastUsed.Add(pl.KeepAlive)
		if ks := p.keys[c.key]; pl.PrewarmAfter > 0 && !c.policyWarmed && ks != nil && ks.running == 0 {
			// Release before the re-warm point; a container still here
			// after it stands in for the prewarm.
			at := ks.idleSince.Add(pl.PrewarmAfter)
			deadline = at.Add(pl.KeepAlive)
			if now.Before(at) {
				deadline = now
			}
		}
		if !now.Before(deadline) {
			c.removing = true
			expired = append(expired, c)
			live[c.key]--
		}
	}
	var due []Request
	for key, ks := range p.keys {
		if ks.running > 0 || ks.warming {
			continue
		}
		if ks.retired {
			if live[key] == 0 {
				delete(p.keys, key)
			}
			continue
		}
		pl := plan(key)
		if pl.PrewarmAfter <= 0 || ks.rewarmed {
			if live[key] == 0 {
				delete(p.keys, key) // nothing left to do for it
			}
			continue
		}
		at := ks.idleSince.Add(pl.PrewarmAfter)
		if now.Before(at) {
			continue
		}
		ks.rewarmed = true
		if live[key] > 0 || !now.Before(at.Add(pl.KeepAlive)) || p.warm == nil || p.closed {
			continue
		}
		ks.warming = true
		due = append(due, ks.req)
	}
	p.forgetFamiliesLocked()
	if p.stems.rollLocked(now) {
		expired = append(expired, p.trimStemsLocked()...)
	}
	p.count.expired += uint64(len(expired))
	p.mu.Unlock()
	for _, c := range expired {
		if c.key == "" {
			p.log.Info("removing excess stem cell", "container", c.ID, "kind", c.Kind, "memoryMB", c.MemoryMB)
		} else {
			p.log.Info("removing idle container", "container", c.ID, "action", c.key)
		}
		p.removeAsync(c)
	}
	for _, req := range due {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.rewarm(ctx, req, false)
		}()
	}
}

// fill starts missing stem cells while the budget has free memory; it
// never evicts for them. A (kind, memory) whose start fails backs off.
func (p *Pool[T]) fill(ctx context.Context) {
	p.mu.Lock()
	targets := p.stems.targetList()
	p.mu.Unlock()
	for _, tg := range targets {
		for ctx.Err() == nil {
			p.mu.Lock()
			if p.closed || p.now().Before(p.backoff[tg].until) {
				p.mu.Unlock()
				break
			}
			have := 0
			for _, c := range p.all {
				if c.key == "" && !c.removing && c.Kind == tg.kind && c.MemoryMB == tg.mb {
					have++
				}
			}
			if have >= p.stems.target(tg) || p.cfg.MemoryMB-p.usedMB < tg.mb {
				p.mu.Unlock()
				break
			}
			p.useLocked(tg.mb)
			p.mu.Unlock()
			_, err := p.start(ctx, tg.kind, p.cfg.Images[tg.kind], tg.mb, container.NetworkDefault, func(*Container[T]) {})
			p.mu.Lock()
			if err != nil {
				b := p.backoff[tg]
				b.delay = min(max(2*b.delay, time.Second), time.Minute)
				b.until = p.now().Add(b.delay)
				p.backoff[tg] = b
			} else {
				delete(p.backoff, tg)
			}
			p.mu.Unlock()
			if err != nil {
				if !errors.Is(err, ErrClosed) && ctx.Err() == nil {
					p.log.Error("prewarm stem cell", "kind", tg.kind, "memoryMB", tg.mb, "err", err)
				}
				break
			}
		}
	}
}

// Close removes every container of the pool and waits for removals in
// progress. Acquire fails with ErrClosed afterwards. Containers still in
// use are removed too: call Close after activations have drained.
func (p *Pool[T]) Close(ctx context.Context) {
	p.mu.Lock()
	p.closed = true
	var rm []*Container[T]
	for _, c := range p.all {
		if !c.removing {
			c.removing = true
			rm = append(rm, c)
		}
	}
	p.broadcastLocked()
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range rm {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.remove(ctx, c)
		}()
	}
	wg.Wait()
	p.wg.Wait()
}

// plausible reports whether d can be a run time or an arrival gap: not
// negative (a clock step) and under ten minutes.
func plausible(d time.Duration) bool { return d >= 0 && d <= 10*time.Minute }
