package invoker

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// codeCache fetches action code from the code object store and keeps the
// most recently used pieces in memory, up to a byte budget. Code is
// immutable under its digest, so entries never go stale.
type codeCache struct {
	js       jetstream.JetStream
	maxBytes int64

	mu    sync.Mutex
	store jetstream.ObjectStore
	lru   *list.List // of *codeEntry, front = most recent
	byKey map[string]*list.Element
	bytes int64
}

type codeEntry struct {
	digest string
	code   string
}

func newCodeCache(js jetstream.JetStream, maxBytes int64) *codeCache {
	return &codeCache{js: js, maxBytes: maxBytes, lru: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the code with hex sha256 digest.
func (c *codeCache) get(ctx context.Context, digest string) (string, error) {
	c.mu.Lock()
	if e, ok := c.byKey[digest]; ok {
		c.lru.MoveToFront(e)
		code := e.Value.(*codeEntry).code
		c.mu.Unlock()
		return code, nil
	}
	store := c.store
	c.mu.Unlock()

	if store == nil {
		s, err := c.js.ObjectStore(ctx, names.CodeStore)
		if err != nil {
			return "", fmt.Errorf("open code store %s: %w", names.CodeStore, err)
		}
		store = s
	}
	b, err := store.GetBytes(ctx, names.CodeName(digest))
	if err != nil {
		return "", fmt.Errorf("fetch code %s: %w", names.CodeName(digest), err)
	}
	code := string(b)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.store = store
	if _, ok := c.byKey[digest]; ok || int64(len(code)) > c.maxBytes {
		return code, nil
	}
	c.byKey[digest] = c.lru.PushFront(&codeEntry{digest, code})
	c.bytes += int64(len(code))
	for c.bytes > c.maxBytes {
		e := c.lru.Back()
		ce := e.Value.(*codeEntry)
		c.lru.Remove(e)
		delete(c.byKey, ce.digest)
		c.bytes -= int64(len(ce.code))
	}
	return code, nil
}
