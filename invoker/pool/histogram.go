package pool

import (
	"container/list"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Defaults of HistogramConfig, after "Serverless in the Wild" (Shahrad et
// al., USENIX ATC 2020): 1-minute bins over 4 hours, windows from the 5th
// and 99th percentiles widened by a 10 % margin.
const (
	DefaultHistogramBin        = time.Minute
	DefaultHistogramBins       = 240
	DefaultHistogramHead       = 5.0
	DefaultHistogramTail       = 99.0
	DefaultHistogramMargin     = 0.10
	DefaultHistogramMinSamples = 10
	DefaultHistogramMaxOOB     = 0.5
	DefaultHistogramMinCV      = 2.0
	DefaultHistogramMaxSamples = 1000
	DefaultHistogramMaxKeys    = 10000
)

// HistogramConfig configures a Histogram policy. Zero fields take the
// defaults; see docs/adr/006-keepalive.md for the reasoning.
type HistogramConfig struct {
	// BinWidth is the width of one bin (default 1 min). It is the policy's
	// unit of time: a replay compressed N times uses BinWidth/N.
	BinWidth time.Duration
	// Bins is the number of bins (default 240); idle times of
	// Bins*BinWidth or more are out of bounds.
	Bins int
	// Head and Tail are the percentiles of the idle-time distribution
	// that set the pre-warm and keep-alive windows (default 5 and 99).
	Head, Tail float64
	// Margin widens both windows by this fraction: pre-warm earlier,
	// keep alive longer (default 0.10).
	Margin float64
	// MinSamples is the number of in-bound idle times below which the
	// histogram is not representative (default 10).
	MinSamples int
	// MaxOutOfBounds is the fraction of out-of-bounds idle times above
	// which the histogram is not representative (default 0.5).
	MaxOutOfBounds float64
	// MinCV is the coefficient of variation of the bin counts below which
	// the histogram is flat, so not representative (default 2).
	MinCV float64
	// Fallback is the keep-alive used while the histogram is not
	// representative (default 10 min; the invoker uses its idle timeout).
	Fallback time.Duration
	// MaxSamples: when an action's samples reach it, its counts are
	// halved, so old behaviour fades (default 1000).
	MaxSamples int
	// MaxKeys bounds the actions tracked; the one least recently active
	// is forgotten first (default 10000).
	MaxKeys int
}

func (c HistogramConfig) withDefaults() HistogramConfig {
	if c.BinWidth == 0 {
		c.BinWidth = DefaultHistogramBin
	}
	if c.Bins == 0 {
		c.Bins = DefaultHistogramBins
	}
	if c.Head == 0 {
		c.Head = DefaultHistogramHead
	}
	if c.Tail == 0 {
		c.Tail = DefaultHistogramTail
	}
	if c.Margin == 0 {
		c.Margin = DefaultHistogramMargin
	}
	if c.MinSamples == 0 {
		c.MinSamples = DefaultHistogramMinSamples
	}
	if c.MaxOutOfBounds == 0 {
		c.MaxOutOfBounds = DefaultHistogramMaxOOB
	}
	if c.MinCV == 0 {
		c.MinCV = DefaultHistogramMinCV
	}
	if c.Fallback == 0 {
		c.Fallback = DefaultIdleTimeout
	}
	if c.MaxSamples == 0 {
		c.MaxSamples = DefaultHistogramMaxSamples
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultHistogramMaxKeys
	}
	return c
}

// Validate checks the configuration (after defaults).
func (c HistogramConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.BinWidth < 0 || c.Fallback < 0 {
		errs = append(errs, errors.New("negative bin width or fallback"))
	}
	if c.Bins < 1 || c.Bins > 100000 {
		errs = append(errs, fmt.Errorf("bins %d not in [1, 100000]", c.Bins))
	}
	if c.Head < 0 || c.Tail > 100 || c.Head >= c.Tail {
		errs = append(errs, fmt.Errorf("percentiles head %g, tail %g: want 0 <= head < tail <= 100", c.Head, c.Tail))
	}
	if c.Margin < 0 || c.Margin >= 1 {
		errs = append(errs, fmt.Errorf("margin %g not in [0, 1)", c.Margin))
	}
	if c.MinSamples < 0 || c.MaxSamples < 2 || c.MaxKeys < 1 {
		errs = append(errs, errors.New("min samples negative, max samples under 2 or max keys under 1"))
	}
	if c.MaxOutOfBounds < 0 || c.MaxOutOfBounds > 1 || c.MinCV < 0 {
		errs = append(errs, errors.New("max out-of-bounds fraction not in [0, 1] or negative min CV"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("histogram keep-alive: %w", err)
	}
	return nil
}

// Histogram is the hybrid histogram policy of "Serverless in the Wild":
// per action it learns the distribution of idle times (from the end of
// the last running activation to the next arrival) in a range-limited
// histogram. When the histogram is representative, the pre-warm window is
// its Head percentile less the margin and the keep-alive window runs to
// its Tail percentile plus the margin; when the pre-warm window is zero,
// idle containers are simply kept that long. Otherwise it keeps idle
// containers for Fallback. It is safe for concurrent use and never blocks.
type Histogram struct {
	cfg HistogramConfig

	mu   sync.Mutex
	keys map[string]*list.Element // of *idleHistogram
	lru  *list.List               // front = most recently active
}

var _ KeepAlive = (*Histogram)(nil)

type idleHistogram struct {
	key       string
	counts    []uint32
	inBounds  int // sum of counts
	outBounds int
	idleSince time.Time // zero while busy or before the first Idle
	plan      Plan
	fresh     bool // plan is up to date with counts
}

// NewHistogram makes a Histogram policy.
func NewHistogram(cfg HistogramConfig) (*Histogram, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Histogram{cfg: cfg.withDefaults(), keys: map[string]*list.Element{}, lru: list.New()}, nil
}

// Config is the policy's configuration with defaults applied.
func (h *Histogram) Config() HistogramConfig { return h.cfg }

// Arrive records the idle time since Idle(key), if any.
func (h *Histogram) Arrive(key string, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.entryLocked(key)
	if e.idleSince.IsZero() {
		return
	}
	h.addLocked(e, max(t.Sub(e.idleSince), 0))
	e.idleSince = time.Time{}
}

// Idle notes when key went idle.
func (h *Histogram) Idle(key string, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entryLocked(key).idleSince = t
}

// Plan returns the windows learned for key, or the fallback.
func (h *Histogram) Plan(key string) Plan {
	h.mu.Lock()
	defer h.mu.Unlock()
	el, ok := h.keys[key]
	if !ok {
		return Plan{KeepAlive: h.cfg.Fallback}
	}
	e := el.Value.(*idleHistogram)
	if !e.fresh {
		e.plan = h.cfg.plan(e.counts, e.inBounds, e.outBounds)
		e.fresh = true
	}
	return e.plan
}

// Observe adds one idle time of key directly, for tests and replays that
// know idle times up front.
func (h *Histogram) Observe(key string, idle time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.addLocked(h.entryLocked(key), idle)
}

func (h *Histogram) entryLocked(key string) *idleHistogram {
	if el, ok := h.keys[key]; ok {
		h.lru.MoveToFront(el)
		return el.Value.(*idleHistogram)
	}
	for h.lru.Len() >= h.cfg.MaxKeys {
		old := h.lru.Back()
		h.lru.Remove(old)
		delete(h.keys, old.Value.(*idleHistogram).key)
	}
	e := &idleHistogram{key: key, counts: make([]uint32, h.cfg.Bins)}
	h.keys[key] = h.lru.PushFront(e)
	return e
}

func (h *Histogram) addLocked(e *idleHistogram, idle time.Duration) {
	if bin := idle / h.cfg.BinWidth; bin < time.Duration(len(e.counts)) {
		e.counts[bin]++
		e.inBounds++
	} else {
		e.outBounds++
	}
	e.fresh = false
	if e.inBounds+e.outBounds < h.cfg.MaxSamples {
		return
	}
	// Halve everything (rounding up, so no observed bin vanishes at once).
	e.inBounds = 0
	for i, n := range e.counts {
		e.counts[i] = (n + 1) / 2
		e.inBounds += int(e.counts[i])
	}
	e.outBounds = (e.outBounds + 1) / 2
}

// plan computes the windows from one histogram.
func (c HistogramConfig) plan(counts []uint32, in, out int) Plan {
	fallback := Plan{KeepAlive: c.Fallback}
	if in == 0 || in < c.MinSamples || float64(out) > c.MaxOutOfBounds*float64(in+out) {
		return fallback
	}
	if cv(counts, in) < c.MinCV {
		return fallback
	}
	head := percentileBin(counts, in, c.Head)
	tail := percentileBin(counts, in, c.Tail)
	// The head is the lower edge of its bin, the tail the upper edge of
	// its bin: the windows cover both bins entirely.
	prewarm := time.Duration(float64(time.Duration(head)*c.BinWidth) * (1 - c.Margin))
	end := time.Duration(float64(time.Duration(tail+1)*c.BinWidth) * (1 + c.Margin))
	return Plan{PrewarmAfter: prewarm, KeepAlive: end - prewarm}
}

// percentileBin is the index of the bin holding the p-th percentile of
// the in samples counted in counts.
func percentileBin(counts []uint32, in int, p float64) int {
	rank := max(int(math.Ceil(p/100*float64(in))), 1)
	sum := 0
	for i, n := range counts {
		sum += int(n)
		if sum >= rank {
			return i
		}
	}
	return len(counts) - 1
}

// cv is the coefficient of variation (standard deviation over mean) of
// the bin counts: 0 for a flat histogram, sqrt(bins-1) when every sample
// falls in one bin.
func cv(counts []uint32, in int) float64 {
	mean := float64(in) / float64(len(counts))
	var ss float64
	for _, n := range counts {
		d := float64(n) - mean
		ss += d * d
	}
	return math.Sqrt(ss/float64(len(counts))) / mean
}
