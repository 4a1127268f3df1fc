package controller

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
)

// TriggerDeadLetter is an entry of names.TriggerDeadLettersStream: a
// message of a NATS trigger whose activations failed after the trigger's
// last retry (or could never start). It is published on
// names.TriggerDeadLetterSubject(namespace, trigger, id).
type TriggerDeadLetter struct {
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Trigger   string `json:"trigger"`
	// Subject, Headers and Data are the message as received.
	Subject string      `json:"subject"`
	Headers nats.Header `json:"headers,omitempty"`
	Data    []byte      `json:"data"`
	// Stream and Sequence locate a JetStream message in its stream.
	Stream   string `json:"stream,omitempty"`
	Sequence uint64 `json:"sequence,omitempty"`
	// Attempts is how often the message was tried, the last one included.
	Attempts int `json:"attempts"`
	// Error is the last attempt's error.
	Error string `json:"error"`
	// ActivationIDs are the last attempt's action activations.
	ActivationIDs []string `json:"activationIds,omitempty"`
	// Time is when the message was dead-lettered, Unix ms.
	Time int64 `json:"time"`
}

// MessageParam is one message as an action fired by a NATS trigger sees
// it: its parameters are a MessageParam's fields (one message), or
// {"messages": [MessageParam...]} (a batch), over the trigger's
// parameters.
type MessageParam struct {
	Subject string `json:"subject"`
	// Data is the payload itself when it is valid JSON, else a base64
	// string and DataEncoding is "base64".
	Data         json.RawMessage `json:"data"`
	DataEncoding string          `json:"dataEncoding,omitempty"`
	Headers      nats.Header     `json:"headers,omitempty"`
	// Stream and Sequence locate a JetStream message: a key for actions
	// that must see each message once (delivery is at least once).
	Stream   string `json:"stream,omitempty"`
	Sequence uint64 `json:"sequence,omitempty"`
}

// AnnotationAttempt is the annotation of a message trigger's activation
// record that counts the message's attempts, this one included.
const AnnotationAttempt = "attempt"

// natsSource consumes one trigger's subject or stream on this controller.
type natsSource struct {
	m      *sourceManager
	c      *Controller
	trig   *entity.Trigger
	spec   entity.NATSSource
	retry  retryPolicy
	log    *slog.Logger
	batch  int
	window time.Duration
	// ackWait is sourceAckWait when the source was made.
	ackWait time.Duration

	// pullCtx ends the taking of new messages; workCtx (its parent) also
	// abandons the messages in flight. Both end when the controller closes.
	pullCtx    context.Context
	pullCancel context.CancelFunc
	workCtx    context.Context
	workCancel context.CancelFunc
	// slots bounds the deliveries in flight (SourceInFlight).
	slots     chan struct{}
	consuming atomic.Bool
	sub       *nats.Subscription
}

// delivery is one received message: core NATS or JetStream.
type delivery struct {
	core     *nats.Msg
	js       jetstream.Msg
	meta     *jetstream.MsgMetadata // js only
	received time.Time
}

func (d *delivery) subject() string {
	if d.js != nil {
		return d.js.Subject()
	}
	return d.core.Subject
}

func (d *delivery) data() []byte {
	if d.js != nil {
		return d.js.Data()
	}
	return d.core.Data
}

func (d *delivery) header() nats.Header {
	if d.js != nil {
		return d.js.Headers()
	}
	return d.core.Header
}

// deliveries is JetStream's delivery count (1 for core NATS).
func (d *delivery) deliveries() int {
	if d.meta != nil {
		return int(d.meta.NumDelivered)
	}
	return 1
}

// age is the time since the message was stored (JetStream) or received.
func (d *delivery) age() time.Duration {
	if d.meta != nil {
		return time.Since(d.meta.Timestamp)
	}
	return time.Since(d.received)
}

