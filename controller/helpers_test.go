package controller_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

const guestAuth = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

// env is one embedded JetStream with a controller on it.
type env struct {
	url  string
	nc   *nats.Conn
	js   jetstream.JetStream
	ctl  *controller.Controller
	id   controller.Identity // guest
	ctx  context.Context
	cfg  controller.Config
	back map[string]gateway.Backend
}

func newEnv(t *testing.T, cfg controller.Config) *env {
	t.Helper()
	nc, url := testutil.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if cfg.GuestAuth == "" {
		cfg.GuestAuth = guestAuth
	}
	ctl, err := controller.New(ctx, nc, cfg, nil)
	if err != nil {
		t.Fatalf("new controller: %v", err)
	}
	t.Cleanup(ctl.Close)
	js, _ := jetstream.New(nc)
	id, err := ctl.Authenticate(ctx, guestAuth)
	if err != nil {
		t.Fatalf("authenticate guest: %v", err)
	}
	return &env{url: url, nc: nc, js: js, ctl: ctl, id: id, ctx: ctx, cfg: cfg}
}

// remote serves e.ctl over NATS and returns a Client on its own connection.
func (e *env) remote(t *testing.T) *controller.Client {
	t.Helper()
	stop, err := controller.Serve(e.ctx, e.nc, e.ctl)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(stop)
	nc2, err := testutil.Connect(e.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc2.Close)
	return controller.NewClient(nc2, 5*time.Second)
}

// forEachBackend runs fn against the controller in process and through
// Serve + Client, each on a fresh JetStream.
func forEachBackend(t *testing.T, cfg controller.Config, fn func(t *testing.T, e *env, b gateway.Backend)) {
	t.Run("local", func(t *testing.T) {
		e := newEnv(t, cfg)
		fn(t, e, e.ctl)
	})
	t.Run("remote", func(t *testing.T) {
		e := newEnv(t, cfg)
		fn(t, e, e.remote(t))
	})
}

// startInvoker runs a fake invoker: it pulls activations and answers each
// with a success record whose result is the activation's params, sent to
// the reply subject and written to the records stream.
func (e *env) startInvoker(t *testing.T) {
	t.Helper()
	e.startInvokerWith(t, func(msg *activation.Message) activation.Response {
		return activation.NewResponse(activation.StatusSuccess, msg.Params)
	})
}

// startInvokerWith runs a fake invoker that answers each activation with
// respond's response.
func (e *env) startInvokerWith(t *testing.T, respond func(*activation.Message) activation.Response) {
	t.Helper()
	// Handlers may still run while the test tears down the connection.
	var ended atomic.Bool
	handle := func(m jetstream.Msg) {
		var msg activation.Message
		if err := json.Unmarshal(m.Data(), &msg); err != nil {
			t.Errorf("fake invoker: %v", err)
			return
		}
		start := time.Now().UnixMilli()
		r := activation.Record{
			ActivationID: msg.ActivationID,
			Namespace:    msg.Namespace,
			Name:         msg.Action.Name,
			Version:      msg.Action.Version,
			Subject:      msg.Subject,
			Start:        start,
			End:          start,
			Response:     respond(&msg),
			Logs:         []string{},
		}
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
	// One consumer per activation partition (ADR 004).
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
}

// queued is the number of activations waiting in the work queue.
func (e *env) queued(t *testing.T) uint64 {
	t.Helper()
	s, err := e.js.Stream(e.ctx, names.ActivationsStream)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.Msgs
}

// putRecord writes a record as an invoker would.
func (e *env) putRecord(t *testing.T, r activation.Record) {
	t.Helper()
	b, _ := json.Marshal(&r)
	if _, err := e.js.Publish(e.ctx, names.RecordSubject(r.Namespace, r.ActivationID), b); err != nil {
		t.Fatal(err)
	}
}

// fakeExec is base64 of an ELF executable's header followed by tag: what
// PutAction checks of a go action's code, not something that runs.
func fakeExec(tag string) string {
	b := make([]byte, 64, 64+len(tag))
	copy(b, "\x7fELF\x02\x01\x01")
	b[16] = 2 // ET_EXEC, little-endian
	return base64.StdEncoding.EncodeToString(append(b, tag...))
}

// goAction is a valid go action request.
func goAction(name string, code string) controller.PutActionRequest {
	return controller.PutActionRequest{
		Namespace: "_",
		Name:      name,
		Exec:      entity.Exec{Kind: entity.KindGo, Binary: true},
		Code:      []byte(code),
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return b
}
