package controller_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/testutil"
)

// code1 and code2 are base64 of two distinct stand-ins for a Linux
// executable: PutAction refuses go code that is not one.
var code1, code2 = fakeExec("code1"), fakeExec("code2")

func TestAuthenticate(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		id, err := b.Authenticate(e.ctx, guestAuth)
		must(t, err)
		if id.Namespace != controller.GuestNamespace || id.UUID != strings.Split(guestAuth, ":")[0] {
			t.Errorf("identity = %+v", id)
		}
		uuid := strings.Split(guestAuth, ":")[0]
		for _, bad := range []string{"", "nocolon", uuid + ":wrong", "00000000-0000-0000-0000-000000000000:" + strings.Split(guestAuth, ":")[1], "a.b:c", "*:x"} {
			_, err := b.Authenticate(e.ctx, bad)
			if !errors.Is(err, controller.ErrUnauthenticated) {
				t.Errorf("Authenticate(%q) = %v, want unauthenticated", bad, err)
			}
		}
	})
}

func TestGuestKeyRotates(t *testing.T) {
	nc, _ := testutil.JetStream(t)
	ctx := context.Background()
	c1, err := controller.New(ctx, nc, controller.Config{GuestAuth: guestAuth}, nil)
	must(t, err)
	c1.Close()
	uuid := strings.Split(guestAuth, ":")[0]
	c2, err := controller.New(ctx, nc, controller.Config{GuestAuth: uuid + ":newsecret"}, nil)
	must(t, err)
	defer c2.Close()
	_, err = c2.Authenticate(ctx, guestAuth)
	wantErr(t, err, controller.ErrUnauthenticated)
	_, err = c2.Authenticate(ctx, uuid+":newsecret")
	must(t, err)
}

func TestNamespaces(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		e.startInvoker(t)
		_, err := b.PutAction(e.ctx, e.id, goAction("secret", code1))
		must(t, err)
		inv, err := b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "secret", Blocking: true, Wait: 5 * time.Second})
		must(t, err)

		otherAuth, err := e.ctl.AddKey(e.ctx, "other")
		must(t, err)
		other, err := b.Authenticate(e.ctx, otherAuth)
		must(t, err)
		if other.Namespace != "other" {
			t.Fatalf("other = %+v", other)
		}
		// The other namespace's key sees nothing of guest's, by "guest" or "_".
		checks := map[string]func() (any, error){
			"get": func() (any, error) {
				a, code, err := b.GetAction(e.ctx, other, "guest", "secret", true)
				return fmt.Sprint(a, code), err
			},
			"put": func() (any, error) {
				return b.PutAction(e.ctx, other, controller.PutActionRequest{Namespace: "guest", Name: "x"})
			},
			"list":   func() (any, error) { return b.ListActions(e.ctx, other, "guest", 0, 0) },
			"delete": func() (any, error) { return b.DeleteAction(e.ctx, other, "guest", "secret") },
			"invoke": func() (any, error) {
				return b.Invoke(e.ctx, other, controller.InvokeRequest{Namespace: "guest", Name: "secret"})
			},
			"record": func() (any, error) { return b.GetActivation(e.ctx, other, "guest", inv.ActivationID) },
			"records": func() (any, error) {
				return b.ListActivations(e.ctx, other, controller.ListActivationsRequest{Namespace: "guest"})
			},
		}
		for name, f := range checks {
			v, err := f()
			if !errors.Is(err, controller.ErrForbidden) {
				t.Errorf("%s: err = %v, want forbidden", name, err)
			}
			if s := fmt.Sprint(v); strings.Contains(s, "secret") || strings.Contains(s, code1) {
				t.Errorf("%s leaked data: %s", name, s)
			}
		}
		_, _, err = b.GetAction(e.ctx, other, "_", "secret", false)
		wantErr(t, err, controller.ErrNotFound)
		_, err = b.GetActivation(e.ctx, other, "_", inv.ActivationID)
		wantErr(t, err, controller.ErrNotFound)
		list, err := b.ListActions(e.ctx, other, "_", 0, 0)
		must(t, err)
		if len(list) != 0 {
			t.Errorf("other lists %d actions", len(list))
		}
		_, err = b.ListActions(e.ctx, e.id, "bad name!", 0, 0)
		wantErr(t, err, controller.ErrInvalid)
	})
}

