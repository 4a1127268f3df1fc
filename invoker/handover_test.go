package invoker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
	"github.com/flurryfn/flurry/invoker/container"
)

// A member's departure message removes it at once; a heartbeat after it
// (a restart under the same id) brings it back.
func TestMembersLeaving(t *testing.T) {
	m := newMembers("inv-b", time.Minute)
	beat := func(id string, leaving bool) bool {
		data, _ := json.Marshal(health{ID: id, Slots: 4, Leaving: leaving})
		return m.observe(&nats.Msg{Data: data})
	}
	owned := func() int {
		n := 0
		for p := range names.Partitions {
			if m.owns(p) {
				n++
			}
		}
		return n
	}
	if !beat("inv-a", false) {
		t.Fatal("a new member did not change ownership")
	}
	if beat("inv-a", false) {
		t.Fatal("a known member's heartbeat changed ownership")
	}
	if n := owned(); n == 0 || n == names.Partitions {
		t.Fatalf("inv-b owns %d partitions beside inv-a", n)
	}
	if beat("inv-b", true) {
		t.Fatal("this invoker's own departure changed its view")
	}
	if !beat("inv-a", true) {
		t.Fatal("a departure did not change ownership")
	}
	if n := owned(); n != names.Partitions {
		t.Fatalf("inv-b owns %d partitions after inv-a left, want all %d", n, names.Partitions)
	}
	if beat("inv-a", true) {
		t.Fatal("a repeated departure changed ownership")
	}
	if !beat("inv-a", false) {
		t.Fatal("a restarted member did not take its share back")
	}
}

// An invoker stopped gracefully hands over at once: with a member timeout
// far beyond the test, its partner takes its partitions as soon as it
// announces its departure, an activation still waiting there for a
// container is handed back and run by the partner, and the one running
// there finishes where it is, each recorded once.
func TestDepartureHandsOver(t *testing.T) {
	images := map[string]string{"go": "img-go"}
	// inv-a has room for one container, so the second activation of the
	// slow action waits for the first one's container.
	a := setup(t, newProtoRuntime(), Config{ID: "inv-a", Images: images, Prewarm: map[string]int{},
		MemoryMB: 128, MaxConcurrent: 4, MemberTimeout: time.Minute})
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	invB, err := New(a.nc, newProtoRuntime(), Config{ID: "inv-b", Images: images, Prewarm: map[string]int{},
		MemoryMB: 1024, MaxConcurrent: 4, MemberTimeout: time.Minute, FetchMaxWait: 200 * time.Millisecond}, log)
	if err != nil {
		t.Fatal(err)
	}
	b := &env{nc: a.nc, js: a.js, rt: invB.rt, inv: invB}

	// Every message goes over the one connection, in order: once inv-b
	// has sent two heartbeats and inv-a one after them, each has
	// subscribed to the others' and heard them.
	beats := make(chan health, 64)
	hsub, err := a.nc.Subscribe(names.InvokerHealthSubjects, func(msg *nats.Msg) {
		var h health
		if json.Unmarshal(msg.Data, &h) == nil {
			beats <- h
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer hsub.Unsubscribe()
	a.run(t)
	b.run(t)
	deadline := time.After(10 * time.Second)
	for fromB, ready := 0, false; !ready; {
		select {
		case h := <-beats:
			switch {
			case h.ID == "inv-b":
				fromB++
			case h.ID == "inv-a" && fromB >= 2:
				ready = true
			}
		case <-deadline:
			t.Fatal("no heartbeats from both invokers")
		}
	}

	// Actions whose partitions inv-a owns.
	ofA := func(prefix string) string {
		for k := 0; ; k++ {
			name := fmt.Sprintf("%s-%d", prefix, k)
			if rendezvous([]string{"inv-a", "inv-b"}, names.Partition("guest", name)) == "inv-a" {
				return name
			}
		}
	}
	slow := a.action(t, ofA("slow"), entity.KindGo, "sleep", entity.Limits{Memory: 128})
	echo := a.action(t, ofA("echo"), entity.KindGo, "echo", entity.Limits{Memory: 128})

	reply := nats.NewInbox()
	recs, err := a.nc.SubscribeSync(reply)
	if err != nil {
		t.Fatal(err)
	}
	running, waiting, after := activation.NewID(), activation.NewID(), activation.NewID()
	a.publish(t, slow, running, `{"ms":3000}`, reply)
	testutil.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
		if n := a.inv.running.Load(); n != 1 {
			return fmt.Errorf("inv-a runs %d", n)
		}
		return nil
	})
	a.publish(t, slow, waiting, `{"ms":10}`, reply)
	testutil.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
		if _, ok := a.inv.held.take(waiting); ok {
			a.inv.held.drop(waiting)
			return fmt.Errorf("inv-a has not pulled %s", waiting)
		}
		return nil
	})

	stopped := make(chan struct{})
	go func() { a.stop(); close(stopped) }()
	deadline = time.After(5 * time.Second)
	for left := false; !left; {
		select {
		case h := <-beats:
			left = h.ID == "inv-a" && h.Leaving
		case <-deadline:
			t.Fatal("inv-a announced no departure")
		}
	}
	departed := time.Now()
	a.publish(t, echo, after, `{"n":1}`, reply)

	got := map[string]*activation.Record{}
	for len(got) < 3 {
		msg, err := recs.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("records %v: %v", keys(got), err)
		}
		var rec activation.Record
		if err := json.Unmarshal(msg.Data, &rec); err != nil {
			t.Fatal(err)
		}
		if got[rec.ActivationID] != nil {
			t.Fatalf("two records for %s", rec.ActivationID)
		}
		got[rec.ActivationID] = &rec
		if rec.ActivationID != running && time.Since(departed) > 2*time.Second {
			t.Errorf("%s recorded %v after inv-a's departure: not taken over at once", rec.ActivationID, time.Since(departed))
		}
	}
	for id, want := range map[string]string{running: "inv-a", waiting: "inv-b", after: "inv-b"} {
		rec := got[id]
		if rec.Response.StatusCode != activation.StatusSuccess {
			t.Errorf("%s: %+v", id, rec.Response)
		}
		if inv := annotation(t, rec, activation.AnnotationInvoker); inv != want {
			t.Errorf("%s ran on %v, want %s", id, inv, want)
		}
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("inv-a did not stop")
	}
	b.settled(t)
	for _, id := range []string{running, waiting, after} {
		if n := a.records(t, id); n != 1 {
			t.Errorf("%s has %d records", id, n)
		}
	}
}

