package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

// startChainInvoker runs a fake invoker for triggers and sequences: an
// action named "fail" fails with an application error; any other returns
// its params with its name appended to "trail". It counts activations.
func (e *env) startChainInvoker(t *testing.T) *atomic.Int64 {
	t.Helper()
	var ended atomic.Bool
	var n atomic.Int64
	handle := func(m jetstream.Msg) {
		var msg activation.Message
		if err := json.Unmarshal(m.Data(), &msg); err != nil {
			t.Errorf("fake invoker: %v", err)
			return
		}
		n.Add(1)
		var p map[string]any
		_ = json.Unmarshal(msg.Params, &p)
		trail, _ := p["trail"].([]any)
		p["trail"] = append(trail, msg.Action.Name)
		resp := activation.NewResponse(activation.StatusSuccess, raw(p))
		if msg.Action.Name == "fail" {
			resp = activation.NewResponse(activation.StatusApplicationError, activation.ErrorResult("failed"))
		}
		now := time.Now().UnixMilli()
		r := activation.Record{ActivationID: msg.ActivationID, Namespace: msg.Namespace, Name: msg.Action.Name,
			Subject: msg.Subject, Start: now, End: now, Response: resp, Logs: []string{}, Cause: msg.Cause}
		b, _ := json.Marshal(&r)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := e.js.Publish(ctx, names.RecordSubject(msg.Namespace, msg.ActivationID), b, jetstream.WithMsgID(msg.ActivationID)); err != nil && !ended.Load() {
			t.Errorf("fake invoker: record: %v", err)
		}
		if reply := m.Headers().Get(names.HeaderReply); reply != "" {
			_ = e.nc.Publish(reply, b)
		}
		_ = m.Ack()
	}
	for p := range names.Partitions {
		cons, err := e.js.Consumer(e.ctx, names.ActivationsStream, names.PartitionConsumer(p))
		if err != nil {
			t.Fatal(err)
		}
		cc, err := cons.Consume(handle, jetstream.PullPriorityGroup(names.InvokerPriorityGroup))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cc.Stop)
	}
	t.Cleanup(func() { ended.Store(true) })
	return &n
}

func cronSource(expr, tz string) *entity.TriggerSource {
	return &entity.TriggerSource{Cron: &entity.CronSource{Expression: expr, TimeZone: tz}}
}

func TestTriggerStore(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		ctx := e.ctx
		put := func(name string, src *entity.TriggerSource, overwrite bool) (*entity.Trigger, error) {
			return b.PutTrigger(ctx, e.id, controller.PutTriggerRequest{Namespace: "_", Name: name, Overwrite: overwrite, Source: src,
				Parameters: []entity.KeyValue{{Key: "p", Value: raw(1)}}})
		}
		tr, err := put("t", cronSource("*/5 * * * * *", "Europe/Berlin"), false)
		must(t, err)
		if tr.Namespace != "guest" || tr.Version != "0.0.1" || tr.Revision == 0 || tr.Source.Cron.TimeZone != "Europe/Berlin" {
			t.Fatalf("stored trigger %+v", tr)
		}
		_, err = put("t", nil, false)
		wantErr(t, err, controller.ErrExists)
		tr, err = put("t", nil, true)
		must(t, err)
		if tr.Version != "0.0.2" || tr.Source == nil || tr.Source.Cron == nil {
			t.Fatalf("update kept no source: %+v", tr)
		}
		for _, c := range []struct {
			name, want string
			src        *entity.TriggerSource
		}{
			{"bad cron", "expected exactly 6 fields", cronSource("* * * *", "")},
			{"bad field", "above maximum", cronSource("99 * * * * *", "")},
			{"bad zone", "Mars/Olympus", cronSource("* * * * * *", "Mars/Olympus")},
			{"short interval", "under", &entity.TriggerSource{Interval: &entity.IntervalSource{Every: 10}}},
			{"bad missed", "missed-tick policy", &entity.TriggerSource{Interval: &entity.IntervalSource{Every: 1000, Missed: "always"}}},
			{"two kinds", "one of", &entity.TriggerSource{Interval: &entity.IntervalSource{Every: 1000}, Cron: &entity.CronSource{Expression: "* * * * * *"}}},
			{"reserved subject", "reserved", &entity.TriggerSource{NATS: &entity.NATSSource{Subject: "flurry.x"}}},
		} {
			_, err := put("bad", c.src, false)
			wantErr(t, err, controller.ErrInvalid)
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: error %q does not say %q", c.name, err, c.want)
			}
		}
		_, err = put("every", &entity.TriggerSource{Interval: &entity.IntervalSource{Every: 60000, Missed: entity.MissedFireOnce}}, false)
		must(t, err)
		got, err := b.GetTrigger(ctx, e.id, "guest", "t")
		must(t, err)
		if got.Version != "0.0.2" || len(got.Parameters) != 1 {
			t.Fatalf("get %+v", got)
		}
		list, err := b.ListTriggers(ctx, e.id, "_", 0, 0)
		must(t, err)
		if len(list) != 2 || list[0].Name != "every" || list[1].Name != "t" {
			t.Fatalf("list %+v", list)
		}
		_, err = b.GetTrigger(ctx, e.id, "other", "t")
		wantErr(t, err, controller.ErrForbidden)
		_, err = b.DeleteTrigger(ctx, e.id, "_", "t")
		must(t, err)
		_, err = b.GetTrigger(ctx, e.id, "_", "t")
		wantErr(t, err, controller.ErrNotFound)
		_, err = b.DeleteTrigger(ctx, e.id, "_", "t")
		wantErr(t, err, controller.ErrNotFound)
	})
}

