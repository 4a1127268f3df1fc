package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

// msgParams are the parameters an action fired by a message trigger gets.
type msgParams struct {
	controller.MessageParam
	Messages []controller.MessageParam `json:"messages"`
}

// msgInvoker is a fake invoker for message triggers: behave decides each
// activation's status and result (default: success, the params echoed)
// and may block to hold an activation.
type msgInvoker struct {
	mu   sync.Mutex
	acts []activation.Message
}

func (mi *msgInvoker) all() []activation.Message {
	mi.mu.Lock()
	defer mi.mu.Unlock()
	return append([]activation.Message(nil), mi.acts...)
}

// params decodes the parameters of every activation seen so far.
func (mi *msgInvoker) params(t *testing.T) []msgParams {
	t.Helper()
	var out []msgParams
	for _, m := range mi.all() {
		var p msgParams
		if err := json.Unmarshal(m.Params, &p); err != nil {
			t.Fatalf("activation params %s: %v", m.Params, err)
		}
		out = append(out, p)
	}
	return out
}

func startMsgInvoker(t *testing.T, nc *nats.Conn, behave func(activation.Message) (int, json.RawMessage)) *msgInvoker {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if behave == nil {
		behave = func(m activation.Message) (int, json.RawMessage) { return activation.StatusSuccess, m.Params }
	}
	mi := &msgInvoker{}
	var ended atomic.Bool
	var wg sync.WaitGroup
	handle := func(m jetstream.Msg) {
		defer wg.Done()
		var msg activation.Message
		if err := json.Unmarshal(m.Data(), &msg); err != nil {
			t.Errorf("fake invoker: %v", err)
			return
		}
		mi.mu.Lock()
		mi.acts = append(mi.acts, msg)
		mi.mu.Unlock()
		code, result := behave(msg)
		start := time.Now().UnixMilli()
		r := activation.Record{ActivationID: msg.ActivationID, Namespace: msg.Namespace, Name: msg.Action.Name,
			Version: msg.Action.Version, Subject: msg.Subject, Start: start, End: start, Cause: msg.Cause,
			Response: activation.NewResponse(code, result), Logs: []string{}}
		b, _ := json.Marshal(&r)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := js.Publish(ctx, names.RecordSubject(msg.Namespace, msg.ActivationID), b,
			jetstream.WithMsgID(msg.ActivationID)); err != nil && !ended.Load() {
			t.Errorf("fake invoker: record: %v", err)
		}
		if reply := m.Headers().Get(names.HeaderReply); reply != "" {
			_ = nc.Publish(reply, b)
		}
		_ = m.Ack()
	}
	ctx := context.Background()
	for p := range names.Partitions {
		cons, err := js.Consumer(ctx, names.ActivationsStream, names.PartitionConsumer(p))
		if err != nil {
			t.Fatal(err)
		}
		// Each activation in its own goroutine, so a held one holds
		// nothing else.
		cc, err := cons.Consume(func(m jetstream.Msg) { wg.Add(1); go handle(m) },
			jetstream.PullPriorityGroup(names.InvokerPriorityGroup))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cc.Stop)
	}
	t.Cleanup(func() { ended.Store(true); wg.Wait() })
	return mi
}

// newMsgController starts one more controller on its own connection.
func newMsgController(t *testing.T, url string) (*controller.Controller, *nats.Conn) {
	t.Helper()
	nc, err := testutil.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctl, err := controller.New(ctx, nc, msgConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctl.Close)
	return ctl, nc
}

func msgConfig() controller.Config {
	// A blocking wait whose core-NATS result is lost falls back to the
	// stored record when the wait ends (by design); a short wait keeps
	// that fallback inside the tests' deadlines on a loaded machine.
	return controller.Config{GuestAuth: guestAuth, LimitConcurrent: controller.Unlimited, LimitPerMinute: controller.Unlimited,
		DefaultWait: 5 * time.Second}
}