func newNATSSource(m *sourceManager, t *entity.Trigger) *natsSource {
	s := &natsSource{
		m:       m,
		c:       m.c,
		trig:    t,
		spec:    *t.Source.NATS,
		retry:   newRetryPolicy(t.Source.NATS.Retry),
		log:     m.log.With("namespace", t.Namespace, "trigger", t.Name),
		batch:   max(t.Source.NATS.BatchSize, 1),
		slots:   make(chan struct{}, SourceInFlight),
		ackWait: sourceAckWait,
	}
	s.window = time.Duration(s.spec.BatchWindow) * time.Millisecond
	if s.window <= 0 {
		s.window = DefaultBatchWindow
	}
	s.workCtx, s.workCancel = context.WithCancel(m.ctx)
	s.pullCtx, s.pullCancel = context.WithCancel(s.workCtx)
	return s
}

// consumerName is the queue group and durable consumer of the trigger.
func (s *natsSource) consumerName() string { return names.TriggerSource(s.trig.Namespace, s.trig.Name) }

// start subscribes (core NATS) or starts the pull loop (JetStream).
func (s *natsSource) start() {
	if s.spec.Stream != "" {
		s.c.wg.Add(1)
		go s.pullLoop()
		return
	}
	// The channel holds what arrives while every slot is busy; past it,
	// core NATS drops (a slow consumer), as core NATS is at most once.
	ch := make(chan *nats.Msg, SourceCoreBuffer)
	sub, err := s.c.nc.ChanQueueSubscribe(s.spec.Subject, s.consumerName(), ch)
	if err != nil {
		s.log.Error("message trigger: subscribe", "subject", s.spec.Subject, "err", err)
		return
	}
	s.sub = sub
	// The server has the subscription once a flush returns: a message
	// published after that reaches it.
	if err := s.c.nc.FlushTimeout(5 * time.Second); err != nil {
		s.log.Warn("message trigger: flush subscription", "err", err)
	}
	s.consuming.Store(true)
	s.c.wg.Add(1)
	go s.coreLoop(ch)
}

// stop ends the taking of messages; abandon also gives up the ones in
// flight (a JetStream message is then redelivered).
func (s *natsSource) stop(abandon bool) {
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
	s.pullCancel()
	if abandon {
		s.workCancel()
	}
}

// coreLoop batches the subscription's messages and dispatches them.
func (s *natsSource) coreLoop(ch chan *nats.Msg) {
	defer s.c.wg.Done()
	var batch []*delivery
	var timeout <-chan time.Time
	var timer *time.Timer
	flush := func() {
		if timer != nil {
			timer.Stop()
			timer, timeout = nil, nil
		}
		if len(batch) > 0 {
			s.dispatch(batch)
			batch = nil
		}
	}
	add := func(m *nats.Msg) {
		batch = append(batch, &delivery{core: m, received: time.Now()})
		switch {
		case len(batch) >= s.batch:
			flush()
		case len(batch) == 1:
			timer = time.NewTimer(s.window)
			timeout = timer.C
		}
	}
	for {
		select {
		case m := <-ch:
			add(m)
		case <-timeout:
			timer, timeout = nil, nil
			flush()
		case <-s.pullCtx.Done():
			// Unsubscribed: work on what was received (unless abandoned).
			for len(ch) > 0 {
				add(<-ch)
			}
			flush()
			return
		}
	}
}

