// Command natsfloor measures the NATS floor of Flurry's activation
// protocol: the messages one activation costs, with nothing else around
// them. It starts the embedded broker (internal/broker) with Flurry's own
// streams and consumers (internal/provision), and then -clients closed-loop
// callers do, per activation, what the controller and the invoker send:
//
//   - the controller publishes the activation to its partition (JetStream,
//     Nats-Msg-Id, waiting for the stream's ack) and waits for the result
//     on its result subject;
//   - the invoker, told by the partition's doorbell, fetches it from the
//     partition consumer (priority group, as the invoker), publishes the
//     started marker (plain publish), sends the result to the caller (core
//     NATS), stores the record (JetStream, waiting for the ack) and acks
//     the activation;
//   - the controller follows the records headers-only (admission, ADR 005).
//
// There is no HTTP, no container, no admission KV and no JSON decoding:
// payloads are opaque bytes of the sizes Flurry sends. Broker and clients
// share this one process, as in `flurry standalone`, so the CPU per
// activation it prints is comparable to the standalone's in scalebench.
// -started=false, -admission=false and -doorbells=false leave one part of
// the protocol out, and -storage memory puts the streams in memory, to
// show what each costs. -batch N (and -batch-records) measure a batched
// protocol that Flurry does not have, to show what batching would buy.
//
//	go run ./e2e/cmd/natsfloor -clients 64 -actions 100 -duration 15s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/e2e/internal/benchsys"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/natsclient"
	"github.com/flurryfn/flurry/internal/provision"
)

func main() {
	clients := flag.Int("clients", 64, "concurrent closed-loop callers")
	actions := flag.Int("actions", 100, "distinct action subjects (spread over the partitions)")
	duration := flag.Duration("duration", 15*time.Second, "measured phase")
	warmup := flag.Duration("warmup", 3*time.Second, "load before the measured phase")
	storage := flag.String("storage", "file", "JetStream storage of Flurry's streams: file or memory")
	msgSize := flag.Int("message", 700, "bytes of an activation message (an action revision and small params)")
	recSize := flag.Int("record", 600, "bytes of a record")
	started := flag.Bool("started", true, "publish the started marker (ADR 004); false: what it costs")
	admission := flag.Bool("admission", true, "follow the records headers-only (ADR 005); false: what it costs")
	batch := flag.Int("batch", 1, "at most this many activations per activations-stream message (a prototype of batching, not Flurry's protocol): the controller publishes each partition's waiting activations together as soon as the previous publish is acked, and the invoker marks a message started once and acks it once, with a record and a reply per activation")
	batchRecords := flag.Bool("batch-records", false, "with -batch: also one record message and one reply per activations message (a bound: Flurry looks records up by activation id)")
	doorbells := flag.Bool("doorbells", true, "republish doorbells and fetch on them (ADR 004); false: the stream without RePublish, each partition fetched in a loop")
	flag.Parse()
	st := jetstream.FileStorage
	switch *storage {
	case "file":
	case "memory":
		st = jetstream.MemoryStorage
	default:
		fmt.Fprintln(os.Stderr, "natsfloor: -storage must be file or memory")
		os.Exit(2)
	}
	f := floor{clients: *clients, actions: *actions, storage: st, msgSize: *msgSize, recSize: *recSize,
		started: *started, admission: *admission, doorbells: *doorbells, batch: max(*batch, 1), batchRecords: *batchRecords}
	if err := f.run(*warmup, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "natsfloor:", err)
		os.Exit(1)
	}
}

type floor struct {
	clients, actions int
	storage          jetstream.StorageType
	msgSize, recSize int
	started          bool
	admission        bool
	doorbells        bool
	batch            int
	batchRecords     bool

	queues [names.Partitions]chan queued // -batch: activations waiting to be published

	waitMu  sync.Mutex
	waiters map[string]chan struct{}
}

