package invoker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/stored"
	"github.com/flurryfn/flurry/invoker/container"
)

// netPolicies is each namespace's network policy as an administrator set
// it in names.NamespacesBucket, fed by a KV watch. A namespace without an
// entry has the default policy; an entry that cannot be read, or names a
// policy this invoker does not know, gets no network (fail closed).
type netPolicies struct {
	mu   sync.RWMutex
	none map[string]bool // by names.NamespaceKey: namespaces without network
}

// watchNetPolicies starts following the namespaces bucket and returns once
// its current contents are loaded, so no activation runs under a policy
// not yet read. The watch runs until ctx is done.
func (i *Invoker) watchNetPolicies(ctx context.Context) error {
	kv, err := i.js.KeyValue(ctx, names.NamespacesBucket)
	if err != nil {
		return fmt.Errorf("namespace network policies: open kv %s: %w", names.NamespacesBucket, err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("namespace network policies: watch %s: %w", names.NamespacesBucket, err)
	}
	ready := make(chan struct{})
	go func() {
		defer w.Stop()
		initial := true
		for {
			var e jetstream.KeyValueEntry
			select {
			case <-ctx.Done():
				return
			case u, ok := <-w.Updates():
				if !ok {
					return
				}
				e = u
			}
			if e == nil {
				// nil marks the end of the bucket's current contents.
				if initial {
					initial = false
					close(ready)
				}
				continue
			}
			i.nets.apply(e, i.log)
		}
	}()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("namespace network policies: %w", ctx.Err())
	}
}

func (p *netPolicies) apply(e jetstream.KeyValueEntry, log *slog.Logger) {
	none := false
	switch e.Operation() {
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
	default:
		var ns entity.Namespace
		if err := stored.Decode(e.Value(), &ns); err != nil {
			log.Error("namespace entry unreadable; its containers get no network", "key", e.Key(), "err", err)
			none = true
			break
		}
		switch pol := ns.NetworkPolicy(); pol {
		case entity.NetworkDefault:
		case entity.NetworkNone:
			none = true
		default:
			log.Error("unknown network policy; the namespace's containers get no network", "key", e.Key(), "network", pol)
			none = true
		}
	}
	p.mu.Lock()
	if p.none == nil {
		p.none = map[string]bool{}
	}
	if none {
		p.none[e.Key()] = true
	} else {
		delete(p.none, e.Key())
	}
	p.mu.Unlock()
}

// policy is the network policy of a container running an action of
// namespace owner for namespace caller: none when either has none, since
// the caller's data and the owner's code meet in it.
func (p *netPolicies) policy(owner, caller string) string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if len(p.none) == 0 {
		return container.NetworkDefault
	}
	if p.none[names.NamespaceKey(owner)] || p.none[names.NamespaceKey(caller)] {
		return container.NetworkNone
	}
	return container.NetworkDefault
}