// acquire takes a slot, or returns false when ctx ends first.
func (s *natsSource) acquire(ctx context.Context) bool {
	select {
	case s.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *natsSource) release() { <-s.slots }

// dispatch works on ds in a new goroutine once a slot is free.
func (s *natsSource) dispatch(ds []*delivery) {
	if !s.acquire(s.workCtx) {
		s.abandon(ds)
		return
	}
	s.run(ds)
}

// run works on ds in a new goroutine that holds a slot already.
func (s *natsSource) run(ds []*delivery) {
	s.c.wg.Add(1)
	go func() {
		defer s.c.wg.Done()
		defer s.release()
		s.work(ds)
	}()
}

// pullLoop creates the durable consumer and pulls from it while there is
// room, until the source stops.
func (s *natsSource) pullLoop() {
	defer s.c.wg.Done()
	cons := s.ensureConsumer()
	for cons != nil && s.pullCtx.Err() == nil {
		if !s.acquire(s.pullCtx) {
			return
		}
		var err error
		if s.batch > 1 {
			err = s.pullBatch(cons)
		} else {
			err = s.pullSingles(cons)
		}
		if err == nil || s.pullCtx.Err() != nil {
			continue
		}
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
			errors.Is(err, jetstream.ErrStreamNotFound) {
			s.consuming.Store(false)
			s.log.Warn("message trigger: consumer gone, creating it again", "err", err)
			cons = s.ensureConsumer()
			continue
		}
		s.log.Warn("message trigger: pull", "stream", s.spec.Stream, "err", err)
		s.sleep(s.pullCtx, time.Second)
	}
}

// ensureConsumer creates or updates the trigger's durable consumer,
// retrying while the stream does not exist; nil when the source stopped
// or may not consume the stream.
func (s *natsSource) ensureConsumer() jetstream.Consumer {
	cfg := jetstream.ConsumerConfig{
		Durable:     s.consumerName(),
		Description: fmt.Sprintf("Flurry message trigger %s/%s", s.trig.Namespace, s.trig.Name),
		// A new trigger takes what the stream holds, as a queue: no
		// message published between creating the trigger and this
		// consumer is lost.
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.ackWait,
		MaxDeliver:    s.retry.attempts + s.retry.maxDeliverSlack,
		FilterSubject: s.spec.Subject,
		MaxAckPending: max(SourceInFlight*s.batch*4, 1000),
	}
	warned := false
	for {
		ctx, cancel := context.WithTimeout(s.pullCtx, 10*time.Second)
		// The stream's subjects may have changed since the trigger was
		// made: check them before every creation (ADR 020).
		err := s.c.checkNATSSpace(ctx, s.trig.Namespace, &s.spec)
		var cons jetstream.Consumer
		if err == nil {
			cons, err = s.c.js.CreateOrUpdateConsumer(ctx, s.spec.Stream, cfg)
		}
		cancel()
		if errors.Is(err, ErrInvalid) && !errors.Is(err, jetstream.ErrStreamNotFound) {
			s.log.Error("message trigger stopped: outside its namespace's event space", "stream", s.spec.Stream, "err", err)
			return nil
		}
		if err == nil {
			s.consuming.Store(true)
			return cons
		}
		if s.pullCtx.Err() != nil {
			return nil
		}
		if !warned {
			s.log.Warn("message trigger: cannot create its consumer yet, retrying", "stream", s.spec.Stream,
				"consumer", cfg.Durable, "err", err)
			warned = true
		}
		if !s.sleep(s.pullCtx, sourceRetryStart) {
			return nil
		}
	}
}

// pullSingles fetches up to as many messages as there are free slots (one
// is held already) and works on each as it arrives.
func (s *natsSource) pullSingles(cons jetstream.Consumer) error {
	held := 1
	for held < SourceInFlight {
		select {
		case s.slots <- struct{}{}:
			held++
			continue
		default:
		}
		break
	}
	mb, err := cons.Fetch(held, jetstream.FetchMaxWait(sourcePullWait))
	if err != nil {
		for range held {
			s.release()
		}
		return err
	}
	for m := range mb.Messages() {
		d := s.received(m)
		if held == 0 { // more than asked: cannot happen, but never overrun
			s.dispatch([]*delivery{d})
			continue
		}
		held--
		s.run([]*delivery{d})
	}
	for range held {
		s.release()
	}
	return fetchError(mb.Error())
}

// pullBatch waits for a first message, then up to the window for the
// rest of a batch, and works on them as one.
func (s *natsSource) pullBatch(cons jetstream.Consumer) error {
	var ds []*delivery
	fetch := func(n int, wait time.Duration) error {
		mb, err := cons.Fetch(n, jetstream.FetchMaxWait(wait))
		if err != nil {
			return err
		}
		for m := range mb.Messages() {
			ds = append(ds, s.received(m))
		}
		return fetchError(mb.Error())
	}
	if err := fetch(1, sourcePullWait); err != nil || len(ds) == 0 {
		s.release()
		return err
	}
	// The window is pulled in pieces of at most sourcePullWait, so a
	// stopping source is not held up by a long window.
	var err error
	for end := time.Now().Add(s.window); len(ds) < s.batch && err == nil && s.pullCtx.Err() == nil; {
		wait := min(time.Until(end), sourcePullWait)
		if wait < time.Millisecond {
			break
		}
		err = fetch(s.batch-len(ds), wait)
	}
	s.run(ds)
	return err
}

// fetchError drops a fetch's ends that are no failure.
func fetchError(err error) error {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
		return nil
	}
	return err
}