func TestRulesAndFire(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		ctx := e.ctx
		e.startChainInvoker(t)
		_, err := b.PutAction(ctx, e.id, goAction("hello", fakeExec("hello")))
		must(t, err)
		_, err = b.PutTrigger(ctx, e.id, controller.PutTriggerRequest{Namespace: "_", Name: "t",
			Parameters: []entity.KeyValue{{Key: "from", Value: raw("trigger")}, {Key: "x", Value: raw(0)}}})
		must(t, err)

		// No rule yet: 204, nothing recorded.
		res, err := b.Fire(ctx, e.id, "_", "t", nil, "")
		must(t, err)
		if res.ActivationID != "" {
			t.Fatalf("fire without rules = %+v", res)
		}
		_, err = b.Fire(ctx, e.id, "_", "nope", nil, "")
		wantErr(t, err, controller.ErrNotFound)
		_, err = b.Fire(ctx, e.id, "_", "t", json.RawMessage(`[1]`), "")
		wantErr(t, err, controller.ErrInvalid)

		for _, c := range []struct {
			trigger, action string
			want            error
		}{
			{"nope", "hello", controller.ErrNotFound},
			{"t", "nope", controller.ErrNotFound},
			{"/other/t", "hello", controller.ErrForbidden},
			{"t", "/a/b/c", controller.ErrInvalid},
		} {
			_, err := b.PutRule(ctx, e.id, controller.PutRuleRequest{Namespace: "_", Name: "r", Trigger: c.trigger, Action: c.action})
			wantErr(t, err, c.want)
		}
		r, err := b.PutRule(ctx, e.id, controller.PutRuleRequest{Namespace: "_", Name: "r", Trigger: "/_/t", Action: "/guest/hello"})
		must(t, err)
		if r.Status != entity.RuleActive || r.Trigger != "t" || r.Action != "hello" {
			t.Fatalf("rule %+v", r)
		}
		_, err = b.PutRule(ctx, e.id, controller.PutRuleRequest{Namespace: "_", Name: "r", Trigger: "t", Action: "hello"})
		wantErr(t, err, controller.ErrExists)

		res, err = b.Fire(ctx, e.id, "_", "t", json.RawMessage(`{"x":1}`), "")
		must(t, err)
		if res.ActivationID == "" || len(res.Rules) != 1 || !res.Rules[0].Success || res.Rules[0].Rule != "guest/r" {
			t.Fatalf("fire = %+v", res)
		}
		var trig, act *activation.Record
		testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if trig, err = b.GetActivation(ctx, e.id, "_", res.ActivationID); err != nil {
				return err
			}
			act, err = b.GetActivation(ctx, e.id, "_", res.Rules[0].ActivationID)
			return err
		})
		if act.Cause != res.ActivationID || act.Name != "hello" {
			t.Errorf("action record cause %q name %q, want cause %s", act.Cause, act.Name, res.ActivationID)
		}
		var result map[string]any
		must(t, json.Unmarshal(act.Response.Result, &result))
		if result["from"] != "trigger" || result["x"] != float64(1) {
			t.Errorf("action params %v: want trigger params under the payload", result)
		}
		var line controller.RuleFired
		if len(trig.Logs) != 1 || json.Unmarshal([]byte(trig.Logs[0]), &line) != nil || line.ActivationID != act.ActivationID || line.Action != "guest/hello" {
			t.Errorf("trigger record logs %q", trig.Logs)
		}
		if string(trig.Annotation(activation.AnnotationKind)) != `"trigger"` || trig.Name != "t" {
			t.Errorf("trigger record %+v", trig)
		}

		r, err = b.SetRuleStatus(ctx, e.id, "_", "r", entity.RuleInactive)
		must(t, err)
		if r.Status != entity.RuleInactive {
			t.Fatalf("status %q", r.Status)
		}
		_, err = b.SetRuleStatus(ctx, e.id, "_", "r", "maybe")
		wantErr(t, err, controller.ErrInvalid)
		res, err = b.Fire(ctx, e.id, "_", "t", nil, "")
		must(t, err)
		if res.ActivationID != "" {
			t.Fatalf("fire with the rule disabled = %+v", res)
		}
		r, err = b.PutRule(ctx, e.id, controller.PutRuleRequest{Namespace: "_", Name: "r", Overwrite: true, Trigger: "t", Action: "hello"})
		must(t, err)
		if r.Status != entity.RuleInactive || r.Version != "0.0.2" {
			t.Fatalf("update changed the status: %+v", r)
		}
		rules, err := b.ListRules(ctx, e.id, "_", 0, 0)
		must(t, err)
		if len(rules) != 1 || rules[0].Name != "r" {
			t.Fatalf("list %+v", rules)
		}
		_, err = b.DeleteRule(ctx, e.id, "_", "r")
		must(t, err)
		_, err = b.GetRule(ctx, e.id, "_", "r")
		wantErr(t, err, controller.ErrNotFound)
	})
}