func (f *floor) run(warmup, duration time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "natsfloor")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := broker.Start(broker.Config{DataDir: dir, Listen: "127.0.0.1:-1"})
	if err != nil {
		return err
	}
	defer b.Shutdown()

	// One connection each, as the standalone's controller and invoker.
	ctl, err := connectAs(b, broker.RoleController)
	if err != nil {
		return err
	}
	defer ctl.Close()
	inv, err := connectAs(b, broker.RoleInvoker)
	if err != nil {
		return err
	}
	defer inv.Close()
	cjs, _ := jetstream.New(ctl)
	ijs, _ := jetstream.New(inv)
	if err := provision.Ensure(ctx, cjs, provision.Options{Storage: f.storage}); err != nil {
		return err
	}
	if !f.doorbells {
		cfg := provision.ActivationsStreamConfig(provision.Options{Storage: f.storage})
		cfg.RePublish = nil
		if _, err := cjs.UpdateStream(ctx, cfg); err != nil {
			return err
		}
	}
	if err := f.startInvoker(ctx, inv, ijs); err != nil {
		return err
	}
	if err := f.startController(ctx, ctl, cjs); err != nil {
		return err
	}

	var done, failed atomic.Int64
	var measuring atomic.Bool
	var latMu sync.Mutex
	var lat []time.Duration
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range f.clients {
		wg.Go(func() {
			var mine []time.Duration
			for n := 0; ; n++ {
				select {
				case <-stop:
					latMu.Lock()
					lat = append(lat, mine...)
					latMu.Unlock()
					return
				default:
				}
				t0 := time.Now()
				err := f.invoke(ctx, cjs, (c*7919+n)%f.actions)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				done.Add(1)
				mine = append(mine, time.Since(t0))
			}
		})
	}
	time.Sleep(warmup)
	cpu0, _ := benchsys.ReadProcStat(os.Getpid())
	measuring.Store(true)
	t0 := time.Now()
	time.Sleep(duration)
	measuring.Store(false)
	elapsed := time.Since(t0)
	cpu1, _ := benchsys.ReadProcStat(os.Getpid())
	n := done.Load()
	close(stop)
	wg.Wait()

	slices.Sort(lat)
	cpu := time.Duration(cpu1.Ticks-cpu0.Ticks) * time.Second / benchsys.ClockTicks
	fmt.Printf("started markers %t, admission %t, doorbells %t, at most %d activations per message, batched records %t\n", f.started, f.admission, f.doorbells, f.batch, f.batchRecords)
	fmt.Printf("%d callers, %d action subjects, %s storage, %s: %.0f activations/s, p50 %s, p99 %s, failed %d\n",
		f.clients, f.actions, f.storage, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(),
		benchsys.Percentile(lat, 50).Round(time.Microsecond), benchsys.Percentile(lat, 99).Round(time.Microsecond), failed.Load())
	if n > 0 {
		fmt.Printf("CPU per activation (broker and both clients, this process): %d µs (%.2f cores)\n",
			(cpu / time.Duration(n)).Microseconds(), cpu.Seconds()/elapsed.Seconds())
	}
	return nil
}

// startController subscribes to the results and follows the records
// headers-only, as the controller does.
func (f *floor) startController(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) error {
	f.waiters = make(map[string]chan struct{})
	for p := range f.queues {
		f.queues[p] = make(chan queued, f.clients)
		go f.publishBatches(ctx, js, p)
	}
	if _, err := nc.Subscribe(names.ResultSubject("floor"), func(m *nats.Msg) {
		ids := []string{m.Header.Get(names.HeaderMsgID)}
		if b := m.Header.Get(batchHeader); b != "" {
			ids = strings.Split(b, ",")
		}
		for _, id := range ids {
			f.waitMu.Lock()
			ch := f.waiters[id]
			delete(f.waiters, id)
			f.waitMu.Unlock()
			if ch != nil {
				close(ch)
			}
		}
	}); err != nil {
		return err
	}
	if !f.admission {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, names.RecordsStream, jetstream.OrderedConsumerConfig{
		HeadersOnly: true, DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return err
	}
	_, err = cons.Consume(func(jetstream.Msg) {})
	return err
}

// invoke is one activation from the caller's side.
func (f *floor) invoke(ctx context.Context, js jetstream.JetStream, action int) error {
	id := activation.NewID()
	m := &nats.Msg{Subject: names.ActivationSubject("guest", fmt.Sprintf("a%d", action)),
		Header: nats.Header{}, Data: make([]byte, f.msgSize)}
	m.Header.Set(names.HeaderMsgID, id)
	m.Header.Set(names.HeaderReply, names.ResultSubject("floor"))
	ch := make(chan struct{})
	f.waitMu.Lock()
	f.waiters[id] = ch
	f.waitMu.Unlock()
	defer func() {
		f.waitMu.Lock()
		delete(f.waiters, id)
		f.waitMu.Unlock()
	}()
	if f.batch > 1 {
		q := queued{id: id, stored: make(chan error, 1)}
		f.queues[names.Partition("guest", fmt.Sprintf("a%d", action))] <- q
		if err := <-q.stored; err != nil {
			return err
		}
	} else if _, err := js.PublishMsg(ctx, m); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("activation %s: no result in 10s", id)
	}
}

// startInvoker fetches each partition when its doorbell rings, one
// fetch in flight per partition, and settles each activation in its own
// goroutine, as the invoker does.
func (f *floor) startInvoker(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) error {
	for p := range names.Partitions {
		bell := make(chan struct{}, 1)
		cons, err := js.Consumer(ctx, names.ActivationsStream, names.PartitionConsumer(p))
		if err != nil {
			return err
		}
		if !f.doorbells {
			close(bell) // always rings
		} else if _, err := nc.Subscribe(names.DoorbellSubject(p), func(*nats.Msg) {
			select {
			case bell <- struct{}{}:
			default:
			}
		}); err != nil {
			return err
		}
		go f.pull(ctx, nc, js, cons, bell)
	}
	return nil
}