func (s *natsSource) received(m jetstream.Msg) *delivery {
	d := &delivery{js: m, received: time.Now()}
	if md, err := m.Metadata(); err == nil {
		d.meta = md
	}
	return d
}

// sleep waits d or until ctx ends (false).
func (s *natsSource) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// outcome is one attempt at a message (or batch).
type outcome struct {
	triggerID string
	rules     []ruleRun
	// err is the first failure (nil: every activation succeeded).
	err error
	// permanent failures are not retried (the message can never start
	// an activation: too large, invalid).
	permanent bool
	// stopped: the controller closes or the trigger was deleted.
	stopped bool
}

// ruleRun is one rule's activation in an attempt.
type ruleRun struct {
	rule *entity.Rule
	id   string
	rec  *activation.Record
	err  error
}

// work tries ds until their activations succeed, they are retried later
// (JetStream: a delayed nak) or dead-lettered; a JetStream message is
// acked only then.
func (s *natsSource) work(ds []*delivery) {
	ctx := s.workCtx
	if ds[0].js != nil {
		stop := s.progress(ds)
		defer stop()
	}
	for try := 1; ; try++ {
		attempt := try
		if ds[0].js != nil {
			attempt = ds[0].deliveries()
		}
		out := s.fire(ctx, ds, attempt)
		s.respond(ds, out)
		switch {
		case out.stopped:
			s.abandon(ds)
			return
		case out.err == nil:
			for _, d := range ds {
				s.ack(d)
			}
			return
		}
		if ds[0].js == nil {
			if !out.permanent && try < s.retry.attempts && !s.tooOld(ds[0]) {
				delay := s.retry.backoff(try)
				s.log.Info("message failed, retrying", "activation", out.triggerID, "attempt", try,
					"delay", delay, "err", out.err)
				if s.sleep(ctx, delay) {
					continue
				}
				s.abandon(ds)
				return
			}
			for _, d := range ds {
				s.deadLetter(d, out, try)
			}
			return
		}
		for _, d := range ds {
			n := d.deliveries()
			if !out.permanent && n < s.retry.attempts && !s.tooOld(d) {
				delay := s.retry.backoff(n)
				s.log.Info("message failed, retrying", "activation", out.triggerID, "attempt", n,
					"delay", delay, "err", out.err)
				if err := d.js.NakWithDelay(delay); err != nil {
					s.log.Warn("message trigger: nak", "err", err)
				}
				continue
			}
			s.deadLetter(d, out, n)
		}
		return
	}
}

// tooOld reports a message past the retry policy's maximum event age.
func (s *natsSource) tooOld(d *delivery) bool {
	return s.retry.maxAge > 0 && d.age() > s.retry.maxAge
}

// progress sends progress acks every third of the AckWait until stopped,
// so a message whose activations run long is not redelivered.
func (s *natsSource) progress(ds []*delivery) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(s.ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, d := range ds {
					_ = d.js.InProgress()
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// abandon gives up messages without a decision: a JetStream message is
// handed back at once (it may already have started activations: at least
// once); a core NATS message is lost, as core NATS is at most once.
func (s *natsSource) abandon(ds []*delivery) {
	for _, d := range ds {
		if d.js != nil {
			_ = d.js.Nak()
			continue
		}
		s.log.Warn("message trigger stopped before a core NATS message was done; it is dropped",
			"subject", d.core.Subject)
	}
}

// ack acknowledges a JetStream message and waits for the server's
// confirmation, so a lost ack shows in the log (the message would come
// again).
func (s *natsSource) ack(d *delivery) {
	if d.js == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.workCtx), 5*time.Second)
	defer cancel()
	if err := d.js.DoubleAck(ctx); err != nil {
		s.log.Warn("message trigger: ack not confirmed; the message may fire again", "err", err)
	}
}

