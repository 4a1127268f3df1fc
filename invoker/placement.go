package invoker

import (
	"encoding/json"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/internal/names"
)

// members tracks live invokers from their heartbeats and derives which
// activation partitions this invoker owns. Controllers hold no placement
// state: every invoker computes the same owners from the same heartbeats.
type members struct {
	self    string
	timeout time.Duration

	mu    sync.Mutex
	seen  map[string]member
	owner [names.Partitions]string // by rendezvous hashing over live ids
}

type member struct {
	at time.Time // last heartbeat
	// saturated is true when the last heartbeat had every slot busy.
	saturated bool
}

func newMembers(self string, timeout time.Duration) *members {
	m := &members{self: self, timeout: timeout, seen: map[string]member{}}
	m.recompute(time.Now())
	return m
}

// observe handles one heartbeat message; it reports whether ownership
// changed. A departing invoker's last message (health.Leaving) removes it
// at once, so its partitions are taken over without waiting out the
// member timeout.
func (m *members) observe(msg *nats.Msg) bool {
	var h health
	if err := json.Unmarshal(msg.Data, &h); err != nil || h.ID == "" || h.ID == m.self {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, known := m.seen[h.ID]
	if h.Leaving {
		if !known {
			return false
		}
		delete(m.seen, h.ID)
		m.recompute(time.Now())
		return true
	}
	m.seen[h.ID] = member{at: time.Now(), saturated: h.Slots > 0 && h.Busy >= int64(h.Slots)}
	if !known {
		m.recompute(time.Now())
	}
	return !known
}

// expire drops members silent for longer than the timeout; it reports
// whether ownership changed.
func (m *members) expire(now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	gone := false
	for id, mb := range m.seen {
		if id != m.self && now.Sub(mb.at) > m.timeout {
			delete(m.seen, id)
			gone = true
		}
	}
	if gone {
		m.recompute(now)
	}
	return gone
}

// recompute sets owners from the live ids (self always among them).
// m.mu is held.
func (m *members) recompute(time.Time) {
	ids := []string{m.self}
	for id := range m.seen {
		if id != m.self {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for p := range names.Partitions {
		m.owner[p] = rendezvous(ids, p)
	}
}

// owns reports whether this invoker owns partition p.
func (m *members) owns(p int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.owner[p] == m.self
}

// ownerSaturated reports whether partition p's owner, another invoker,
// had no free slot at its last heartbeat (or is not known to have any).
// Only then is its partition worth a helper's periodic probe: an owner
// with free slots serves its own backlog, and a probe would take its
// activations away from the warm containers that wait for them.
func (m *members) ownerSaturated(p int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb, ok := m.seen[m.owner[p]]
	return !ok || mb.saturated
}

// rendezvous picks the owner of partition p among ids: the id with the
// highest hash of (id, p). A member joining or leaving moves only the
// partitions it wins or held.
func rendezvous(ids []string, p int) string {
	var best string
	var top uint64
	for _, id := range ids {
		h := fnv.New64a()
		h.Write([]byte(id))
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(p)))
		// fnv's high bits mix poorly for short inputs; finish with a
		// 64-bit avalanche (splitmix64) so shares are even.
		v := h.Sum64()
		v ^= v >> 30
		v *= 0xbf58476d1ce4e5b9
		v ^= v >> 27
		v *= 0x94d049bb133111eb
		v ^= v >> 31
		if best == "" || v > top {
			best, top = id, v
		}
	}
	return best
}