func keys(m map[string]*activation.Record) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// gatedRemove holds the removal of one container until gate closes.
type gatedRemove struct {
	*protoRuntime
	id   string
	gate chan struct{}
}

func (g *gatedRemove) Remove(ctx context.Context, id string) error {
	if id == g.id {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.protoRuntime.Remove(ctx, id)
}

// A restarted invoker takes work while it removes its previous run's
// containers: with the removal of the one left behind held up, it still
// runs an activation, and the leftover goes once let through.
func TestRestartRemovesLeftoversBeside(t *testing.T) {
	proto := newProtoRuntime()
	// What a kill -9 of the previous run of inv-a left.
	old, err := proto.Start(context.Background(), container.Spec{Name: "flurry-inv-a-1", Image: "img-go", Kind: entity.KindGo,
		Labels: map[string]string{container.LabelManaged: "true", container.LabelInvoker: "inv-a"}})
	if err != nil {
		t.Fatal(err)
	}
	rt := &gatedRemove{protoRuntime: proto, id: old.ID, gate: make(chan struct{})}
	e := start(t, rt, Config{ID: "inv-a", Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}})
	echo := e.action(t, "echo", entity.KindGo, "echo", entity.Limits{Memory: 128})
	if rec := e.invoke(t, echo, `{}`); rec.Response.StatusCode != activation.StatusSuccess {
		t.Fatalf("while the leftover is being removed: %+v", rec.Response)
	}
	live, _, _ := proto.counts()
	if live != 2 {
		t.Fatalf("%d containers, want the leftover and the new one", live)
	}
	close(rt.gate)
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		live, err := proto.List(context.Background(), map[string]string{})
		if err != nil {
			return err
		}
		if len(live) != 1 || live[0].ID == old.ID {
			return fmt.Errorf("containers %v, want only the new run's", live)
		}
		return nil
	})
}
