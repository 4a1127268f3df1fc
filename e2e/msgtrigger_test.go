package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/actions/gowrap"
	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

// msgActionSource answers {"i": data.i} for a message {"i": N} and an
// application error for {"poison": true}.
const msgActionSource = `package main

func Main(args map[string]interface{}) map[string]interface{} {
	data, _ := args["data"].(map[string]interface{})
	if p, _ := data["poison"].(bool); p {
		return map[string]interface{}{"error": "poison message"}
	}
	return map[string]interface{}{"i": data["i"]}
}
`

// TestMessageTrigger publishes 1,000 messages to a JetStream stream bound
// to an action by a message trigger while the invoker that runs the
// action is killed (SIGKILL) and started again: every message produces a
// successful activation (duplicates are allowed, at least once, and
// counted), every message is acked, and a poison message lands in the
// trigger dead-letter stream after its retries, its failure on the error
// subject.
func TestMessageTrigger(t *testing.T) {
	s := startSystem(t, "", "--limit-concurrent", "0", "--limit-per-minute", "0")
	workDir := t.TempDir()
	const victimID = "msgvictim"
	var victimMu sync.Mutex
	victim, vout := startInvoker(t, s, victimID, workDir)
	t.Cleanup(func() {
		victimMu.Lock()
		defer victimMu.Unlock()
		if t.Failed() {
			t.Logf("victim invoker output:\n%s\nstandalone output:\n%s", vout.String(), s.output.String())
		}
		victim.Process.Signal(syscall.SIGINT)
		victim.Wait()
	})

	// One action per partition; the trigger fires one the victim owns.
	dir := t.TempDir()
	src := filepath.Join(dir, "msg.go")
	if err := os.WriteFile(src, []byte(msgActionSource), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	exe, err := gowrap.Build(ctx, src, "Main")
	if err != nil {
		t.Fatal(err)
	}
	actions := partitionActions("msg")
	for _, a := range actions {
		r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/actions/"+a+"?overwrite=true", map[string]any{
			"exec":   map[string]any{"kind": "go", "binary": true, "code": base64.StdEncoding.EncodeToString(exe)},
			"limits": map[string]any{"memory": 128},
		})
		if r.status != http.StatusOK {
			t.Fatalf("create %s: %d %s", a, r.status, r.body)
		}
	}
	var action string
	testutil.CheckFor(t, 90*time.Second, 10*time.Millisecond, func() error {
		for _, a := range actions {
			r := s.invoke(t, a, map[string]any{"data": map[string]any{"i": 0}}, "blocking=true")
			if r.status != http.StatusOK {
				t.Fatalf("warm-up invoke %s: %d %s", a, r.status, r.body)
			}
			if inv, _ := annotation(r.json(t), "invoker"); inv == victimID {
				action = a
				return nil
			}
		}
		return errNotYet("the victim invoker has not run an activation yet")
	})

	nc := s.connectNATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "E2EMSG", Subjects: []string{"events.guest.e2e.msg.in"}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	results := map[int]int{}
	var errMsgs []*nats.Msg
	if _, err := nc.Subscribe("events.guest.e2e.msg.out", func(m *nats.Msg) {
		var r struct{ I int }
		if err := json.Unmarshal(m.Data, &r); err != nil || m.Header.Get("X-Seq") != strconv.Itoa(r.I) {
			t.Errorf("response %s with headers %v (%v)", m.Data, m.Header, err)
		}
		mu.Lock()
		results[r.I]++
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("events.guest.e2e.msg.err", func(m *nats.Msg) { mu.Lock(); errMsgs = append(errMsgs, m); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	r := s.doJSON(t, http.MethodPut, "/api/v1/namespaces/_/triggers/msgs", map[string]any{"source": map[string]any{
		"nats": map[string]any{"subject": "events.guest.e2e.msg.in", "stream": "E2EMSG", "responseSubject": "events.guest.e2e.msg.out",
			"errorSubject": "events.guest.e2e.msg.err", "retry": map[string]any{"maxAttempts": 5, "initialBackoff": 200, "maxBackoff": 2000}},
	}})
	if r.status != http.StatusOK {
		t.Fatalf("create trigger: %d %s", r.status, r.body)
	}
	s.cli(t, false, "rule", "create", "msgs", "msgs", action)

	// Publish 1,000 messages; a third of the way in, kill the victim and
	// start it again while the rest go out.
	const n = 1000
	restarted := make(chan struct{})
	for i := 1; i <= n; i++ {
		m := &nats.Msg{Subject: "events.guest.e2e.msg.in", Data: fmt.Appendf(nil, `{"i":%d}`, i), Header: nats.Header{"X-Seq": {strconv.Itoa(i)}}}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if i == n/3 {
			go func() {
				defer close(restarted)
				victimMu.Lock()
				defer victimMu.Unlock()
				victim.Process.Kill()
				victim.Wait()
				victim, vout = startInvoker(t, s, victimID, workDir)
			}()
		}
	}
	poison := &nats.Msg{Subject: "events.guest.e2e.msg.in", Data: []byte(`{"poison":true}`), Header: nats.Header{"X-Seq": {"poison"}}}
	if _, err := js.PublishMsg(ctx, poison); err != nil {
		t.Fatal(err)
	}
	<-restarted

	missing := func() (missing []int) {
		mu.Lock()
		defer mu.Unlock()
		for i := 1; i <= n; i++ {
			if results[i] == 0 {
				missing = append(missing, i)
			}
		}
		return missing
	}
	testutil.CheckFor(t, 5*time.Minute, 100*time.Millisecond, func() error {
		if m := missing(); len(m) > 0 {
			return fmt.Errorf("%d of %d messages without a result, e.g. %v", len(m), n, m[:min(len(m), 10)])
		}
		return nil
	})
	mu.Lock()
	dups := 0
	for _, c := range results {
		dups += c - 1
	}
	mu.Unlock()
	t.Logf("%d messages, %d activations with a result, %d duplicates (at least once)", n, n+dups, dups)

	// The poison message: its retries, then the dead-letter stream and
	// the error subject; every message acked.
	testutil.CheckFor(t, 2*time.Minute, 100*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(errMsgs) == 0 {
			return errNotYet("no failure on the error subject yet")
		}
		return nil
	})
	mu.Lock()
	em := errMsgs[0]
	mu.Unlock()
	// The last attempt's failure is the action's error (a container that
	// crashed on it is a developer error: a failure too).
	if em.Header.Get("X-Seq") != "poison" || em.Header.Get(names.HeaderError) == "" || !strings.Contains(string(em.Data), `"error"`) {
		t.Errorf("error subject message %v %s", em.Header, em.Data)
	}
	dls, err := js.Stream(ctx, names.TriggerDeadLettersStream)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := dls.GetLastMsgForSubject(ctx, names.TriggerDeadLetterTriggerSubject(guestNamespace, "msgs"))
	if err != nil {
		t.Fatal(err)
	}
	var dl controller.TriggerDeadLetter
	if err := json.Unmarshal(raw.Data, &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Attempts != 5 || string(dl.Data) != `{"poison":true}` || dl.Stream != "E2EMSG" || dl.Sequence != n+1 ||
		dl.Headers.Get("X-Seq") != "poison" || dl.Error == "" || len(dl.ActivationIDs) != 1 {
		t.Errorf("dead letter = %+v", dl)
	}
	testutil.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		cons, err := js.Consumer(ctx, "E2EMSG", names.TriggerSource(guestNamespace, "msgs"))
		if err != nil {
			return err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumAckPending != 0 || info.NumPending != 0 || info.AckFloor.Stream != n+1 {
			return fmt.Errorf("consumer: ack pending %d, pending %d, ack floor %d", info.NumAckPending, info.NumPending, info.AckFloor.Stream)
		}
		return nil
	})
}