func TestPutAction(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		a, err := b.PutAction(e.ctx, e.id, goAction("hello", code1))
		must(t, err)
		if a.Version != "0.0.1" || a.Revision == 0 || a.Namespace != "guest" || a.Exec.CodeDigest == "" ||
			a.Exec.CodeSize != int64(len(code1)) || a.Limits != (entity.Limits{}).WithDefaults() {
			t.Errorf("created = %+v", a)
		}
		_, err = b.PutAction(e.ctx, e.id, goAction("hello", code2))
		wantErr(t, err, controller.ErrExists)

		// Overwrite without code keeps the code, with new limits.
		up := goAction("hello", "")
		up.Overwrite = true
		up.Limits.Timeout = 1000
		a2, err := b.PutAction(e.ctx, e.id, up)
		must(t, err)
		if a2.Version != "0.0.2" || a2.Revision <= a.Revision || a2.Exec.CodeDigest != a.Exec.CodeDigest || a2.Limits.Timeout != 1000 {
			t.Errorf("updated = %+v", a2)
		}
		got, code, err := b.GetAction(e.ctx, e.id, "_", "hello", true)
		must(t, err)
		if got.Revision != a2.Revision || got.Version != "0.0.2" || string(code) != code1 {
			t.Errorf("get = %+v, code %q", got, code)
		}
		// Overwrite with new code.
		up = goAction("hello", code2)
		up.Overwrite = true
		a3, err := b.PutAction(e.ctx, e.id, up)
		must(t, err)
		if a3.Version != "0.0.3" || a3.Exec.CodeDigest == a.Exec.CodeDigest || a3.Limits.Timeout != 1000 {
			t.Errorf("updated = %+v", a3)
		}
		// Overwrite of an absent action creates it.
		up = goAction("fresh", code1)
		up.Overwrite = true
		a4, err := b.PutAction(e.ctx, e.id, up)
		must(t, err)
		if a4.Version != "0.0.1" || a4.Exec.CodeDigest != a.Exec.CodeDigest {
			t.Errorf("fresh = %+v", a4)
		}
	})
}

func TestPutActionInvalid(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		for _, tc := range []struct {
			name string
			edit func(r *controller.PutActionRequest)
			want error
		}{
			{"bad name", func(r *controller.PutActionRequest) { r.Name = "no spaces" }, controller.ErrInvalid},
			{"no kind", func(r *controller.PutActionRequest) { r.Exec.Kind = "" }, controller.ErrInvalid},
			{"unknown kind", func(r *controller.PutActionRequest) { r.Exec.Kind = "cobol" }, controller.ErrInvalid},
			{"go not binary", func(r *controller.PutActionRequest) { r.Exec.Binary = false }, controller.ErrInvalid},
			{"go no code", func(r *controller.PutActionRequest) { r.Code = nil }, controller.ErrInvalid},
			{"go not base64", func(r *controller.PutActionRequest) { r.Code = []byte("%%%") }, controller.ErrInvalid},
			{"blackbox no image", func(r *controller.PutActionRequest) { r.Exec = entity.Exec{Kind: entity.KindBlackbox} }, controller.ErrInvalid},
			{"timeout", func(r *controller.PutActionRequest) { r.Limits.Timeout = 10 }, controller.ErrInvalid},
			{"memory", func(r *controller.PutActionRequest) { r.Limits.Memory = 1 << 20 }, controller.ErrInvalid},
			{"unknown digest", func(r *controller.PutActionRequest) { r.Code = nil; r.Exec.CodeDigest = strings.Repeat("ab", 32) }, controller.ErrInvalid},
			{"bad digest", func(r *controller.PutActionRequest) { r.Code = nil; r.Exec.CodeDigest = "../x" }, controller.ErrInvalid},
			{"code too large", func(r *controller.PutActionRequest) { r.Code = make([]byte, entity.MaxCodeBytes+1) }, controller.ErrTooLarge},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := goAction("a", code1)
				tc.edit(&r)
				_, err := b.PutAction(e.ctx, e.id, r)
				wantErr(t, err, tc.want)
				if err != nil && tc.want == controller.ErrInvalid && !strings.Contains(err.Error(), ":") {
					t.Errorf("error has no message: %v", err)
				}
			})
		}
		bb, err := b.PutAction(e.ctx, e.id, controller.PutActionRequest{Name: "bb", Exec: entity.Exec{Kind: entity.KindBlackbox, Image: "img"}})
		must(t, err)
		if bb.Exec.CodeDigest != "" {
			t.Errorf("blackbox = %+v", bb)
		}
	})
}