func TestSequence(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		ctx := e.ctx
		e.startChainInvoker(t)
		for _, n := range []string{"a", "b", "fail"} {
			_, err := b.PutAction(ctx, e.id, goAction(n, fakeExec("hello")))
			must(t, err)
		}
		seq := func(name string, comps ...string) error {
			_, err := b.PutAction(ctx, e.id, controller.PutActionRequest{Namespace: "_", Name: name,
				Exec: entity.Exec{Kind: entity.KindSequence, Components: comps}})
			return err
		}
		wantErr(t, seq("empty"), controller.ErrInvalid)
		wantErr(t, seq("pkg", "/guest/p/a"), controller.ErrInvalid)
		must(t, seq("ab", "/guest/a", "b"))
		must(t, seq("afb", "a", "fail", "b"))
		must(t, seq("missing", "a", "nope"))
		must(t, seq("outer", "ab", "/_/a"))

		res, err := b.Invoke(ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "ab", Params: raw(map[string]any{"trail": []string{"in"}}), Blocking: true})
		must(t, err)
		rec := res.Record
		if rec == nil || rec.Response.StatusCode != 0 || len(rec.Logs) != 2 {
			t.Fatalf("sequence record %+v", rec)
		}
		var out map[string]any
		must(t, json.Unmarshal(rec.Response.Result, &out))
		if fmt.Sprint(out["trail"]) != "[in a b]" {
			t.Errorf("trail %v, want [in a b]", out["trail"])
		}
		if string(rec.Annotation(activation.AnnotationKind)) != `"sequence"` {
			t.Errorf("kind annotation %s", rec.Annotation(activation.AnnotationKind))
		}
		for _, cid := range rec.Logs {
			c, err := b.GetActivation(ctx, e.id, "_", cid)
			must(t, err)
			if c.Cause != res.ActivationID {
				t.Errorf("component %s cause %q, want %s", cid, c.Cause, res.ActivationID)
			}
		}
		testutil.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
			_, err := b.GetActivation(ctx, e.id, "_", res.ActivationID)
			return err
		})

		res, err = b.Invoke(ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "afb", Blocking: true})
		must(t, err)
		if rec = res.Record; rec.Response.StatusCode != activation.StatusApplicationError || len(rec.Logs) != 2 {
			t.Fatalf("failing sequence: status %d logs %v, want 1 and two components", rec.Response.StatusCode, rec.Logs)
		}

		_, err = b.Invoke(ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "missing", Blocking: true})
		wantErr(t, err, controller.ErrNotFound)

		res, err = b.Invoke(ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "outer", Blocking: true})
		must(t, err)
		must(t, json.Unmarshal(res.Record.Response.Result, &out))
		if fmt.Sprint(out["trail"]) != "[a b a]" {
			t.Errorf("nested trail %v", out["trail"])
		}

		// Non-blocking: 202 at once, the record follows.
		res, err = b.Invoke(ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "ab"})
		must(t, err)
		testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			r, err := b.GetActivation(ctx, e.id, "_", res.ActivationID)
			if err == nil && len(r.Logs) != 2 {
				return fmt.Errorf("logs %v", r.Logs)
			}
			return err
		})
	})
}