// msgTrigger creates action, trigger (with src) and an active rule, all
// named name, and waits until every controller in ctls consumes.
func (e *env) msgTrigger(t *testing.T, name string, src entity.NATSSource, ctls ...*controller.Controller) *entity.Trigger {
	t.Helper()
	_, err := e.ctl.PutAction(e.ctx, e.id, goAction(name, code1))
	must(t, err)
	tr, err := e.ctl.PutTrigger(e.ctx, e.id, controller.PutTriggerRequest{Namespace: "_", Name: name,
		Source: &entity.TriggerSource{NATS: &src}})
	must(t, err)
	_, err = e.ctl.PutRule(e.ctx, e.id, controller.PutRuleRequest{Namespace: "_", Name: name, Trigger: name, Action: name})
	must(t, err)
	for _, c := range append(ctls, e.ctl) {
		testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if !controller.MessageSourceReady(c, tr.Namespace, name, tr.Revision) {
				return fmt.Errorf("controller %s does not consume trigger %s yet", c.InstanceID(), name)
			}
			// The rule reaches each controller through its own KV watch;
			// a message taken before it arrives fires no rule (core NATS
			// then has nothing to redeliver).
			if rules, err := c.ActiveRules(e.ctx, tr.Namespace, name); err != nil || len(rules) == 0 {
				return fmt.Errorf("controller %s does not know rule %s yet (%v)", c.InstanceID(), name, err)
			}
			return nil
		})
	}
	return tr
}

// consumerInfo reads a trigger's durable consumer.
func (e *env) consumerInfo(t *testing.T, stream, trigger string) *jetstream.ConsumerInfo {
	t.Helper()
	cons, err := e.js.Consumer(e.ctx, stream, names.TriggerSource("guest", trigger))
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func (e *env) stream(t *testing.T, name string, subjects ...string) {
	t.Helper()
	if _, err := e.js.CreateStream(e.ctx, jetstream.StreamConfig{Name: name, Subjects: subjects,
		Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) publish(t *testing.T, subject string, data []byte, hdr nats.Header) {
	t.Helper()
	if err := e.nc.PublishMsg(&nats.Msg{Subject: subject, Data: data, Header: hdr}); err != nil {
		t.Fatal(err)
	}
}

// collect subscribes to subject and returns what arrives.
func collect(t *testing.T, nc *nats.Conn, subject string) func() []*nats.Msg {
	t.Helper()
	var mu sync.Mutex
	var got []*nats.Msg
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) { mu.Lock(); got = append(got, m); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	must(t, nc.Flush())
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func() []*nats.Msg {
		mu.Lock()
		defer mu.Unlock()
		return append([]*nats.Msg(nil), got...)
	}
}

// TestMessageTriggerOncePerMessage: two controllers in one queue group
// (core) or on one durable consumer (JetStream) fire each message once,
// and the response subject gets each result with the message's headers.
func TestMessageTriggerOncePerMessage(t *testing.T) {
	for _, tc := range []struct{ name, stream string }{{"core", ""}, {"jetstream", "IN"}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, msgConfig())
			ctl2, _ := newMsgController(t, e.url)
			mi := startMsgInvoker(t, e.nc, nil)
			if tc.stream != "" {
				e.stream(t, tc.stream, "events.guest.in.>")
			}
			responses := collect(t, e.nc, "events.guest.out.resp")
			e.msgTrigger(t, "once", entity.NATSSource{Subject: "events.guest.in.once", Stream: tc.stream, ResponseSubject: "events.guest.out.resp"}, ctl2)
			const n = 100
			for i := range n {
				e.publish(t, "events.guest.in.once", fmt.Appendf(nil, `{"i":%d}`, i), nats.Header{"X-Corr": {strconv.Itoa(i)}})
			}
			testutil.CheckFor(t, 40*time.Second, 20*time.Millisecond, func() error {
				if got := len(responses()); got < n {
					return fmt.Errorf("%d of %d responses", got, n)
				}
				return nil
			})
			seen := map[int]int{}
			for _, p := range mi.params(t) {
				var d struct{ I int }
				must(t, json.Unmarshal(p.Data, &d))
				seen[d.I]++
				if p.Subject != "events.guest.in.once" || p.Headers.Get("X-Corr") != strconv.Itoa(d.I) {
					t.Errorf("params = %+v", p)
				}
			}
			for i := range n {
				if seen[i] != 1 {
					t.Errorf("message %d fired %d times, want 1", i, seen[i])
				}
			}
			for _, m := range responses() {
				var p msgParams
				must(t, json.Unmarshal(m.Data, &p))
				var d struct{ I int }
				must(t, json.Unmarshal(p.Data, &d))
				if m.Header.Get("X-Corr") != strconv.Itoa(d.I) || m.Header.Get(names.HeaderActivationID) == "" ||
					m.Header.Get(names.HeaderTrigger) != "guest/once" || m.Header.Get(names.HeaderStatus) != "success" {
					t.Errorf("response headers %v for message %d", m.Header, d.I)
				}
			}
			if tc.stream != "" {
				testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
					if info := e.consumerInfo(t, tc.stream, "once"); info.NumAckPending != 0 || info.AckFloor.Stream != n {
						return fmt.Errorf("ack pending %d, ack floor %d", info.NumAckPending, info.AckFloor.Stream)
					}
					return nil
				})
			}
		})
	}
}