func TestPutActionConflict(t *testing.T) {
	e := newEnv(t, controller.Config{})
	_, err := e.ctl.PutAction(e.ctx, e.id, goAction("race", code1))
	must(t, err)
	// Another writer changes the action between our read and our write.
	controller.SetBeforeUpdate(e.ctl, func() {
		kv, _ := e.js.KeyValue(e.ctx, names.ActionsBucket)
		en, err := kv.Get(e.ctx, names.ActionKey("guest", "race"))
		must(t, err)
		_, err = kv.Put(e.ctx, en.Key(), en.Value())
		must(t, err)
	})
	up := goAction("race", code2)
	up.Overwrite = true
	_, err = e.ctl.PutAction(e.ctx, e.id, up)
	wantErr(t, err, controller.ErrConflict)
	controller.SetBeforeUpdate(e.ctl, nil)

	// Concurrent overwrites: each succeeds or reports a conflict, and the
	// version counts the successes.
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.ctl.PutAction(e.ctx, e.id, up)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, controller.ErrConflict):
				t.Errorf("concurrent put: %v", err)
			}
		}()
	}
	wg.Wait()
	a, _, err := e.ctl.GetAction(e.ctx, e.id, "_", "race", false)
	must(t, err)
	if want := fmt.Sprintf("0.0.%d", 1+ok); a.Version != want {
		t.Errorf("version = %s after %d successful updates, want %s", a.Version, ok, want)
	}
}

func TestListAndDeleteActions(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		for _, n := range []string{"c", "a@x", "b", "a"} {
			_, err := b.PutAction(e.ctx, e.id, goAction(n, code1))
			must(t, err)
		}
		list, err := b.ListActions(e.ctx, e.id, "_", 0, 0)
		must(t, err)
		if got := actionNames(list); got != "a,a@x,b,c" {
			t.Errorf("list = %s", got)
		}
		list, err = b.ListActions(e.ctx, e.id, "guest", 1, 2)
		must(t, err)
		if got := actionNames(list); got != "a@x,b" {
			t.Errorf("list skip 1 limit 2 = %s", got)
		}
		_, err = b.ListActions(e.ctx, e.id, "_", 0, controller.MaxListLimit+1)
		wantErr(t, err, controller.ErrInvalid)

		d, err := b.DeleteAction(e.ctx, e.id, "_", "b")
		must(t, err)
		if d.Name != "b" || d.Version != "0.0.1" {
			t.Errorf("deleted = %+v", d)
		}
		_, err = b.DeleteAction(e.ctx, e.id, "_", "b")
		wantErr(t, err, controller.ErrNotFound)
		_, _, err = b.GetAction(e.ctx, e.id, "_", "b", false)
		wantErr(t, err, controller.ErrNotFound)
		_, err = b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "b"})
		wantErr(t, err, controller.ErrNotFound)
		list, err = b.ListActions(e.ctx, e.id, "_", 0, 0)
		must(t, err)
		if got := actionNames(list); got != "a,a@x,c" {
			t.Errorf("list after delete = %s", got)
		}
		// Recreated after delete: a new first version, invocable.
		a, err := b.PutAction(e.ctx, e.id, goAction("b", code2))
		must(t, err)
		if a.Version != "0.0.1" {
			t.Errorf("recreated = %+v", a)
		}
		_, err = b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "b"})
		must(t, err)
	})
}

func actionNames(list []*entity.Action) string {
	var s []string
	for _, a := range list {
		s = append(s, a.Name)
	}
	return strings.Join(s, ",")
}

func TestLargeCode(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		bin := make([]byte, 600<<10)
		rand.Read(bin)
		head, _ := base64.StdEncoding.DecodeString(fakeExec(""))
		code := base64.StdEncoding.EncodeToString(append(head, bin...))
		a, err := b.PutAction(e.ctx, e.id, goAction("big", code))
		must(t, err)
		if a.Exec.CodeSize != int64(len(code)) {
			t.Errorf("code size = %d, want %d", a.Exec.CodeSize, len(code))
		}
		_, got, err := b.GetAction(e.ctx, e.id, "_", "big", true)
		must(t, err)
		if !bytes.Equal(got, []byte(code)) {
			t.Errorf("code differs: %d bytes, want %d", len(got), len(code))
		}
	})
}

