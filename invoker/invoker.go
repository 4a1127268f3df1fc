package invoker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/invoker/container"
	"github.com/flurryfn/flurry/invoker/pool"
)

// Invoker pulls activations and runs them in its container pool.
type Invoker struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	rt   container.Runtime
	cfg  Config
	log  *slog.Logger
	pool *pool.Pool[*conn]
	cpu  *hostCPU
	code *codeCache
	// actions decodes activation messages, each action revision once.
	actions actionCache
	// apps are the web app revisions run here, for prewarms (apps.go).
	apps appRevisions
	// nets are the namespaces' network policies (netpolicy.go).
	nets netPolicies
	// markerHead begins every started marker (lost.go).
	markerHead []byte
	// held are the activations in hand, so that a redelivery of one is
	// left to its holder (held.go).
	held held

	// leaving is cancelled once pulling has stopped: activations still
	// waiting for a container then go back to the stream (run.go).
	leaving context.Context
	leave   context.CancelFunc

	slots    chan struct{} // a token per activation pulled for or running
	mu       sync.Mutex
	puller   *puller // pulling, woken when a slot frees; nil otherwise
	running  atomic.Int64
	inflight sync.WaitGroup
}

// New makes an invoker over the NATS connection nc and runtime rt.
func New(nc *nats.Conn, rt container.Runtime, cfg Config, log *slog.Logger) (*Invoker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("invoker", cfg.ID)
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	cpu := newHostCPU("/proc/stat")
	pc := cfg.poolConfig()
	pc.Contended = cpu.contended
	p, err := pool.New(rt, pc, openConn, log)
	if err != nil {
		return nil, err
	}
	inv := &Invoker{
		nc:    nc,
		js:    js,
		rt:    rt,
		cfg:   cfg,
		log:   log,
		pool:  p,
		cpu:   cpu,
		code:  newCodeCache(js, cfg.CodeCacheMB<<20),
		slots: make(chan struct{}, cfg.MaxConcurrent),

		markerHead: startedMarkerHead(cfg.ID),
	}
	inv.leaving, inv.leave = context.WithCancel(context.Background())
	// The keep-alive policy may ask for a container initialized for an
	// action ahead of its expected next call.
	p.SetWarm(inv.warmContainer)
	return inv, nil
}

// ID is the invoker's id (Config.ID after defaults).
func (i *Invoker) ID() string { return i.cfg.ID }

// Run pulls and runs activations until ctx is done, removing the
// containers a previous run left beside them. Then it drains: it stops
// pulling and announces its departure (the others take its partitions at
// once), hands back the activations still waiting for a container, waits
// up to DrainTimeout for those running (past it they are cancelled and
// left for redelivery), and removes its containers. It returns nil after
// a drain begun by ctx; an error only if it could not start.
func (i *Invoker) Run(ctx context.Context) error {
	if err := i.watchNetPolicies(ctx); err != nil {
		return err
	}
	// Listed before the pool starts any container, removed while it
	// serves: a restart takes its partitions back at once.
	leftovers, err := i.pool.Leftovers(ctx, i.cfg.RemoveAllManaged)
	if err != nil {
		i.log.Warn("leftover containers not listed", "err", err)
	}
	i.log.Info("invoker starting", "runtime", i.rt.Name(), "memoryMB", i.cfg.MemoryMB,
		"slots", i.cfg.MaxConcurrent, "prewarm", i.cfg.Prewarm, "leftovers", len(leftovers))

	bg := context.WithoutCancel(ctx)
	poolCtx, stopPool := context.WithCancel(bg)
	var bgDone sync.WaitGroup
	bgDone.Go(func() {
		if err := i.pool.RemoveLeftovers(ctx, leftovers); err != nil {
			i.log.Warn("leftover containers not removed", "err", err)
		}
	})
	bgDone.Go(func() { i.pool.Run(poolCtx) })
	bgDone.Go(func() { i.heartbeat(ctx) })
	bgDone.Go(func() { i.cpu.run(ctx) })
	// Activations outlive ctx during the drain; actx is cancelled only
	// when the drain times out.
	actx, cancelActivations := context.WithCancel(bg)
	defer cancelActivations()

	i.consume(ctx, actx)
	i.leave()

	drained := make(chan struct{})
	go func() { i.inflight.Wait(); close(drained) }()
	t := time.NewTimer(i.cfg.DrainTimeout)
	select {
	case <-drained:
		t.Stop()
	case <-t.C:
		i.log.Warn("drain timed out; cancelling activations in flight", "running", i.running.Load())
		cancelActivations()
		<-drained
	}
	stopPool()
	bgDone.Wait()
	i.pool.Close(bg)
	i.log.Info("invoker stopped")
	return nil
}

