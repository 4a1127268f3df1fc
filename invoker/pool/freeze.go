package pool

import (
	"context"
	"sync"
	"time"

	"github.com/flurryfn/flurry/invoker/container"
)

// DefaultFreezeGrace is Config.FreezeGrace's default, OpenWhisk's pause
// grace: long enough that a container serving a stream of activations is
// not frozen and thawed between two of them.
const DefaultFreezeGrace = 50 * time.Millisecond

// freezeTimeout bounds one freeze or thaw.
const freezeTimeout = 10 * time.Second

// freezeState is the freezing side of a Container. mu serializes freezing,
// thawing and removing the container, none of which may happen under the
// pool's lock (they wait on the runtime); its order is mu, then Pool.mu.
type freezeState struct {
	mu     sync.Mutex
	frozen bool // guarded by mu

	// Guarded by Pool.mu.
	timer  *time.Timer
	idleAt time.Time // wall clock, when the container last became idle
}

// idleLocked notes that c, initialized for an action, went idle: after
// FreezeGrace without an Acquire it is frozen, so that nothing its action
// left running takes CPU. Stem cells hold no tenant code and stay thawed.
func (p *Pool[T]) idleLocked(c *Container[T]) {
	if p.freezer == nil || c.key == "" || c.removing {
		return
	}
	c.fz.idleAt = time.Now()
	if c.fz.timer == nil {
		c.fz.timer = time.AfterFunc(p.cfg.FreezeGrace, func() { p.freezeIdle(c) })
		return
	}
	c.fz.timer.Reset(p.cfg.FreezeGrace)
}

// freezeIdle freezes c if it is still idle and has been for the grace.
func (p *Pool[T]) freezeIdle(c *Container[T]) {
	c.fz.mu.Lock()
	defer c.fz.mu.Unlock()
	p.mu.Lock()
	due := !p.closed && !c.removing && c.active == 0 && c.initialized && !c.fz.frozen &&
		time.Since(c.fz.idleAt) >= p.cfg.FreezeGrace
	if due {
		p.wg.Add(1) // Close waits for it
	}
	p.mu.Unlock()
	if !due {
		return
	}
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), freezeTimeout)
	defer cancel()
	t0 := time.Now()
	if err := p.freezer.Freeze(ctx, c.ID); err != nil {
		p.log.Warn("freeze idle container", "container", c.ID, "action", c.key, "err", err)
		return
	}
	c.fz.frozen = true
	p.log.Debug("froze idle container", "container", c.ID, "action", c.key, "took", time.Since(t0))
}

// thaw lets c's processes run again before it is handed out. It is called
// without the pool's lock, with c counted active.
func (p *Pool[T]) thaw(c *Container[T]) error {
	if p.freezer == nil {
		return nil
	}
	tw := time.Now()
	c.fz.mu.Lock()
	defer c.fz.mu.Unlock()
	if !c.fz.frozen {
		return nil
	}
	if w := time.Since(tw); w > time.Millisecond {
		p.log.Debug("thaw waited for a freeze", "container", c.ID, "waited", w)
	}
	ctx, cancel := context.WithTimeout(context.Background(), freezeTimeout)
	defer cancel()
	t0 := time.Now()
	if err := p.freezer.Thaw(ctx, c.ID); err != nil {
		return err
	}
	c.fz.frozen = false
	p.log.Debug("thawed container", "container", c.ID, "action", c.key, "took", time.Since(t0))
	return nil
}

// handOut thaws c, just taken by an Acquire under the lock, or gives it
// up: a container that cannot be thawed is removed, and the Acquire looks
// for another.
func (p *Pool[T]) handOut(c *Container[T]) bool {
	err := p.thaw(c)
	if err == nil {
		return true
	}
	p.log.Warn("thaw container; removing it", "container", c.ID, "action", c.key, "err", err)
	p.mu.Lock()
	c.active--
	drop := !c.removing
	c.removing = true
	p.broadcastLocked()
	p.mu.Unlock()
	if drop {
		p.removeAsync(c)
	}
	return false
}

// freezerOf is rt's Freezer, or nil when rt has none or grace turns
// freezing off.
func freezerOf(rt container.Runtime, grace time.Duration) container.Freezer {
	f, ok := rt.(container.Freezer)
	if !ok || grace < 0 {
		return nil
	}
	return f
}