func TestInvokeRejectsBeforeEnqueue(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		_, err := b.PutAction(e.ctx, e.id, goAction("hello", code1))
		must(t, err)
		big := raw(map[string]string{"x": strings.Repeat("a", entity.MaxPayloadBytes)})
		for _, tc := range []struct {
			name   string
			action string
			params json.RawMessage
			want   error
		}{
			{"unknown action", "nope", nil, controller.ErrNotFound},
			{"bad action name", "no way", nil, controller.ErrInvalid},
			{"too large", "hello", big, controller.ErrTooLarge},
			{"array", "hello", raw([]int{1}), controller.ErrInvalid},
			{"number", "hello", json.RawMessage("1"), controller.ErrInvalid},
			{"string", "hello", json.RawMessage(`"s"`), controller.ErrInvalid},
			{"malformed", "hello", json.RawMessage(`{"a":`), controller.ErrInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, blocking := range []bool{false, true} {
					_, err := b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: tc.action, Params: tc.params, Blocking: blocking})
					wantErr(t, err, tc.want)
				}
				if n := e.queued(t); n != 0 {
					t.Errorf("%d activations enqueued", n)
				}
			})
		}
	})
}

func TestInvokeBlocking(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		e.startInvoker(t)
		req := goAction("echo", code1)
		req.Parameters = []entity.KeyValue{{Key: "a", Value: raw(1)}, {Key: "b", Value: raw("default")}}
		_, err := b.PutAction(e.ctx, e.id, req)
		must(t, err)
		res, err := b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "echo", Params: raw(map[string]any{"b": "given", "c": true}), Blocking: true})
		must(t, err)
		if res.Record == nil {
			t.Fatal("no record")
		}
		r := res.Record
		if r.ActivationID != res.ActivationID || len(r.ActivationID) != 32 || r.Name != "echo" || r.Subject != e.id.UUID || !r.Response.Success {
			t.Errorf("record = %+v", r)
		}
		var got map[string]any
		must(t, json.Unmarshal(r.Response.Result, &got))
		if got["a"] != 1.0 || got["b"] != "given" || got["c"] != true {
			t.Errorf("merged params = %v", got)
		}
		rec, err := b.GetActivation(e.ctx, e.id, "_", res.ActivationID)
		must(t, err)
		if rec.ActivationID != res.ActivationID {
			t.Errorf("get activation = %+v", rec)
		}
		_, err = b.GetActivation(e.ctx, e.id, "_", activation.NewID())
		wantErr(t, err, controller.ErrNotFound)
		_, err = b.GetActivation(e.ctx, e.id, "_", "a.>")
		wantErr(t, err, controller.ErrInvalid)
	})
}

func TestInvokeBlockingTimeout(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		_, err := b.PutAction(e.ctx, e.id, goAction("slow", code1))
		must(t, err)
		start := time.Now()
		res, err := b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "slow", Blocking: true, Wait: 200 * time.Millisecond})
		must(t, err)
		if res.Record != nil || res.ActivationID == "" {
			t.Errorf("result = %+v, want id without record", res)
		}
		if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
			t.Errorf("waited %v", d)
		}
		if n := e.queued(t); n != 1 {
			t.Errorf("queued = %d, want 1", n)
		}
		// The activation is still served later.
		e.startInvoker(t)
		testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			_, err := b.GetActivation(e.ctx, e.id, "_", res.ActivationID)
			return err
		})
	})
}

func TestInvokeNonBlocking(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		_, err := b.PutAction(e.ctx, e.id, goAction("bg", code1))
		must(t, err)
		res, err := b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "bg", Params: raw(map[string]int{"n": 1})})
		must(t, err)
		if res.Record != nil || len(res.ActivationID) != 32 {
			t.Errorf("result = %+v", res)
		}
		// Acked by JetStream before Invoke returned.
		if n := e.queued(t); n != 1 {
			t.Fatalf("queued = %d, want 1", n)
		}
		s, _ := e.js.Stream(e.ctx, names.ActivationsStream)
		m, err := s.GetLastMsgForSubject(e.ctx, names.ActivationSubject("guest", "bg"))
		must(t, err)
		var msg activation.Message
		must(t, json.Unmarshal(m.Data, &msg))
		if msg.ActivationID != res.ActivationID || m.Header.Get(names.HeaderMsgID) != "" ||
			m.Header.Get(names.HeaderReply) != "" || msg.Blocking || msg.Action.Name != "bg" || msg.Action.Revision == 0 ||
			msg.Subject != e.id.UUID || msg.Admitted == 0 || string(msg.Params) != `{"n":1}` {
			t.Errorf("message = %+v headers %v", msg, m.Header)
		}
		e.startInvoker(t)
		testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			_, err := b.GetActivation(e.ctx, e.id, "_", res.ActivationID)
			return err
		})
	})
}