// TestMessageTriggerAckAfterCompletion: a JetStream message stays
// unacknowledged while its activation runs; a trigger record follows.
func TestMessageTriggerAckAfterCompletion(t *testing.T) {
	e := newEnv(t, msgConfig())
	release := make(chan struct{})
	mi := startMsgInvoker(t, e.nc, func(m activation.Message) (int, json.RawMessage) {
		<-release
		return activation.StatusSuccess, m.Params
	})
	e.stream(t, "HOLD", "events.guest.hold.>")
	e.msgTrigger(t, "hold", entity.NATSSource{Subject: "events.guest.hold.x", Stream: "HOLD"})
	e.publish(t, "events.guest.hold.x", []byte("not json"), nil)
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if len(mi.all()) != 1 {
			return fmt.Errorf("%d activations", len(mi.all()))
		}
		return nil
	})
	if info := e.consumerInfo(t, "HOLD", "hold"); info.NumAckPending != 1 || info.AckFloor.Stream != 0 {
		t.Fatalf("while running: ack pending %d, ack floor %d; want 1, 0", info.NumAckPending, info.AckFloor.Stream)
	}
	close(release)
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if info := e.consumerInfo(t, "HOLD", "hold"); info.NumAckPending != 0 || info.AckFloor.Stream != 1 {
			return fmt.Errorf("ack pending %d, ack floor %d", info.NumAckPending, info.AckFloor.Stream)
		}
		return nil
	})
	p := mi.params(t)[0]
	if p.DataEncoding != "base64" || string(p.Data) != `"bm90IGpzb24="` || p.Stream != "HOLD" || p.Sequence != 1 {
		t.Errorf("params = %+v", p)
	}
	// The trigger's record names the action's activation.
	cause := mi.all()[0].Cause
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		r, err := e.ctl.GetActivation(e.ctx, e.id, "_", cause)
		if err != nil {
			return err
		}
		if r.Name != "hold" || len(r.Logs) != 1 || string(r.Annotation(controller.AnnotationAttempt)) != "1" {
			return fmt.Errorf("trigger record %+v", r)
		}
		var rf controller.RuleFired
		must(t, json.Unmarshal([]byte(r.Logs[0]), &rf))
		if !rf.Success || rf.ActivationID != mi.all()[0].ActivationID {
			return fmt.Errorf("rule log %+v", rf)
		}
		return nil
	})
}

