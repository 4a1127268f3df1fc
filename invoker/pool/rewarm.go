package pool

import (
	"context"
	"errors"

	"github.com/flurryfn/flurry/invoker/container"
)

// rewarm is a policy prewarm: it starts a container like req and
// initializes it for req.Key through the WarmFunc, off the critical path,
// so that the next activation of req.Key finds it warm. It only uses free
// memory (it never evicts: a guess must not displace a container in use
// or a likelier one), and gives up quietly when there is none.
func (p *Pool[T]) rewarm(ctx context.Context, req Request, scaleOut bool) {
	defer func() {
		p.mu.Lock()
		if ks := p.keys[req.Key]; ks != nil {
			ks.warming = false
		}
		p.mu.Unlock()
	}()
	p.mu.Lock()
	warm := p.warm
	if p.closed || warm == nil || p.cfg.MemoryMB-p.usedMB < req.MemoryMB {
		p.mu.Unlock()
		p.log.Debug("policy prewarm skipped: no free memory", "action", req.Key, "memoryMB", req.MemoryMB)
		return
	}
	p.useLocked(req.MemoryMB)
	p.mu.Unlock()
	c, err := p.start(ctx, req.Kind, req.Image, req.MemoryMB, req.Network, func(c *Container[T]) {
		c.key = req.Key
		c.maxActive = req.Concurrency
	})
	if err != nil {
		if !errors.Is(err, ErrClosed) && ctx.Err() == nil {
			p.log.Warn("policy prewarm", "action", req.Key, "err", err)
		}
		return
	}
	wctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	err = warm(wctx, req.Key, c.Conn)
	cancel()
	p.mu.Lock()
	drop := false
	switch {
	case c.removing: // Close got it first
	case err != nil:
		c.removing = true
		drop = true
	default:
		c.initialized = true
		c.lastUsed = p.now()
		if scaleOut {
			p.count.scaleOuts++
		} else {
			c.policyWarmed = true
			p.count.policyPrewarms++
		}
		p.idleLocked(c)
		p.broadcastLocked()
	}
	p.mu.Unlock()
	if drop {
		if ctx.Err() == nil {
			p.log.Warn("policy prewarm: init failed", "action", req.Key, "container", c.ID, "err", err)
		}
		p.remove(context.WithoutCancel(ctx), c)
	}
}

// Prewarm starts a container like req and initializes it for req.Key
// through the WarmFunc in the background, off the critical path and from
// free memory only (it never evicts). It does nothing while a prewarm of
// req.Key is already under way. Close waits for it.
func (p *Pool[T]) Prewarm(ctx context.Context, req Request) { p.prewarm(ctx, req, false) }

// prewarm is Prewarm; scaleOut counts the container as a scale-out for a
// queue of Acquires (ADR 011) rather than as a policy prewarm.
func (p *Pool[T]) prewarm(ctx context.Context, req Request, scaleOut bool) {
	if req.Concurrency < 1 {
		req.Concurrency = 1
	}
	if req.Network == "" {
		req.Network = container.NetworkDefault
	}
	p.mu.Lock()
	ks := p.keys[req.Key]
	if ks == nil {
		// Not an idle period the keep-alive policy should plan for.
		ks = &keyState{req: req, rewarmed: true}
		p.keys[req.Key] = ks
	}
	if p.closed || ks.warming {
		p.mu.Unlock()
		return
	}
	ks.warming = true
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		p.rewarm(ctx, req, scaleOut)
	}()
}
