package invoker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// puller pulls activations from the partition consumers (ADR 004).
//
// Pull requests are slot reservations, so none is left waiting on a quiet
// partition: a headers-only doorbell, republished by the activations
// stream for every stored activation, says which partition has work and
// how much, and the puller fetches exactly that many (bounded by free
// slots) from it, so the request is served at once. Owned partitions are
// pulled plainly. An owner with a backlog and no free slot asks for help
// on the partition's overflow subject; for a while the others then pull
// that partition too, with min_pending, so the server hands them only the
// backlog the owner cannot take. Every PollInterval each partition is
// probed once: redelivered messages ring no doorbell.
type puller struct {
	i       *Invoker
	members *members
	cons    [names.Partitions]jetstream.Consumer
	wake    chan struct{}
	// work hands a pulled message to an idle handler goroutine;
	// unbuffered, so a send succeeds only when one is waiting.
	work chan jetstream.Msg

	mu    sync.Mutex
	bells [names.Partitions]int       // doorbells not yet matched by a fetch
	probe [names.Partitions]bool      // the periodic probe is due
	busy  [names.Partitions]bool      // a fetch is in flight
	help  [names.Partitions]time.Time // help another owner until then
	asked [names.Partitions]time.Time // when this owner last asked for help
	next  int                         // round-robin start
}

// Overflow timing: an owner repeats its call for help at most every
// helpRepeat while its backlog lasts; a call is answered for helpWindow.
const (
	helpRepeat = 50 * time.Millisecond
	helpWindow = 500 * time.Millisecond
)

func (i *Invoker) newPuller(m *members) *puller {
	return &puller{i: i, members: m, wake: make(chan struct{}, 1), work: make(chan jetstream.Msg)}
}

// ring notes work on a partition and wakes the scheduler.
func (pl *puller) ring(p, n int) {
	pl.mu.Lock()
	pl.bells[p] += n
	pl.mu.Unlock()
	pl.poke()
}

func (pl *puller) poke() {
	select {
	case pl.wake <- struct{}{}:
	default:
	}
}

// reprobe probes every partition at once, as the periodic probe does:
// when ownership changes, doorbells of the partitions now owned were
// dropped while another invoker owned them (a departing one's backlog
// waits there).
func (pl *puller) reprobe() {
	pl.mu.Lock()
	for p := range names.Partitions {
		pl.bells[p] = max(pl.bells[p], 1)
		pl.probe[p] = true
	}
	pl.mu.Unlock()
	pl.poke()
}

// doorbell handles one republished activation header.
func (pl *puller) doorbell(msg *nats.Msg) {
	if p, ok := doorbellPartition(msg.Subject); ok {
		pl.ring(p, 1)
	}
}

// overflow handles another invoker's call for help with partition p.
func (pl *puller) overflow(msg *nats.Msg) {
	p, ok := doorbellPartition(msg.Subject)
	if !ok || pl.members.owns(p) {
		return
	}
	backlog, _ := strconv.Atoi(string(msg.Data))
	pl.mu.Lock()
	pl.help[p] = time.Now().Add(helpWindow)
	pl.bells[p] = max(pl.bells[p], backlog, 1)
	pl.mu.Unlock()
	pl.poke()
}

// doorbellPartition parses the partition of "flurry.doorbell.p<N>" (and
// of "flurry.overflow.p<N>").
func doorbellPartition(subject string) (int, bool) {
	i := strings.LastIndexByte(subject, '.')
	if i < 0 || !strings.HasPrefix(subject[i+1:], "p") {
		return 0, false
	}
	p, err := strconv.Atoi(subject[i+2:])
	if err != nil || p < 0 || p >= names.Partitions {
		return 0, false
	}
	return p, true
}

// connect looks up the partition consumers, retrying until ctx is done.
func (pl *puller) connect(ctx context.Context) bool {
	i := pl.i
	for p := range names.Partitions {
		for warned := false; ; warned = true {
			c, err := i.js.Consumer(ctx, names.ActivationsStream, names.PartitionConsumer(p))
			if err == nil {
				pl.cons[p] = c
				break
			}
			if ctx.Err() != nil {
				return false
			}
			if !warned {
				i.log.Warn("activation consumer not available yet; retrying", "stream", names.ActivationsStream,
					"consumer", names.PartitionConsumer(p), "err", err)
			}
			if !sleep(ctx, time.Second) {
				return false
			}
		}
	}
	return true
}

// run schedules fetches until ctx is done, then waits for those in flight.
func (pl *puller) run(ctx, actx context.Context) {
	var fetches sync.WaitGroup
	defer fetches.Wait()
	poll := time.NewTicker(pl.i.cfg.PollInterval)
	defer poll.Stop()
	pl.mu.Lock()
	for p := range names.Partitions {
		pl.bells[p], pl.probe[p] = 1, true // a backlog may wait from before we started
	}
	pl.mu.Unlock()
	for {
		pl.schedule(ctx, actx, &fetches)
		select {
		case <-ctx.Done():
			return
		case <-pl.wake:
		case now := <-poll.C:
			pl.members.expire(now)
			pl.reprobe()
		}
	}
}