func (f *floor) pull(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, cons jetstream.Consumer, bell chan struct{}) {
	for {
		select {
		case <-bell:
		case <-ctx.Done():
			return
		}
		for {
			batch, err := cons.Fetch(64, jetstream.FetchMaxWait(time.Second), jetstream.FetchPriorityGroup(names.InvokerPriorityGroup))
			if err != nil {
				break
			}
			n := 0
			for msg := range batch.Messages() {
				n++
				go f.settle(ctx, nc, js, msg)
			}
			if n == 0 {
				break
			}
		}
	}
}

func (f *floor) settle(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, msg jetstream.Msg) {
	if ids := msg.Headers().Get(batchHeader); ids != "" {
		f.settleBatch(ctx, nc, js, msg, strings.Split(ids, ","))
		return
	}
	id := msg.Headers().Get(names.HeaderMsgID)
	if f.started {
		_ = nc.Publish(names.StartedSubject(id), startedMarker)
	}
	rec := make([]byte, f.recSize)
	_ = nc.PublishMsg(withHeader(msg.Headers().Get(names.HeaderReply), rec, names.HeaderMsgID, id))
	if _, err := js.PublishMsg(ctx, withHeader(names.RecordSubject("guest", id), rec, names.HeaderMsgID, id)); err != nil {
		complain("record", err)
		return
	}
	_ = msg.Ack()
}

// complain reports a failed publish, unless the run is over and its
// connection closed under it.
func complain(what string, err error) {
	if !errors.Is(err, nats.ErrConnectionClosed) {
		fmt.Fprintf(os.Stderr, "natsfloor: %s: %v\n", what, err)
	}
}

// startedMarker is the started marker's payload, of the invoker's size.
var startedMarker = []byte(`{"invoker":"floor","at":1764892800123}`)

// withHeader is a message of data to subject with header key set to value.
func withHeader(subject string, data []byte, key, value string) *nats.Msg {
	m := &nats.Msg{Subject: subject, Header: nats.Header{}, Data: data}
	m.Header.Set(key, value)
	return m
}

// batchHeader lists the activation ids of a -batch message.
const batchHeader = "Floor-Batch"

// queued is an activation waiting for its partition's next -batch publish.
type queued struct {
	id     string
	stored chan error // the publish's outcome
}

// publishBatches publishes partition p's queued activations, all that
// wait (up to -batch) in one message, as soon as the previous is acked
// (group commit: nothing waits while the partition is idle).
func (f *floor) publishBatches(ctx context.Context, js jetstream.JetStream, p int) {
	for {
		var batch []queued
		select {
		case q := <-f.queues[p]:
			batch = append(batch, q)
		case <-ctx.Done():
			return
		}
	more:
		for len(batch) < f.batch {
			select {
			case q := <-f.queues[p]:
				batch = append(batch, q)
			default:
				break more
			}
		}
		ids := make([]string, len(batch))
		for k, q := range batch {
			ids[k] = q.id
		}
		m := &nats.Msg{Subject: names.PartitionSubject(p), Header: nats.Header{}, Data: make([]byte, f.msgSize*len(batch))}
		m.Header.Set(names.HeaderMsgID, ids[0])
		m.Header.Set(names.HeaderReply, names.ResultSubject("floor"))
		m.Header.Set(batchHeader, strings.Join(ids, ","))
		_, err := js.PublishMsg(ctx, m)
		for _, q := range batch {
			q.stored <- err
		}
	}
}

// settleBatch settles a -batch message: one started marker and one ack
// for the message, a reply and a record (published without waiting, then
// awaited together) for each activation.
func (f *floor) settleBatch(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, msg jetstream.Msg, ids []string) {
	if f.started {
		_ = nc.Publish(names.StartedSubject(ids[0]), startedMarker)
	}
	if f.batchRecords {
		recs := make([]byte, f.recSize*len(ids))
		_ = nc.PublishMsg(withHeader(msg.Headers().Get(names.HeaderReply), recs, batchHeader, strings.Join(ids, ",")))
		if _, err := js.PublishMsg(ctx, withHeader(names.RecordSubject("guest", ids[0]), recs, names.HeaderMsgID, ids[0])); err != nil {
			complain("records", err)
			return
		}
		_ = msg.Ack()
		return
	}
	rec := make([]byte, f.recSize)
	var acks []jetstream.PubAckFuture
	for _, id := range ids {
		_ = nc.PublishMsg(withHeader(msg.Headers().Get(names.HeaderReply), rec, names.HeaderMsgID, id))
		a, err := js.PublishMsgAsync(withHeader(names.RecordSubject("guest", id), rec, names.HeaderMsgID, id))
		if err != nil {
			complain("record", err)
			return
		}
		acks = append(acks, a)
	}
	for _, a := range acks {
		select {
		case <-a.Ok():
		case err := <-a.Err():
			complain("record", err)
			return
		case <-ctx.Done():
			return
		}
	}
	_ = msg.Ack()
}

// connectAs connects to b with role's credentials.
func connectAs(b *broker.Broker, role broker.Role) (*nats.Conn, error) {
	opts, err := natsclient.Options(natsclient.Config{Role: string(role), Creds: b.CredsFile(role)})
	if err != nil {
		return nil, err
	}
	return nats.Connect(b.ClientURL(), opts...)
}
