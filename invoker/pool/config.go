package pool

import (
	"errors"
	"fmt"
	"time"
)

// PrewarmSpec asks the pool to keep Count stem cells of Kind with MemoryMB.
type PrewarmSpec struct {
	Kind     string
	MemoryMB int64
	Count    int
}

// Config configures a Pool. Zero fields take the defaults noted.
type Config struct {
	// InvokerID labels and names every container this pool starts.
	InvokerID string
	// MemoryMB is the budget: the sum of the memory limits of all the
	// pool's containers never exceeds it.
	MemoryMB int64
	// Images maps a runtime kind to its image; stem cells need one.
	Images map[string]string
	// Prewarm lists the stem cells to keep: the explicit counts, and the
	// kinds whose stem cells adapt to demand (see Stems).
	Prewarm []PrewarmSpec
	// Stems sizes stem cells from demand (zero value: adaptive with the
	// defaults; Fixed: exactly the Prewarm counts).
	Stems StemConfig
	// KeepAlive decides idle expiry and policy prewarms (default
	// FixedKeepAlive(10 min)).
	KeepAlive KeepAlive
	// SweepInterval is how often idle containers are checked and stem
	// cells refilled (default 1 s).
	SweepInterval time.Duration
	// StartTimeout bounds starting one container, readiness included
	// (default 60 s).
	StartTimeout time.Duration
	// RemoveTimeout bounds removing one container (default 30 s).
	RemoveTimeout time.Duration
	// QueueWait is how long an activation may wait for a busy warm
	// container of its action to free up instead of starting one, when
	// the action's runs are short enough that the expected wait fits
	// (ADR 011). When more wait than the action's containers have slots
	// and its load (arrival rate times run time) fills 80 % of them, one
	// more container is started in the background from free memory
	// (ADR 012). Default DefaultQueueWait; negative turns queueing off.
	QueueWait time.Duration
	// PressureWait bounds how long an activation waits for its action's
	// own containers (busy, starting or initializing) when memory is
	// short, that is when a start would evict a warm container another
	// action still calls (docs/adr/024-memory-pressure.md). Within it
	// the wait lasts twice as long as a start is taking lately. Default
	// DefaultPressureWait; negative turns the pressure rule off.
	PressureWait time.Duration
	// Contended reports whether the host's CPUs are saturated (nil:
	// never). Then run times are inflated by waiting for CPU, which more
	// containers cannot shorten, so the scale-out rule measures load by
	// the action's recent shortest runs instead (ADR 013).
	Contended func() bool
	// FreezeGrace is how long a container initialized for an action
	// stays idle before it is frozen (when the runtime is a
	// container.Freezer), and thawed at its next Acquire. Default
	// DefaultFreezeGrace; negative turns freezing off.
	FreezeGrace time.Duration
}

// DefaultQueueWait is Config.QueueWait's default: well under a Docker
// cold start (≈ 300 ms on an idle machine, seconds on a busy one).
const DefaultQueueWait = 50 * time.Millisecond

// DefaultPressureWait is Config.PressureWait's default: longer than a
// Docker start in a start storm on a busy host (4–7 s), short enough
// that a call of an action that stays slow falls back to its own start.
const DefaultPressureWait = 10 * time.Second

// DefaultIdleTimeout is the idle expiry of the default KeepAlive.
const DefaultIdleTimeout = 10 * time.Minute

func (c Config) withDefaults() Config {
	if c.KeepAlive == nil {
		c.KeepAlive = FixedKeepAlive(DefaultIdleTimeout)
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = time.Second
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 60 * time.Second
	}
	if c.RemoveTimeout == 0 {
		c.RemoveTimeout = 30 * time.Second
	}
	if c.QueueWait == 0 {
		c.QueueWait = DefaultQueueWait
	}
	if c.PressureWait == 0 {
		c.PressureWait = DefaultPressureWait
	}
	if c.FreezeGrace == 0 {
		c.FreezeGrace = DefaultFreezeGrace
	}
	if c.Contended == nil {
		c.Contended = func() bool { return false }
	}
	return c
}

// Validate checks the configuration (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.InvokerID == "" {
		errs = append(errs, errors.New("invoker id is empty"))
	}
	if c.MemoryMB <= 0 {
		errs = append(errs, fmt.Errorf("memory budget %d MB is not positive", c.MemoryMB))
	}
	if c.SweepInterval < 0 || c.StartTimeout < 0 || c.RemoveTimeout < 0 {
		errs = append(errs, errors.New("negative interval or timeout"))
	}
	if st := c.Stems.withDefaults(); st.Window < 0 || st.Alpha < 0 || st.Alpha > 1 || st.Max < 0 || st.MaxFraction < 0 || st.MaxFraction > 1 {
		errs = append(errs, fmt.Errorf("stem cells: window %v, alpha %g, max %d, max fraction %g out of range",
			st.Window, st.Alpha, st.Max, st.MaxFraction))
	}
	var prewarmMB int64
	for _, s := range c.Prewarm {
		if c.Images[s.Kind] == "" {
			errs = append(errs, fmt.Errorf("prewarm kind %q has no image", s.Kind))
		}
		if s.MemoryMB <= 0 || s.Count < 0 {
			errs = append(errs, fmt.Errorf("prewarm %q: memory %d MB, count %d", s.Kind, s.MemoryMB, s.Count))
		}
		prewarmMB += s.MemoryMB * int64(s.Count)
	}
	if prewarmMB > c.MemoryMB {
		errs = append(errs, fmt.Errorf("prewarm needs %d MB, more than the budget of %d MB", prewarmMB, c.MemoryMB))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pool config: %w", err)
	}
	return nil
}
