package controller_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

// putDeadLetter writes a dead letter as an invoker would.
func (e *env) putDeadLetter(t *testing.T, ns, action, id string, params string) {
	t.Helper()
	dl := activation.DeadLetter{ActivationID: id, Namespace: ns, Name: action, Reason: activation.ReasonRetriesExhausted,
		Attempts: 3, Time: time.Now().UnixMilli(),
		Message: activation.Message{ActivationID: id, Namespace: ns, Action: entity.Action{Namespace: ns, Name: action},
			Params: json.RawMessage(params)},
		Record: activation.Record{ActivationID: id, Namespace: ns, Name: action, Logs: []string{"log"},
			Response: activation.NewResponse(activation.StatusApplicationError, activation.ErrorResult("boom"))}}
	m := &nats.Msg{Subject: names.DeadLetterSubject(ns, id), Data: raw(&dl), Header: nats.Header{names.HeaderMsgID: []string{id}}}
	if _, err := e.js.PublishMsg(e.ctx, m); err != nil {
		t.Fatal(err)
	}
}

func deadLetterIDs(dls []*activation.DeadLetter) []string {
	out := []string{}
	for _, dl := range dls {
		out = append(out, dl.ActivationID)
	}
	return out
}

func TestDeadLetters(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		otherAuth, err := e.ctl.AddKey(e.ctx, "other")
		must(t, err)
		other, err := b.Authenticate(e.ctx, otherAuth)
		must(t, err)
		_, err = b.PutAction(e.ctx, e.id, goAction("bad", code1))
		must(t, err)
		for i := range 5 {
			e.putDeadLetter(t, "guest", "bad", fmt.Sprintf("d%d", i), fmt.Sprintf(`{"i":%d}`, i))
			e.putDeadLetter(t, "other", "bad", fmt.Sprintf("o%d", i), `{}`)
		}

		list, err := b.ListDeadLetters(e.ctx, e.id, "_", 0, 0)
		must(t, err)
		if got := fmt.Sprint(deadLetterIDs(list)); got != "[d4 d3 d2 d1 d0]" {
			t.Fatalf("list = %s, want newest first", got)
		}
		// (null: JSON carries a nil RawMessage of the remote API so.)
		if (list[0].Message.Params != nil && string(list[0].Message.Params) != "null") || len(list[0].Record.Logs) != 0 || list[0].Record.Response.Result != nil ||
			list[0].Reason != activation.ReasonRetriesExhausted || list[0].Attempts != 3 || list[0].Name != "bad" {
			t.Fatalf("summary %+v", list[0])
		}
		page, err := b.ListDeadLetters(e.ctx, e.id, "guest", 1, 2)
		must(t, err)
		if got := fmt.Sprint(deadLetterIDs(page)); got != "[d3 d2]" {
			t.Fatalf("page = %s", got)
		}
		_, err = b.ListDeadLetters(e.ctx, e.id, "_", -1, 0)
		wantErr(t, err, controller.ErrInvalid)

		dl, err := b.GetDeadLetter(e.ctx, e.id, "_", "d1")
		must(t, err)
		if string(dl.Message.Params) != `{"i":1}` || len(dl.Record.Logs) != 1 {
			t.Fatalf("get = %+v", dl)
		}
		_, err = b.GetDeadLetter(e.ctx, e.id, "_", "nope")
		wantErr(t, err, controller.ErrNotFound)
		_, err = b.GetDeadLetter(e.ctx, e.id, "_", "bad.id")
		wantErr(t, err, controller.ErrInvalid)

		// Namespaces isolate: another key sees its own only, and guest's
		// entries are not found in its namespace and forbidden by name.
		_, err = b.GetDeadLetter(e.ctx, other, "_", "d1")
		wantErr(t, err, controller.ErrNotFound)
		for name, f := range map[string]func() error{
			"list":    func() error { _, err := b.ListDeadLetters(e.ctx, other, "guest", 0, 0); return err },
			"get":     func() error { _, err := b.GetDeadLetter(e.ctx, other, "guest", "d1"); return err },
			"delete":  func() error { _, err := b.DeleteDeadLetter(e.ctx, other, "guest", "d1"); return err },
			"redrive": func() error { _, err := b.RedriveDeadLetter(e.ctx, other, "guest", "d1"); return err },
		} {
			if err := f(); !errors.Is(err, controller.ErrForbidden) {
				t.Errorf("%s: err = %v, want forbidden", name, err)
			}
		}
		ol, err := b.ListDeadLetters(e.ctx, other, "_", 0, 0)
		must(t, err)
		if got := fmt.Sprint(deadLetterIDs(ol)); got != "[o4 o3 o2 o1 o0]" {
			t.Fatalf("other's list = %s", got)
		}

		// Delete removes once.
		del, err := b.DeleteDeadLetter(e.ctx, e.id, "_", "d0")
		must(t, err)
		if del.ActivationID != "d0" {
			t.Fatalf("deleted %+v", del)
		}
		_, err = b.DeleteDeadLetter(e.ctx, e.id, "_", "d0")
		wantErr(t, err, controller.ErrNotFound)

		// Re-drive starts a new activation with the same params, caused
		// by the dead one, and removes the entry.
		e.startInvoker(t)
		res, err := b.RedriveDeadLetter(e.ctx, e.id, "_", "d2")
		must(t, err)
		if res.ActivationID == "" || res.ActivationID == "d2" || res.Record != nil {
			t.Fatalf("redrive = %+v", res)
		}
		var rec *activation.Record
		testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			rec, err = b.GetActivation(e.ctx, e.id, "_", res.ActivationID)
			return err
		})
		if string(rec.Response.Result) != `{"i":2}` || rec.Name != "bad" {
			t.Fatalf("re-driven record %+v", rec)
		}
		_, err = b.GetDeadLetter(e.ctx, e.id, "_", "d2")
		wantErr(t, err, controller.ErrNotFound)
		_, err = b.RedriveDeadLetter(e.ctx, e.id, "_", "d2")
		wantErr(t, err, controller.ErrNotFound)

		// An entry whose action is gone stays after a failed re-drive.
		_, err = b.DeleteAction(e.ctx, e.id, "_", "bad")
		must(t, err)
		_, err = b.RedriveDeadLetter(e.ctx, e.id, "_", "d3")
		wantErr(t, err, controller.ErrNotFound)
		if _, err := b.GetDeadLetter(e.ctx, e.id, "_", "d3"); err != nil {
			t.Fatalf("entry not put back after a failed re-drive: %v", err)
		}
	})
}

