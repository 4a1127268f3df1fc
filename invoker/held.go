package invoker

import "sync"

// held is the set of activations this invoker has in hand, by activation
// id: from the moment a handler takes the message until it acked it or
// handed it back. A message can come back while its invoker still holds
// it: its progress acks did not reach the consumer (the activations
// stream's leader moved), or AckWait passed while the record was being
// retried. That delivery is left to the holder, which acks by stream
// sequence and so settles every delivery of the message at once. Taking
// it for a lost run instead (lostRun would find the holder's own started
// marker) would record an internal error for a run whose result the
// holder is about to record.
//
// Each take gets its own token, so a holder that handed its message back
// (drop) and then returns cannot release a later holder of the same id.
type held struct {
	mu   sync.Mutex
	ids  map[string]uint64
	next uint64
}

// take holds id and returns its release, or reports false when id is
// already held. release is safe to call more than once.
func (h *held) take(id string) (release func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, busy := h.ids[id]; busy {
		return nil, false
	}
	if h.ids == nil {
		h.ids = map[string]uint64{}
	}
	h.next++
	token := h.next
	h.ids[id] = token
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.ids[id] == token {
			delete(h.ids, id)
		}
	}, true
}

// drop lets go of id before its holder returns: the holder is about to
// hand the message back (nak), and the next delivery, perhaps to this
// invoker at once, is no longer its to settle. Only the holder calls it.
func (h *held) drop(id string) {
	h.mu.Lock()
	delete(h.ids, id)
	h.mu.Unlock()
}