// schedule starts a fetch on every partition with work, owned ones first,
// while free slots last.
func (pl *puller) schedule(ctx, actx context.Context, fetches *sync.WaitGroup) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	now := time.Now()
	start := pl.next
	pl.next = (pl.next + 1) % names.Partitions
	for pass := range 2 {
		owned := pass == 0
		for k := range names.Partitions {
			p := (start + k) % names.Partitions
			if pl.busy[p] || pl.bells[p] == 0 || pl.members.owns(p) != owned {
				continue
			}
			want := pl.bells[p]
			if !owned && now.After(pl.help[p]) && (!pl.probe[p] || !pl.members.ownerSaturated(p)) {
				// Another invoker's partition: its owner takes its work
				// unless it asked for help; the periodic probe still
				// finds a backlog nobody announced, but only of an owner
				// that was saturated (an idle owner's partition holds
				// activations in passing, not a backlog: taking them
				// here cold-started containers the owner had warm).
				pl.bells[p], pl.probe[p] = 0, false
				continue
			}
			n := pl.i.takeFree(want)
			if n == 0 {
				if pl.i.saturated() {
					pl.askHelp(now)
				}
				return // woken again when a slot frees
			}
			probing := pl.probe[p]
			pl.bells[p], pl.probe[p] = 0, false
			pl.busy[p] = true
			fetches.Go(func() { pl.fetch(ctx, actx, p, n, want, owned, probing) })
		}
	}
}

// saturated reports whether running activations, not fetches in flight,
// hold (nearly) all slots: slots reserved for a fetch free up within
// FetchMaxWait, and calling for help then sent activations away from
// their warm containers to be cold-started elsewhere.
func (i *Invoker) saturated() bool {
	return 10*i.running.Load() >= 9*int64(i.cfg.MaxConcurrent)
}

// askHelp calls for help with every owned partition whose announced
// backlog reaches OverflowMinPending while this invoker has no free slot.
// pl.mu is held.
func (pl *puller) askHelp(now time.Time) {
	for p := range names.Partitions {
		if pl.bells[p] < pl.i.cfg.OverflowMinPending || now.Sub(pl.asked[p]) < helpRepeat || !pl.members.owns(p) {
			continue
		}
		pl.asked[p] = now
		if err := pl.i.nc.Publish(names.OverflowSubject(p), []byte(strconv.Itoa(pl.bells[p]))); err != nil {
			pl.i.log.Warn("ask for overflow help", "partition", p, "err", err)
		}
	}
}

// fetch pulls up to n activations of partition p (n slots are taken) and
// starts each; want is how many the doorbells announced, probing says
// the count was unknown (a periodic probe or the start).
func (pl *puller) fetch(ctx, actx context.Context, p, n, want int, owned, probing bool) {
	i := pl.i
	opts := []jetstream.FetchOpt{jetstream.FetchMaxWait(i.cfg.FetchMaxWait),
		jetstream.FetchPriorityGroup(names.InvokerPriorityGroup)}
	if !owned {
		opts = append(opts, jetstream.FetchMinPending(int64(i.cfg.OverflowMinPending)))
	}
	got := 0
	batch, err := pl.cons[p].Fetch(n, opts...)
	if err == nil {
		for msg := range batch.Messages() {
			got++
			if ctx.Err() != nil {
				// Pulled while stopping: hand it straight back.
				if err := msg.Nak(); err != nil {
					i.log.Warn("nak on shutdown", "err", err)
				}
				i.releaseSlots(1)
				continue
			}
			pl.start(ctx, actx, msg)
		}
		err = batch.Error()
	}
	i.releaseSlots(n - got)
	if err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
		i.log.Warn("fetch activations", "partition", p, "err", err)
	}
	pl.mu.Lock()
	pl.busy[p] = false
	switch {
	case got == n && n < want:
		pl.bells[p] += want - n // announced, not yet fetched for want of slots
	case got == n && probing:
		// A backlog nobody announced (redeliveries, or from before we
		// started): keep fetching, in doubling batches.
		pl.bells[p] = max(pl.bells[p], 2*n)
		pl.probe[p] = true
	}
	pl.mu.Unlock()
	pl.poke()
}

// start runs msg (its slot taken) on an idle handler goroutine, or on a
// new one. Handlers outlive their message: a goroutine per message grew
// its stack anew on every activation (runtime.copystack was 1.2 % of the
// standalone's CPU). A new one starts only when none is waiting, so there
// are about as many handlers as slots: a few more at most, when a slot is
// taken again in the instant between a handler releasing it and waiting.
func (pl *puller) start(ctx, actx context.Context, msg jetstream.Msg) {
	pl.i.inflight.Add(1)
	select {
	case pl.work <- msg:
	default:
		go pl.handler(ctx, actx, msg)
	}
}

// handler runs msg and then the messages handed to it, until ctx (the
// pulling) ends.
func (pl *puller) handler(ctx, actx context.Context, msg jetstream.Msg) {
	i := pl.i
	for {
		i.handle(actx, msg)
		i.releaseSlots(1)
		i.inflight.Done()
		select {
		case msg = <-pl.work:
		case <-ctx.Done():
			return
		}
	}
}

// takeFree takes up to want free slots without blocking.
func (i *Invoker) takeFree(want int) int {
	n := 0
	for n < want {
		select {
		case i.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}