// fire runs one attempt: every active rule's action, blocking, with the
// messages as parameters; then the trigger activation's record.
func (s *natsSource) fire(ctx context.Context, ds []*delivery, attempt int) outcome {
	ns, name := s.trig.Namespace, s.trig.Name
	payload, err := s.payload(ds)
	if err != nil {
		return outcome{err: err, permanent: true}
	}
	params, err := mergeParams(s.trig.Parameters, payload)
	if err != nil {
		return outcome{err: fmt.Errorf("trigger %q: %w", name, err), permanent: true}
	}
	if len(params) > entity.MaxPayloadBytes {
		return outcome{err: fmt.Errorf("trigger %q: parameters are %d bytes, over %d: %w", name, len(params),
			entity.MaxPayloadBytes, ErrTooLarge), permanent: true}
	}
	rules, err := s.c.ActiveRules(ctx, ns, name)
	if err != nil {
		return outcome{stopped: true}
	}
	if len(rules) == 0 {
		s.log.Debug("message without active rules", "subject", ds[0].subject())
		return outcome{}
	}
	out := outcome{triggerID: activation.NewID(), rules: make([]ruleRun, len(rules))}
	start := now()
	var wg sync.WaitGroup
	for i, r := range rules {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out.rules[i] = s.invoke(ctx, r, params, out.triggerID)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		out.stopped = true
		return out
	}
	for _, rr := range out.rules {
		if rr.err != nil && out.err == nil {
			out.err = fmt.Errorf("rule %q: %w", rr.rule.Name, rr.err)
			out.permanent = errors.Is(rr.err, ErrTooLarge) || errors.Is(rr.err, ErrInvalid)
		}
	}
	s.record(ctx, out, params, start, attempt)
	return out
}

// payload is the activation's parameters from the messages.
func (s *natsSource) payload(ds []*delivery) (json.RawMessage, error) {
	ps := make([]MessageParam, len(ds))
	for i, d := range ds {
		p := MessageParam{Subject: d.subject(), Headers: d.header()}
		if data := d.data(); json.Valid(data) {
			p.Data = data
		} else {
			p.Data, _ = json.Marshal(base64.StdEncoding.EncodeToString(data))
			p.DataEncoding = "base64"
		}
		if d.meta != nil {
			p.Stream, p.Sequence = d.meta.Stream, d.meta.Sequence.Stream
		}
		ps[i] = p
	}
	if s.batch == 1 {
		return json.Marshal(ps[0])
	}
	return json.Marshal(map[string][]MessageParam{"messages": ps})
}

// invoke runs rule's action with params and waits for its record. An
// admission refusal that passes (throttled, unavailable) is waited out
// here, not counted as an attempt: it is flow control.
func (s *natsSource) invoke(ctx context.Context, r *entity.Rule, params json.RawMessage, cause string) ruleRun {
	rr := ruleRun{rule: r}
	ns := s.trig.Namespace
	var res *InvokeResult
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		var err error
		res, err = s.c.Invoke(ctx, Identity{Namespace: ns}, InvokeRequest{Namespace: ns, Name: r.Action,
			Params: params, Blocking: true, Cause: cause})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrThrottled) && !errors.Is(err, ErrUnavailable) {
			rr.err = err
			return rr
		}
		s.log.Debug("message trigger: invoke refused, waiting", "action", r.Action, "err", err)
		if !s.sleep(ctx, s.retry.jitter(backoff)+backoff/2) {
			rr.err = ctx.Err()
			return rr
		}
	}
	rr.id, rr.rec = res.ActivationID, res.Record
	// Past the blocking wait the activation is still queued or running
	// (an invoker may have died and its activation be redelivered): the
	// record decides.
	deadline := time.Now().Add(SourceRecordWait)
	for rr.rec == nil {
		if ctx.Err() != nil {
			rr.err = ctx.Err()
			return rr
		}
		if time.Now().After(deadline) {
			rr.err = fmt.Errorf("activation %s: no record after %v", rr.id, SourceRecordWait)
			return rr
		}
		s.sleep(ctx, time.Second)
		rr.rec = s.c.lookupRecord(ctx, ns, rr.id)
	}
	if !rr.rec.Response.Success {
		rr.err = fmt.Errorf("activation %s: %s%s", rr.id, rr.rec.Response.Status, resultError(rr.rec.Response.Result))
	}
	return rr
}