func TestPutActionRetryAndDestinations(t *testing.T) {
	e := newEnv(t, controller.Config{})
	retry := &entity.RetryPolicy{MaxAttempts: 3, InitialBackoff: 100, MaxBackoff: 1000, MaxEventAge: 60000}
	dest := &entity.Destinations{OnSuccess: "events.guest.done", OnFailure: "events.guest.failed"}
	req := goAction("async", code1)
	req.Retry, req.Destinations = retry, dest
	a, err := e.ctl.PutAction(e.ctx, e.id, req)
	must(t, err)
	if *a.Retry != *retry || *a.Destinations != *dest {
		t.Fatalf("stored %+v %+v", a.Retry, a.Destinations)
	}
	// An update without them keeps them; zero ones remove them.
	a, err = e.ctl.PutAction(e.ctx, e.id, controller.PutActionRequest{Namespace: "_", Name: "async", Overwrite: true})
	must(t, err)
	if a.Retry == nil || *a.Retry != *retry || a.Destinations == nil || *a.Destinations != *dest {
		t.Fatalf("update dropped them: %+v %+v", a.Retry, a.Destinations)
	}
	got, _, err := e.ctl.GetAction(e.ctx, e.id, "_", "async", false)
	must(t, err)
	if got.Retry == nil || got.Destinations == nil {
		t.Fatalf("read back %+v", got)
	}
	a, err = e.ctl.PutAction(e.ctx, e.id, controller.PutActionRequest{Namespace: "_", Name: "async", Overwrite: true,
		Retry: &entity.RetryPolicy{}, Destinations: &entity.Destinations{}})
	must(t, err)
	if a.Retry != nil || a.Destinations != nil {
		t.Fatalf("zero values kept: %+v %+v", a.Retry, a.Destinations)
	}

	bad := []struct {
		name  string
		retry *entity.RetryPolicy
		dest  *entity.Destinations
	}{
		{"attempts over 10", &entity.RetryPolicy{MaxAttempts: 11}, nil},
		{"negative attempts", &entity.RetryPolicy{MaxAttempts: -1}, nil},
		{"negative backoff", &entity.RetryPolicy{MaxAttempts: 2, InitialBackoff: -1}, nil},
		{"negative max backoff", &entity.RetryPolicy{MaxAttempts: 2, MaxBackoff: -5}, nil},
		{"max below initial", &entity.RetryPolicy{MaxAttempts: 2, InitialBackoff: 500, MaxBackoff: 100}, nil},
		{"negative age", &entity.RetryPolicy{MaxAttempts: 2, MaxEventAge: -1}, nil},
		{"age over 6h", &entity.RetryPolicy{MaxAttempts: 2, MaxEventAge: 7 * 3600 * 1000}, nil},
		{"wildcard", nil, &entity.Destinations{OnSuccess: "app.*"}},
		{"full wildcard", nil, &entity.Destinations{OnFailure: "app.>"}},
		{"empty token", nil, &entity.Destinations{OnFailure: "app..x"}},
		{"space", nil, &entity.Destinations{OnFailure: "app x"}},
		{"flurry", nil, &entity.Destinations{OnSuccess: "flurry.activation.p1"}},
		{"jetstream api", nil, &entity.Destinations{OnSuccess: "$JS.API.STREAM.DELETE.X"}},
		{"kv", nil, &entity.Destinations{OnSuccess: "$KV.flurry_actions.x"}},
		{"inbox", nil, &entity.Destinations{OnSuccess: "_INBOX.x"}},
		{"another tenant's events", nil, &entity.Destinations{OnSuccess: "events.other.x"}},
		{"outside the event space", nil, &entity.Destinations{OnFailure: "app.failed"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			req := goAction("bad-"+tt.name, code1)
			req.Name = "badasync"
			req.Retry, req.Destinations = tt.retry, tt.dest
			_, err := e.ctl.PutAction(e.ctx, e.id, req)
			wantErr(t, err, controller.ErrInvalid)
		})
	}
}
