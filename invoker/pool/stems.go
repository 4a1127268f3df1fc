package pool

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Defaults of StemConfig.
const (
	DefaultStemWindow      = time.Minute
	DefaultStemAlpha       = 0.5
	DefaultStemMax         = 4
	DefaultStemMaxFraction = 0.25
)

// StemConfig sizes the stem cells of every kind listed in Config.Prewarm
// from recent demand. The rule (docs/adr/006-keepalive.md): demand of a
// (kind, memory) is the number of Acquires of that kind and memory, with
// the kind's own image, that were not warm (a stem cell taken or a cold
// start), counted per Window and smoothed by an EWMA. Its target is
// round(EWMA), at most Max, and never below the explicit PrewarmSpec
// count; the stem cells above the explicit counts hold at most
// MaxFraction of the budget (the largest demand is served first). Targets
// change once per Window; idle stem cells above the target are removed
// then. Kinds not listed in Config.Prewarm never get stem cells.
type StemConfig struct {
	// Fixed keeps exactly the PrewarmSpec counts (no adaptation).
	Fixed bool
	// Window is the demand counting window (default 1 min).
	Window time.Duration
	// Alpha is the EWMA weight of the last window (default 0.5).
	Alpha float64
	// Max caps the adaptive target per (kind, memory) (default 4).
	Max int
	// MaxFraction caps the memory of adaptive stem cells above the
	// explicit counts, as a fraction of the budget (default 0.25).
	MaxFraction float64
}

func (c StemConfig) withDefaults() StemConfig {
	if c.Window == 0 {
		c.Window = DefaultStemWindow
	}
	if c.Alpha == 0 {
		c.Alpha = DefaultStemAlpha
	}
	if c.Max == 0 {
		c.Max = DefaultStemMax
	}
	if c.MaxFraction == 0 {
		c.MaxFraction = DefaultStemMaxFraction
	}
	return c
}

type stemKey struct {
	kind string
	mb   int64
}

type stemDemand struct {
	count int     // takes in the current window
	ewma  float64 // smoothed takes per window
}

// stemState is the adaptive sizing of stem cells. Guarded by Pool.mu.
type stemState struct {
	cfg         StemConfig
	budgetMB    int64
	images      map[string]string
	base        map[stemKey]int // explicit counts
	kinds       map[string]bool // kinds that have stem cells
	demand      map[stemKey]*stemDemand
	targets     map[stemKey]int
	windowStart time.Time // zero before the first sweep
}

func newStemState(cfg Config) stemState {
	s := stemState{
		cfg:      cfg.Stems.withDefaults(),
		budgetMB: cfg.MemoryMB,
		images:   cfg.Images,
		base:     map[stemKey]int{},
		kinds:    map[string]bool{},
		demand:   map[stemKey]*stemDemand{},
	}
	for _, p := range cfg.Prewarm {
		s.base[stemKey{p.Kind, p.MemoryMB}] += p.Count
		s.kinds[p.Kind] = true
	}
	s.recompute()
	return s
}

// demandLocked counts a non-warm Acquire of req.
func (s *stemState) demandLocked(req Request) {
	if s.cfg.Fixed || !s.kinds[req.Kind] || s.images[req.Kind] != req.Image {
		return
	}
	k := stemKey{req.Kind, req.MemoryMB}
	d := s.demand[k]
	if d == nil {
		d = &stemDemand{}
		s.demand[k] = d
	}
	d.count++
}

// rollLocked closes the demand windows that ended by now and recomputes
// the targets; it reports whether they may have changed.
func (s *stemState) rollLocked(now time.Time) bool {
	if s.cfg.Fixed {
		return false
	}
	if s.windowStart.IsZero() {
		s.windowStart = now
		return false
	}
	if now.Sub(s.windowStart) < s.cfg.Window {
		return false
	}
	for n := 0; !now.Before(s.windowStart.Add(s.cfg.Window)); n++ {
		if n == 64 { // long asleep: everything has decayed anyway
			s.windowStart = now
			break
		}
		for _, d := range s.demand {
			d.ewma = s.cfg.Alpha*float64(d.count) + (1-s.cfg.Alpha)*d.ewma
			d.count = 0
		}
		s.windowStart = s.windowStart.Add(s.cfg.Window)
	}
	for k, d := range s.demand {
		if d.ewma < 0.01 {
			delete(s.demand, k)
		}
	}
	s.recompute()
	return true
}

func (s *stemState) recompute() {
	t := make(map[stemKey]int, len(s.base)+len(s.demand))
	for k, n := range s.base {
		t[k] = n
	}
	type want struct {
		k     stemKey
		extra int
		ewma  float64
	}
	var ws []want
	for k, d := range s.demand {
		if extra := min(int(math.Round(d.ewma)), s.cfg.Max) - t[k]; extra > 0 {
			ws = append(ws, want{k, extra, d.ewma})
		}
	}
	slices.SortFunc(ws, func(a, b want) int {
		return cmp.Or(cmp.Compare(b.ewma, a.ewma), cmp.Compare(a.k.kind, b.k.kind), cmp.Compare(a.k.mb, b.k.mb))
	})
	allowance := int64(s.cfg.MaxFraction * float64(s.budgetMB))
	for _, w := range ws {
		if n := min(int64(w.extra), allowance/w.k.mb); n > 0 {
			t[w.k] += int(n)
			allowance -= n * w.k.mb
		}
	}
	s.targets = t
}

func (s *stemState) target(k stemKey) int { return s.targets[k] }

func (s *stemState) totalTarget() int {
	n := 0
	for _, v := range s.targets {
		n += v
	}
	return n
}

// targetList is the (kind, memory) pairs with stem cells wanted, in a
// stable order.
func (s *stemState) targetList() []stemKey {
	var out []stemKey
	for k, n := range s.targets {
		if n > 0 {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b stemKey) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.mb, b.mb))
	})
	return out
}

// trimStemsLocked marks the idle stem cells above their target for
// removal and returns them.
func (p *Pool[T]) trimStemsLocked() []*Container[T] {
	have := map[stemKey]int{}
	var out []*Container[T]
	for _, c := range p.all {
		if c.key != "" || c.removing || c.active > 0 {
			continue
		}
		k := stemKey{c.Kind, c.MemoryMB}
		if have[k]++; have[k] > p.stems.target(k) {
			c.removing = true
			out = append(out, c)
		}
	}
	return out
}