// resultError is ": " + the "error" field of a result, if any.
func resultError(result json.RawMessage) string {
	var r struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(result, &r) != nil || len(r.Error) == 0 {
		return ""
	}
	var msg string
	if json.Unmarshal(r.Error, &msg) != nil {
		msg = string(r.Error)
	}
	return ": " + msg
}

// record writes the trigger activation's record as Fire does (kind
// "trigger", one log line per rule), after the actions finished: a log
// line's statusCode and success are its activation's outcome.
func (s *natsSource) record(ctx context.Context, out outcome, params json.RawMessage, start int64, attempt int) {
	ns, name := s.trig.Namespace, s.trig.Name
	rec := &activation.Record{
		ActivationID: out.triggerID,
		Namespace:    ns,
		Name:         name,
		Version:      s.trig.Version,
		Subject:      ns,
		Start:        start,
		End:          now(),
		Response:     activation.NewResponse(activation.StatusSuccess, params),
		Logs:         make([]string, 0, len(out.rules)),
		Annotations:  []entity.KeyValue{},
	}
	rec.Duration = rec.End - rec.Start
	for _, rr := range out.rules {
		rf := RuleFired{Rule: ns + "/" + rr.rule.Name, Action: ns + "/" + rr.rule.Action, ActivationID: rr.id}
		switch {
		case rr.rec != nil:
			rf.StatusCode, rf.Success = rr.rec.Response.StatusCode, rr.rec.Response.Success
			if rr.err != nil {
				rf.Error = rr.err.Error()
			}
		case rr.err != nil:
			rf.StatusCode, rf.Error = fireStatus(rr.err), rr.err.Error()
		}
		b, _ := json.Marshal(rf)
		rec.Logs = append(rec.Logs, string(b))
	}
	rec.Annotate(activation.AnnotationPath, ns+"/"+name)
	rec.Annotate(activation.AnnotationKind, KindTrigger)
	rec.Annotate(AnnotationAttempt, attempt)
	if err := s.c.writeRecord(ctx, rec); err != nil {
		s.log.Error("trigger record not written", "activation", out.triggerID, "err", err)
	}
}

// respond publishes each finished activation's result to the response
// subject. A single message's headers are copied for correlation; a
// batch's responses carry only Flurry's headers.
func (s *natsSource) respond(ds []*delivery, out outcome) {
	if s.spec.ResponseSubject == "" || out.stopped {
		return
	}
	for _, rr := range out.rules {
		if rr.rec == nil || !rr.rec.Response.Success {
			continue
		}
		m := s.reply(s.spec.ResponseSubject, ds, rr.rec.Response.Result)
		m.Header.Set(names.HeaderActivationID, rr.id)
		m.Header.Set(names.HeaderStatus, rr.rec.Response.Status)
		s.publish(m, rr.id)
	}
}

// reply is a message to subject with data, the headers of a single
// message copied (except NATS's own, which would steer a stream) and the
// trigger named.
func (s *natsSource) reply(subject string, ds []*delivery, data []byte) *nats.Msg {
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if len(ds) == 1 {
		for k, v := range ds[0].header() {
			if !strings.HasPrefix(k, "Nats-") {
				m.Header[k] = append([]string(nil), v...)
			}
		}
	}
	m.Header.Set(names.HeaderTrigger, s.trig.Namespace+"/"+s.trig.Name)
	return m
}