func TestInvokeBacklogFull(t *testing.T) {
	forEachBackend(t, controller.Config{Provision: provision.Options{ActivationsMaxMsgs: 2}}, func(t *testing.T, e *env, b gateway.Backend) {
		_, err := b.PutAction(e.ctx, e.id, goAction("f", code1))
		must(t, err)
		for range 2 {
			_, err := b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "f"})
			must(t, err)
		}
		_, err = b.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "f"})
		wantErr(t, err, controller.ErrUnavailable)
		if !strings.Contains(err.Error(), "backlog is full") {
			t.Errorf("message = %v", err)
		}
	})
}

func TestActivationDedupe(t *testing.T) {
	e := newEnv(t, controller.Config{})
	id := activation.NewID()
	for range 2 {
		_, err := e.js.Publish(e.ctx, names.ActivationSubject("guest", "x"), []byte(`{}`), jetstream.WithMsgID(id))
		must(t, err)
	}
	if n := e.queued(t); n != 1 {
		t.Errorf("queued = %d after publishing one id twice, want 1", n)
	}
}

func TestCacheAcrossControllers(t *testing.T) {
	e := newEnv(t, controller.Config{})
	other, err := controller.New(e.ctx, e.nc, controller.Config{}, nil)
	must(t, err)
	defer other.Close()
	_, err = other.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "later"})
	wantErr(t, err, controller.ErrNotFound)
	_, err = e.ctl.PutAction(e.ctx, e.id, goAction("later", code1))
	must(t, err)
	_, err = other.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "later"})
	must(t, err)
	up := goAction("later", code2)
	up.Overwrite = true
	a, err := e.ctl.PutAction(e.ctx, e.id, up)
	must(t, err)
	// The other controller's cache follows the update, then the delete.
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		_, err := other.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "later"})
		must(t, err)
		s, _ := e.js.Stream(e.ctx, names.ActivationsStream)
		m, err := s.GetLastMsgForSubject(e.ctx, names.ActivationSubject("guest", "later"))
		must(t, err)
		var msg activation.Message
		must(t, json.Unmarshal(m.Data, &msg))
		if msg.Action.Revision != a.Revision {
			return fmt.Errorf("invoked revision %d, want %d", msg.Action.Revision, a.Revision)
		}
		return nil
	})
	_, err = e.ctl.DeleteAction(e.ctx, e.id, "_", "later")
	must(t, err)
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		_, err := other.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "later"})
		if !errors.Is(err, controller.ErrNotFound) {
			return fmt.Errorf("invoke after delete: %v", err)
		}
		return nil
	})
}