// consume follows membership and doorbells and pulls activations while
// ctx lasts, never more than free slots (ADR 004).
func (i *Invoker) consume(ctx, actx context.Context) {
	m := newMembers(i.cfg.ID, i.cfg.MemberTimeout)
	pl := i.newPuller(m)
	hsub, err := i.nc.Subscribe(names.InvokerHealthSubjects, func(msg *nats.Msg) {
		if m.observe(msg) {
			pl.reprobe()
		}
	})
	if err != nil {
		i.log.Error("subscribe to invoker heartbeats; pulling as if alone", "err", err)
	} else {
		defer hsub.Unsubscribe()
	}
	dsub, err := i.nc.Subscribe(names.DoorbellSubjects, pl.doorbell)
	if err != nil {
		// Without doorbells the periodic probe still finds every activation.
		i.log.Error("subscribe to activation doorbells; falling back to polling", "err", err)
	} else {
		defer dsub.Unsubscribe()
	}
	osub, err := i.nc.Subscribe(names.OverflowSubjects, pl.overflow)
	if err != nil {
		i.log.Error("subscribe to overflow calls; helping other invokers only on the periodic probe", "err", err)
	} else {
		defer osub.Unsubscribe()
	}
	if !pl.connect(ctx) {
		return
	}
	i.setPuller(pl)
	defer i.setPuller(nil)
	pl.run(ctx, actx)
}

func (i *Invoker) setPuller(pl *puller) {
	i.mu.Lock()
	i.puller = pl
	i.mu.Unlock()
}

func (i *Invoker) releaseSlots(n int) {
	if n <= 0 {
		return
	}
	for range n {
		<-i.slots
	}
	i.mu.Lock()
	pl := i.puller
	i.mu.Unlock()
	if pl != nil {
		pl.poke()
	}
}

// handle runs one activation message to its ack.
func (i *Invoker) handle(ctx context.Context, msg jetstream.Msg) {
	m, err := i.actions.decode(msg.Data())
	if err != nil || m.ActivationID == "" {
		if err == nil {
			err = errors.New("no activation id")
		}
		i.log.Error("undecodable activation message; terminating it", "subject", msg.Subject(),
			"msgID", msg.Headers().Get(names.HeaderMsgID), "err", err)
		if err := msg.TermWithReason("undecodable activation"); err != nil {
			i.log.Error("term undecodable message", "err", err)
		}
		return
	}
	log := i.log.With("activation", m.ActivationID)
	release, ok := i.held.take(m.ActivationID)
	if !ok {
		// Neither acked nor nak'd: the holder's ack or progress covers
		// this delivery too.
		log.Info("activation redelivered while this invoker still holds it; left to the holder", "delivered", deliveries(msg))
		return
	}
	defer release()
	// From here to the ack, including a record that takes retries to
	// store, the message stays in progress.
	stop := i.keepInProgress(log, msg)
	defer stop()

	if md, err := msg.Metadata(); err == nil && md.NumDelivered > 1 {
		if i.settleStored(ctx, log, msg, &m) {
			log.Info("redelivered activation already had a record; acked", "delivered", md.NumDelivered)
			return
		}
		log.Info("activation redelivered", "delivered", md.NumDelivered)
		if rec, lost := i.lostRun(ctx, log, &m); lost {
			i.settle(ctx, log, msg, &m, rec)
			return
		}
	}

	if rec, old := i.expired(&m); old {
		log.Info("asynchronous activation is older than its action's maxEventAge; not running it")
		i.settle(ctx, log, msg, &m, rec)
		return
	}

	i.running.Add(1)
	defer i.running.Add(-1)
	rec, err := i.activate(ctx, log, &m)
	if err != nil {
		log.Warn("activation abandoned; leaving it for redelivery", "err", err)
		stop()
		i.held.drop(m.ActivationID)
		if err := msg.Nak(); err != nil {
			log.Warn("nak", "err", err)
		}
		return
	}
	i.settle(ctx, log, msg, &m, rec)
}

func (i *Invoker) ack(log *slog.Logger, msg jetstream.Msg) {
	if err := msg.Ack(); err != nil {
		log.Error("ack activation", "err", err)
	}
}

// keepInProgress progress-acks msg every AckProgress until stop is called;
// no progress ack is sent once stop has returned. A timer, not a goroutine
// with a ticker: nearly every activation ends before the first tick.
func (i *Invoker) keepInProgress(log *slog.Logger, msg jetstream.Msg) (stop func()) {
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	t = time.AfterFunc(i.cfg.AckProgress, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		// settle may ack while the timer fires; that is no failure.
		if err := msg.InProgress(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			log.Warn("progress ack", "err", err)
		}
		t.Reset(i.cfg.AckProgress)
	})
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		t.Stop()
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
