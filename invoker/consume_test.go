package invoker

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// recordingConsumer records the size of every fetch and returns no
// message.
type recordingConsumer struct {
	jetstream.Consumer
	p      int
	mu     *sync.Mutex
	fetchs map[int][]int // partition → sizes asked for
}

func (c recordingConsumer) Fetch(n int, _ ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	c.mu.Lock()
	c.fetchs[c.p] = append(c.fetchs[c.p], n)
	c.mu.Unlock()
	return emptyBatch{}, nil
}

type emptyBatch struct{}

func (emptyBatch) Messages() <-chan jetstream.Msg {
	ch := make(chan jetstream.Msg)
	close(ch)
	return ch
}

func (emptyBatch) Error() error { return nil }

// TestScheduleSharesSlots: a backlog on several partitions is fetched a
// share of the free slots per partition; a backlog on one partition may
// take every free slot.
func TestScheduleSharesSlots(t *testing.T) {
	for _, tc := range []struct {
		name  string
		slots int
		bells map[int]int // partition → announced activations
		want  map[int][]int
	}{
		{"one partition takes every slot", 16, map[int]int{3: 12}, map[int][]int{3: {12}}},
		{"four partitions share", 16, map[int]int{0: 12, 5: 12, 9: 2, 15: 12},
			map[int][]int{0: {4}, 5: {4}, 9: {2}, 15: {4}}},
		{"every partition gets one", 16, backlogOnEvery(12), onePerPartition()},
		{"fewer slots than partitions", 4, backlogOnEvery(12), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := &Invoker{
				cfg:   Config{ID: "self", MaxConcurrent: tc.slots, FetchMaxWait: time.Millisecond}.WithDefaults(),
				log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
				slots: make(chan struct{}, tc.slots),
			}
			pl := inv.newPuller(newMembers("self", time.Minute))
			var mu sync.Mutex
			got := map[int][]int{}
			for p := range names.Partitions {
				pl.cons[p] = recordingConsumer{p: p, mu: &mu, fetchs: got}
			}
			for p, n := range tc.bells {
				pl.bells[p] = n
			}
			var fetches sync.WaitGroup
			ctx := context.Background()
			pl.schedule(ctx, ctx, &fetches)
			fetches.Wait()
			if tc.want != nil {
				if !maps.EqualFunc(got, tc.want, slices.Equal[[]int]) {
					t.Fatalf("fetches %v, want %v", got, tc.want)
				}
				return
			}
			// Fewer slots than partitions: one each for as many
			// partitions as there are slots.
			total := 0
			for p, sizes := range got {
				if len(sizes) != 1 || sizes[0] != 1 {
					t.Fatalf("partition %d fetched %v, want [1]", p, sizes)
				}
				total++
			}
			if total != tc.slots {
				t.Fatalf("%d partitions fetched, want %d: %v", total, tc.slots, got)
			}
		})
	}
}

func backlogOnEvery(n int) map[int]int {
	m := map[int]int{}
	for p := range names.Partitions {
		m[p] = n
	}
	return m
}

func onePerPartition() map[int][]int {
	m := map[int][]int{}
	for p := range names.Partitions {
		m[p] = []int{1}
	}
	return m
}