func TestListActivations(t *testing.T) {
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		// Start times in the past, as real records (they arrive after
		// they end).
		now := time.Now().Add(-10 * time.Second).UnixMilli()
		// 600 records of guest (actions a and b alternating) interleaved
		// with 400 of another namespace; Start increases with i.
		var want []string
		for i := range 1000 {
			ns, name := "guest", "a"
			if i%5 < 2 {
				ns = "other"
			} else if i%2 == 0 {
				name = "b"
			}
			r := activation.Record{ActivationID: fmt.Sprintf("%032d", i), Namespace: ns, Name: name, Start: now + int64(i), End: now + int64(i)}
			e.putRecord(t, r)
			if ns == "guest" {
				want = append([]string{r.ActivationID}, want...)
			}
		}
		// A long activation that arrives last but started first.
		e.putRecord(t, activation.Record{ActivationID: "long", Namespace: "guest", Name: "a", Start: now - 3600_000})
		wantAll := append(append([]string{}, want...), "long")

		list := func(req controller.ListActivationsRequest) []string {
			t.Helper()
			req.Namespace = "_"
			recs, err := b.ListActivations(e.ctx, e.id, req)
			must(t, err)
			var ids []string
			for _, r := range recs {
				if r.Namespace != "guest" {
					t.Errorf("record of namespace %q listed", r.Namespace)
				}
				if req.Name != "" && r.Name != req.Name {
					t.Errorf("record of action %q listed", r.Name)
				}
				ids = append(ids, r.ActivationID)
			}
			return ids
		}
		eq := func(what string, got, want []string) {
			t.Helper()
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s = %v\nwant %v", what, got, want)
			}
		}
		eq("default", list(controller.ListActivationsRequest{}), wantAll[:controller.DefaultListLimit])
		eq("limit 1", list(controller.ListActivationsRequest{Limit: 1}), wantAll[:1])
		eq("skip 590", list(controller.ListActivationsRequest{Skip: 590, Limit: 50}), wantAll[590:])
		eq("max", list(controller.ListActivationsRequest{Skip: 400, Limit: controller.MaxListLimit}), wantAll[400:600])
		eq("since", list(controller.ListActivationsRequest{Since: now + 990, Limit: 200}), []string{fmt.Sprintf("%032d", 999), fmt.Sprintf("%032d", 998), fmt.Sprintf("%032d", 997), fmt.Sprintf("%032d", 994), fmt.Sprintf("%032d", 993), fmt.Sprintf("%032d", 992)})
		eq("upto", list(controller.ListActivationsRequest{Upto: now + 3, Limit: 200}), []string{fmt.Sprintf("%032d", 3), fmt.Sprintf("%032d", 2), "long"})
		eq("since upto", list(controller.ListActivationsRequest{Since: now + 2, Upto: now + 8}), []string{fmt.Sprintf("%032d", 8), fmt.Sprintf("%032d", 7), fmt.Sprintf("%032d", 4), fmt.Sprintf("%032d", 3), fmt.Sprintf("%032d", 2)})
		byName := list(controller.ListActivationsRequest{Name: "b", Limit: 3})
		eq("name b", byName, []string{fmt.Sprintf("%032d", 998), fmt.Sprintf("%032d", 994), fmt.Sprintf("%032d", 992)})
		eq("unknown name", list(controller.ListActivationsRequest{Name: "zzz"}), nil)

		_, err := b.ListActivations(e.ctx, e.id, controller.ListActivationsRequest{Since: 10, Upto: 5})
		wantErr(t, err, controller.ErrInvalid)
		_, err = b.ListActivations(e.ctx, e.id, controller.ListActivationsRequest{Skip: -1})
		wantErr(t, err, controller.ErrInvalid)
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  controller.Config
		ok   bool
	}{
		{"defaults", controller.Config{}, true},
		{"guest", controller.Config{GuestAuth: guestAuth}, true},
		{"bad guest", controller.Config{GuestAuth: "nokey"}, false},
		{"bad guest uuid", controller.Config{GuestAuth: "a.b:c"}, false},
		{"bad instance", controller.Config{InstanceID: "a.b"}, false},
		{"negative wait", controller.Config{DefaultWait: -1}, false},
		{"bad provision", controller.Config{Provision: provision.Options{Replicas: 9}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// An invoke while the activations stream has no leader (here: no stream
// at all, which JetStream answers the same way, "no responders") waits
// for it to come back instead of failing, and is stored once.
func TestInvokeWaitsOutALeaderlessStream(t *testing.T) {
	e := newEnv(t, controller.Config{})
	_, err := e.ctl.PutAction(e.ctx, e.id, goAction("hello", code1))
	must(t, err)
	must(t, e.js.DeleteStream(e.ctx, names.ActivationsStream))
	back := time.AfterFunc(time.Second, func() {
		if _, err := e.js.CreateStream(context.Background(), provision.ActivationsStreamConfig(provision.Options{})); err != nil {
			t.Errorf("recreate the activations stream: %v", err)
		}
	})
	defer back.Stop()
	start := time.Now()
	res, err := e.ctl.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "hello"})
	must(t, err)
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("invoke returned after %v, before the stream was back", waited)
	}
	if res.ActivationID == "" {
		t.Fatalf("result = %+v", res)
	}
	if n := e.queued(t); n != 1 {
		t.Errorf("%d activations queued, want 1", n)
	}
}

// Admission waits out a bucket without a leader the same way.
func TestInvokeWaitsOutALeaderlessAdmissionBucket(t *testing.T) {
	e := newEnv(t, controller.Config{})
	_, err := e.ctl.PutAction(e.ctx, e.id, goAction("hello", code1))
	must(t, err)
	must(t, e.js.DeleteStream(e.ctx, names.KVStream(names.AdmissionBucket)))
	provisioned := make(chan struct{})
	time.AfterFunc(time.Second, func() {
		defer close(provisioned)
		if err := provision.Ensure(context.Background(), e.js, provision.Options{}); err != nil {
			t.Errorf("provision again: %v", err)
		}
	})
	defer func() { <-provisioned }()
	res, err := e.ctl.Invoke(e.ctx, e.id, controller.InvokeRequest{Namespace: "_", Name: "hello"})
	must(t, err)
	if res.ActivationID == "" {
		t.Fatalf("result = %+v", res)
	}
	if n := e.queued(t); n != 1 {
		t.Errorf("%d activations queued, want 1", n)
	}
}