// TestMessageTriggerRedeliveryAfterCrash: a controller that dies while a
// message's activation runs never acks it; another controller gets it
// again after the AckWait and fires it (at least once).
func TestMessageTriggerRedeliveryAfterCrash(t *testing.T) {
	t.Cleanup(controller.SetSourceAckWait(time.Second)) // runs after the controllers closed
	nc, url := testutil.JetStream(t)
	js, err := jetstream.New(nc)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "CRASH", Subjects: []string{"events.guest.crash.>"}, Storage: jetstream.MemoryStorage})
	must(t, err)
	a, ncA := newMsgController(t, url)
	release := make(chan struct{})
	var held atomic.Int32
	mi := startMsgInvoker(t, nc, func(m activation.Message) (int, json.RawMessage) {
		if held.Add(1) == 1 {
			<-release
		}
		return activation.StatusSuccess, m.Params
	})
	e := &env{url: url, nc: nc, js: js, ctl: a, ctx: ctx}
	e.id, err = a.Authenticate(ctx, guestAuth)
	must(t, err)
	e.msgTrigger(t, "crash", entity.NATSSource{Subject: "events.guest.crash.x", Stream: "CRASH"})
	e.publish(t, "events.guest.crash.x", []byte(`{"n":1}`), nil)
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if len(mi.all()) != 1 {
			return fmt.Errorf("%d activations", len(mi.all()))
		}
		return nil
	})
	// Crash: the connection goes first, so nothing is acked or handed back.
	ncA.Close()
	a.Close()
	close(release)

	newMsgController(t, url)
	testutil.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if info := e.consumerInfo(t, "CRASH", "crash"); info.NumAckPending != 0 || info.AckFloor.Stream != 1 {
			return fmt.Errorf("ack pending %d, ack floor %d", info.NumAckPending, info.AckFloor.Stream)
		}
		return nil
	})
	acts := mi.all()
	if len(acts) != 2 || acts[0].Cause == acts[1].Cause {
		t.Fatalf("activations = %+v; want one per controller", acts)
	}
}

// TestMessageTriggerDeadLetter: a poison message is retried per the
// trigger's policy, then lands in the dead-letter stream and on the error
// subject; the good message is not affected.
func TestMessageTriggerDeadLetter(t *testing.T) {
	for _, tc := range []struct{ name, stream string }{{"core", ""}, {"jetstream", "DLQ"}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, msgConfig())
			mi := startMsgInvoker(t, e.nc, func(m activation.Message) (int, json.RawMessage) {
				var p msgParams
				_ = json.Unmarshal(m.Params, &p)
				if string(p.Data) == `"poison"` {
					return activation.StatusApplicationError, activation.ErrorResult("poisoned")
				}
				return activation.StatusSuccess, m.Params
			})
			if tc.stream != "" {
				e.stream(t, tc.stream, "events.guest.dl.>")
			}
			errs := collect(t, e.nc, "events.guest.out.err")
			responses := collect(t, e.nc, "events.guest.out.ok")
			e.msgTrigger(t, "dl", entity.NATSSource{Subject: "events.guest.dl.in", Stream: tc.stream, ResponseSubject: "events.guest.out.ok",
				ErrorSubject: "events.guest.out.err", Retry: &entity.RetryPolicy{MaxAttempts: 3, InitialBackoff: 10, MaxBackoff: 20}})
			e.publish(t, "events.guest.dl.in", []byte(`"poison"`), nats.Header{"X-Corr": {"p"}})
			e.publish(t, "events.guest.dl.in", []byte(`"good"`), nil)

			testutil.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
				if len(errs()) != 1 || len(responses()) != 1 {
					return fmt.Errorf("%d errors, %d responses", len(errs()), len(responses()))
				}
				return nil
			})
			em := errs()[0]
			if em.Header.Get("X-Corr") != "p" || em.Header.Get(names.HeaderError) == "" ||
				em.Header.Get(names.HeaderStatus) != "application error" || string(em.Data) != `{"error":"poisoned"}` {
				t.Errorf("error message %v %s", em.Header, em.Data)
			}
			tries := map[string]int{}
			for _, p := range mi.params(t) {
				tries[string(p.Data)]++
			}
			if tries[`"poison"`] != 3 || tries[`"good"`] != 1 {
				t.Errorf("attempts = %v, want poison 3, good 1", tries)
			}
			s, err := e.js.Stream(e.ctx, names.TriggerDeadLettersStream)
			must(t, err)
			raw, err := s.GetLastMsgForSubject(e.ctx, names.TriggerDeadLetterTriggerSubject("guest", "dl"))
			must(t, err)
			var dl controller.TriggerDeadLetter
			must(t, json.Unmarshal(raw.Data, &dl))
			if dl.Attempts != 3 || string(dl.Data) != `"poison"` || dl.Headers.Get("X-Corr") != "p" ||
				dl.Trigger != "dl" || dl.Namespace != "guest" || len(dl.ActivationIDs) != 1 || dl.Error == "" {
				t.Errorf("dead letter = %+v", dl)
			}
			if tc.stream != "" {
				if dl.Stream != tc.stream || dl.Sequence != 1 {
					t.Errorf("dead letter stream %q sequence %d", dl.Stream, dl.Sequence)
				}
				testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
					if info := e.consumerInfo(t, tc.stream, "dl"); info.NumAckPending != 0 || info.AckFloor.Stream != 2 {
						return fmt.Errorf("ack pending %d, ack floor %d", info.NumAckPending, info.AckFloor.Stream)
					}
					return nil
				})
			}
			if info, err := s.Info(e.ctx); err != nil || info.State.Msgs != 1 {
				t.Errorf("dead letters = %v (%v), want 1", info.State.Msgs, err)
			}
		})
	}
}