func TestTickClaim(t *testing.T) {
	e := newEnv(t, controller.Config{})
	for i, c := range []struct {
		at          int64
		redelivered bool
		want        bool
	}{
		{1000, false, true},  // first
		{1000, false, false}, // a copy past the duplicate window
		{1000, true, true},   // a redelivery may finish what died
		{2000, false, true},  // the next tick
		{1000, false, false}, // older than the last
	} {
		got, err := controller.ClaimTick(e.ctx, e.ctl, "guest", "t", c.at, c.redelivered)
		must(t, err)
		if got != c.want {
			t.Errorf("%d: claim(%d, %v) = %v, want %v", i, c.at, c.redelivered, got, c.want)
		}
	}
}

func TestLastMissed(t *testing.T) {
	e := newEnv(t, controller.Config{})
	now := time.Now()
	tr := &entity.Trigger{Namespace: "guest", Name: "m", Updated: now.Add(-10 * time.Second).UnixMilli(),
		Source: &entity.TriggerSource{Interval: &entity.IntervalSource{Every: 1000, Missed: entity.MissedFireOnce}}}
	at, ok := controller.LastMissed(e.ctx, e.ctl, tr)
	if !ok || at.After(time.Now()) || time.Since(at) > 2*time.Second || at.UnixMilli()%1000 != 0 {
		t.Fatalf("last missed = %v, %v; want the latest whole second", at, ok)
	}
	_, err := controller.ClaimTick(e.ctx, e.ctl, "guest", "m", time.Now().Add(time.Hour).UnixMilli(), false)
	must(t, err)
	if at, ok := controller.LastMissed(e.ctx, e.ctl, tr); ok {
		t.Fatalf("last missed after a fired tick = %v", at)
	}
	tr.Source = cronSource("0 0 0 1 1 *", "") // once a year: nothing missed in 10 s
	tr.Name = "yearly"
	if at, ok := controller.LastMissed(e.ctx, e.ctl, tr); ok {
		t.Fatalf("yearly cron missed %v", at)
	}
}

// TestTimerFiresOnceAcrossControllers runs two controllers on one
// JetStream with a one-second cron: every tick makes one trigger record
// and one action activation, whichever controller fired it.
func TestTimerFiresOnceAcrossControllers(t *testing.T) {
	e := newEnv(t, controller.Config{})
	nc2, err := testutil.Connect(e.url)
	must(t, err)
	t.Cleanup(nc2.Close)
	ctl2, err := controller.New(e.ctx, nc2, controller.Config{}, nil)
	must(t, err)
	t.Cleanup(ctl2.Close)
	runs := e.startChainInvoker(t)

	_, err = e.ctl.PutAction(e.ctx, e.id, goAction("hello", fakeExec("hello")))
	must(t, err)
	_, err = e.ctl.PutTrigger(e.ctx, e.id, controller.PutTriggerRequest{Namespace: "_", Name: "tick", Source: cronSource("* * * * * *", "Europe/Berlin")})
	must(t, err)
	_, err = e.ctl.PutRule(e.ctx, e.id, controller.PutRuleRequest{Namespace: "_", Name: "r", Trigger: "tick", Action: "hello"})
	must(t, err)

	testutil.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		recs, err := e.ctl.ListActivations(e.ctx, e.id, controller.ListActivationsRequest{Name: "tick", Limit: 200})
		if err != nil {
			return err
		}
		if len(recs) < 4 {
			return fmt.Errorf("%d trigger records", len(recs))
		}
		return nil
	})
	// Stop the timer; ticks in flight are dropped or fired once.
	_, err = e.ctl.DeleteTrigger(e.ctx, e.id, "_", "tick")
	must(t, err)
	testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		trig, err := e.ctl.ListActivations(e.ctx, e.id, controller.ListActivationsRequest{Name: "tick", Limit: 200})
		if err != nil {
			return err
		}
		acts, err := e.ctl.ListActivations(e.ctx, e.id, controller.ListActivationsRequest{Name: "hello", Limit: 200})
		if err != nil {
			return err
		}
		scheduled := map[string]bool{}
		for _, r := range trig {
			if len(r.Logs) != 1 {
				return fmt.Errorf("trigger record %s logs %v", r.ActivationID, r.Logs)
			}
			at := string(r.Annotation(controller.AnnotationScheduled))
			if at == "" || scheduled[at] {
				t.Fatalf("trigger record %s: scheduled %q missing or fired twice", r.ActivationID, at)
			}
			scheduled[at] = true
		}
		causes := map[string]int{}
		for _, r := range acts {
			causes[r.Cause]++
		}
		for _, r := range trig {
			if causes[r.ActivationID] != 1 {
				return fmt.Errorf("trigger activation %s caused %d action activations", r.ActivationID, causes[r.ActivationID])
			}
		}
		if len(acts) != len(trig) || runs.Load() != int64(len(acts)) {
			return fmt.Errorf("%d trigger records, %d action records, %d runs", len(trig), len(acts), runs.Load())
		}
		return nil
	})
}