func (s *natsSource) publish(m *nats.Msg, aid string) {
	if err := s.c.nc.PublishMsg(m); err != nil {
		s.log.Warn("message trigger: publish", "activation", aid, "subject", m.Subject, "err", err)
	}
}

// deadLetter stores a message that failed for good, publishes its failure
// to the error subject, and acks it. A JetStream message whose entry
// cannot be stored is retried later instead: it is never acked unstored.
func (s *natsSource) deadLetter(d *delivery, out outcome, attempts int) {
	ns, name := s.trig.Namespace, s.trig.Name
	dl := TriggerDeadLetter{
		ID:        activation.NewID(),
		Namespace: ns,
		Trigger:   name,
		Subject:   d.subject(),
		Headers:   d.header(),
		Data:      d.data(),
		Attempts:  attempts,
		Error:     out.err.Error(),
		Time:      now(),
	}
	if s.tooOld(d) {
		dl.Error = activation.ReasonMaxEventAge + ": " + dl.Error
	}
	msgID := ""
	if d.meta != nil {
		dl.Stream, dl.Sequence = d.meta.Stream, d.meta.Sequence.Stream
		// The same message dead-lettered twice (a controller died before
		// its ack) makes the same entry, which JetStream drops.
		seq := strconv.FormatUint(dl.Sequence, 10)
		dl.ID = derivedID(s.consumerName()+"/"+dl.Stream, seq)
		msgID = dl.ID
	}
	for _, rr := range out.rules {
		if rr.id != "" {
			dl.ActivationIDs = append(dl.ActivationIDs, rr.id)
		}
	}
	data, err := json.Marshal(&dl)
	if err == nil {
		m := &nats.Msg{Subject: names.TriggerDeadLetterSubject(ns, name, dl.ID), Data: data, Header: nats.Header{}}
		m.Header.Set(names.HeaderTrigger, ns+"/"+name)
		m.Header.Set(names.HeaderError, oneLine(dl.Error))
		if msgID != "" {
			m.Header.Set(names.HeaderMsgID, msgID)
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.workCtx), 5*time.Second)
		_, err = s.c.js.PublishMsg(ctx, m)
		cancel()
	}
	if err != nil {
		s.log.Error("message trigger: dead letter not stored", "subject", d.subject(), "err", err)
		if d.js != nil {
			_ = d.js.NakWithDelay(s.retry.backoff(attempts))
		}
		return
	}
	s.log.Warn("message dead-lettered", "activation", out.triggerID, "subject", d.subject(), "attempts", attempts,
		"dead_letter", dl.ID, "err", out.err)
	if s.spec.ErrorSubject != "" {
		s.publishError(d, out, dl)
	}
	s.ack(d)
}

// publishError sends a dead-lettered message's failure to the error
// subject: the failed activation's result, or {"error": ...} when none
// finished.
func (s *natsSource) publishError(d *delivery, out outcome, dl TriggerDeadLetter) {
	var data []byte
	var aid, status string
	for _, rr := range out.rules {
		if rr.rec != nil && !rr.rec.Response.Success {
			data, aid, status = rr.rec.Response.Result, rr.id, rr.rec.Response.Status
			break
		}
	}
	if data == nil {
		data, status = activation.ErrorResult(dl.Error), activation.StatusText(activation.StatusInternalError)
	}
	m := s.reply(s.spec.ErrorSubject, []*delivery{d}, data)
	if aid != "" {
		m.Header.Set(names.HeaderActivationID, aid)
	}
	m.Header.Set(names.HeaderStatus, status)
	m.Header.Set(names.HeaderError, oneLine(dl.Error))
	s.publish(m, aid)
}

// oneLine makes s fit a header value.
func oneLine(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	if len(s) > 1024 {
		s = s[:1024]
	}
	return s
}