// TestMessageTriggerBatching: a batch closes when full, or when its
// window ends.
func TestMessageTriggerBatching(t *testing.T) {
	for _, tc := range []struct {
		name, stream  string
		size, window  int
		publish, want int // messages published; wanted batch size (0: any)
	}{
		{"core size", "", 5, 60000, 15, 5},
		{"jetstream size", "BATCH", 5, 60000, 15, 5},
		{"core window", "", 100, 50, 7, 0},
		{"jetstream window", "BATCH", 100, 50, 7, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, msgConfig())
			mi := startMsgInvoker(t, e.nc, nil)
			if tc.stream != "" {
				e.stream(t, tc.stream, "events.guest.batch.>")
			}
			e.msgTrigger(t, "batch", entity.NATSSource{Subject: "events.guest.batch.in", Stream: tc.stream, BatchSize: tc.size,
				BatchWindow: int64(tc.window)})
			for i := range tc.publish {
				e.publish(t, "events.guest.batch.in", fmt.Appendf(nil, "%d", i), nats.Header{"X-I": {strconv.Itoa(i)}})
			}
			total := func() (n int) {
				for _, p := range mi.params(t) {
					n += len(p.Messages)
				}
				return n
			}
			testutil.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
				if n := total(); n != tc.publish {
					return fmt.Errorf("%d of %d messages fired", n, tc.publish)
				}
				return nil
			})
			seen := map[string]bool{}
			for _, p := range mi.params(t) {
				if len(p.Messages) > tc.size || (tc.want > 0 && len(p.Messages) != tc.want) {
					t.Errorf("batch of %d, want %d (at most %d)", len(p.Messages), tc.want, tc.size)
				}
				for _, m := range p.Messages {
					if m.Subject != "events.guest.batch.in" || m.Headers.Get("X-I") != string(m.Data) || seen[string(m.Data)] {
						t.Errorf("batch message %+v (seen before: %v)", m, seen[string(m.Data)])
					}
					seen[string(m.Data)] = true
				}
			}
		})
	}
}

// TestMessageTriggerDelete: deleting a trigger stops its source and
// removes its durable consumer.
func TestMessageTriggerDelete(t *testing.T) {
	e := newEnv(t, msgConfig())
	e.stream(t, "GONE", "events.guest.gone.>")
	e.msgTrigger(t, "gone", entity.NATSSource{Subject: "events.guest.gone.x", Stream: "GONE"})
	e.consumerInfo(t, "GONE", "gone")
	_, err := e.ctl.DeleteTrigger(e.ctx, e.id, "_", "gone")
	must(t, err)
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if _, err := e.js.Consumer(e.ctx, "GONE", names.TriggerSource("guest", "gone")); err == nil {
			return fmt.Errorf("consumer still there")
		}
		return nil
	})
	if controller.MessageSourceReady(e.ctl, "guest", "gone", 0) {
		t.Error("source still running")
	}
}
