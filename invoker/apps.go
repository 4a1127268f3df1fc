package invoker

import (
	"fmt"
	"strings"
	"sync"

	"github.com/flurryfn/flurry/internal/entity"
)

// Web apps (ADR 010). An app's containers live in the pool under
// appKey(revision, endpoint): "" for containers loaded with the app and
// not yet specialized (the register activation leaves one), an endpoint
// name for those specialized for it.

// appKey is the pool key of app code revision a's containers for
// endpoint ("" = loaded, not specialized). The prefix keeps them apart
// from an action of the same name.
func appKey(a *entity.Action, endpoint string) string {
	return "app:" + a.Key() + "#" + endpoint
}

// parseAppKey splits a pool key made by appKey.
func parseAppKey(key string) (revision, endpoint string, ok bool) {
	rest, ok := strings.CutPrefix(key, "app:")
	if !ok {
		return "", "", false
	}
	revision, endpoint, ok = strings.Cut(rest, "#")
	return revision, endpoint, ok
}

// maxAppRevisions bounds appRevisions; past it, the oldest half is
// forgotten (a prewarm of a forgotten revision fails and is skipped).
const maxAppRevisions = 1024

// appRevisions remembers the app code revisions this invoker has run, by
// entity.Action.Key, so that the pool can prewarm their containers off
// the critical path: apps are not in the actions bucket.
type appRevisions struct {
	mu    sync.Mutex
	byKey map[string]*entity.Action
	order []string
}

func (r *appRevisions) remember(a *entity.Action) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := a.Key()
	if _, ok := r.byKey[key]; ok {
		return
	}
	if r.byKey == nil {
		r.byKey = map[string]*entity.Action{}
	}
	if len(r.order) >= maxAppRevisions {
		for _, k := range r.order[:len(r.order)/2] {
			delete(r.byKey, k)
		}
		r.order = append([]string(nil), r.order[len(r.order)/2:]...)
	}
	cp := *a
	r.byKey[key] = &cp
	r.order = append(r.order, key)
}

func (r *appRevisions) get(key string) (*entity.Action, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.byKey[key]
	if !ok {
		return nil, fmt.Errorf("app revision %s is not known to this invoker", key)
	}
	return a, nil
}
