package invoker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
)

// TestRedeliveredAfterLostInvoker: an activation comes back because its
// invoker vanished. It runs again unless that invoker had begun it (the
// started marker exists) and the action allows no retries; then it gets
// an internal-error record. Either way exactly one record.
func TestRedeliveredAfterLostInvoker(t *testing.T) {
	tests := []struct {
		name    string
		started bool
		retry   *entity.RetryPolicy
		status  int
		starts  int
	}{
		{"never began", false, nil, activation.StatusSuccess, 1},
		{"began, no retries", true, nil, activation.StatusInternalError, 0},
		{"began, one attempt only", true, &entity.RetryPolicy{MaxAttempts: 1}, activation.StatusInternalError, 0},
		{"began, retries allowed", true, &entity.RetryPolicy{MaxAttempts: 3}, activation.StatusSuccess, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := newProtoRuntime()
			e := setup(t, rt, Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}})
			a := e.action(t, "lost", entity.KindGo, "echo", entity.Limits{Memory: 128})
			a.Retry = tc.retry
			id := activation.NewID()
			ctx := context.Background()
			if tc.started {
				if _, err := e.js.Publish(ctx, names.StartedSubject(id), []byte(`{"invoker":"gone"}`)); err != nil {
					t.Fatal(err)
				}
			}
			e.publish(t, a, id, `{"x":1}`, "")
			// The lost invoker's delivery: taken, never acked.
			cons, err := e.activationConsumer()
			if err != nil {
				t.Fatal(err)
			}
			msg, err := cons.Next()
			if err != nil {
				t.Fatal(err)
			}
			if err := msg.Nak(); err != nil {
				t.Fatal(err)
			}

			e.run(t)
			e.settled(t)
			rec, err := e.storedRecord("guest", id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Response.StatusCode != tc.status {
				t.Fatalf("record %+v, want status %d", rec.Response, tc.status)
			}
			if tc.status == activation.StatusInternalError && resultError(t, rec) != msgLost {
				t.Errorf("result %s", rec.Response.Result)
			}
			if _, starts, _ := rt.counts(); starts != tc.starts {
				t.Errorf("%d containers started, want %d", starts, tc.starts)
			}
			if n := e.records(t, id); n != 1 {
				t.Errorf("%d records, want 1", n)
			}
		})
	}
}

// records counts the records stored for activation id.
func (e *env) records(t *testing.T, id string) int {
	t.Helper()
	s, err := e.js.Stream(context.Background(), names.RecordsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(names.RecordSubject("guest", id)))
	if err != nil {
		t.Fatal(err)
	}
	return int(info.State.Subjects[names.RecordSubject("guest", id)])
}

func TestRendezvous(t *testing.T) {
	ids := []string{"inv-a", "inv-b", "inv-c"}
	owners := map[string][]int{}
	for p := range names.Partitions {
		o := rendezvous(ids, p)
		owners[o] = append(owners[o], p)
		if got := rendezvous([]string{"inv-c", "inv-a", "inv-b"}, p); got != o {
			t.Fatalf("partition %d: owner depends on order (%s vs %s)", p, got, o)
		}
	}
	for _, id := range ids {
		if len(owners[id]) == 0 {
			t.Errorf("%s owns nothing: %v", id, owners)
		}
	}
	// inv-c leaves: only its partitions move.
	for p := range names.Partitions {
		o := rendezvous(ids[:2], p)
		if !slices.Contains(owners["inv-c"], p) && o != rendezvous(ids, p) {
			t.Errorf("partition %d moved from %s to %s though its owner stayed", p, rendezvous(ids, p), o)
		}
	}
}

// A helper probes another owner's partition only when that owner's last
// heartbeat had every slot busy, or nothing is known of it.
func TestOwnerSaturated(t *testing.T) {
	m := newMembers("self", time.Minute)
	beat := func(id string, slots int, busy int64) {
		data, _ := json.Marshal(health{ID: id, Slots: slots, Busy: busy})
		m.observe(&nats.Msg{Data: data})
	}
	beat("other", 64, 10)
	var theirs []int
	for p := range names.Partitions {
		if !m.owns(p) {
			theirs = append(theirs, p)
		}
	}
	if len(theirs) == 0 {
		t.Fatal("the other invoker owns no partition")
	}
	for _, p := range theirs {
		if m.ownerSaturated(p) {
			t.Errorf("partition %d: owner with free slots counts as saturated", p)
		}
	}
	beat("other", 64, 64)
	for _, p := range theirs {
		if !m.ownerSaturated(p) {
			t.Errorf("partition %d: owner with every slot busy does not count as saturated", p)
		}
	}
}

func TestDoorbellPartition(t *testing.T) {
	tests := []struct {
		subject string
		p       int
		ok      bool
	}{
		{names.DoorbellSubject(0), 0, true},
		{names.DoorbellSubject(names.Partitions - 1), names.Partitions - 1, true},
		{names.OverflowSubject(7), 7, true},
		{fmt.Sprintf(names.DoorbellSubjectT, names.Partitions), 0, false},
		{"flurry.doorbell.px", 0, false},
		{"flurry.doorbell.q1", 0, false},
		{"nodots", 0, false},
	}
	for _, tc := range tests {
		p, ok := doorbellPartition(tc.subject)
		if ok != tc.ok || (ok && p != tc.p) {
			t.Errorf("%q: %d, %v; want %d, %v", tc.subject, p, ok, tc.p, tc.ok)
		}
	}
}

// TestStartedMarker: an activation of an action that allows no retries
// leaves a marker naming this invoker; one whose action allows retries
// leaves none, since a redelivery runs it again whatever the marker says.
func TestStartedMarker(t *testing.T) {
	for _, tc := range []struct {
		name   string
		retry  *entity.RetryPolicy
		marker bool
	}{
		{"no retries", nil, true},
		{"retries allowed", &entity.RetryPolicy{MaxAttempts: 3}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newProtoRuntime()
			e := setup(t, rt, Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}})
			a := e.action(t, "marked", entity.KindGo, "echo", entity.Limits{Memory: 128})
			a.Retry = tc.retry
			id := activation.NewID()
			before := time.Now().UnixMilli()
			e.publish(t, a, id, `{}`, "")
			e.run(t)
			e.settled(t)
			ctx := context.Background()
			s, err := e.js.Stream(ctx, names.StartedStream)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := s.GetLastMsgForSubject(ctx, names.StartedSubject(id))
			if !tc.marker {
				if err == nil {
					t.Fatalf("marker %s stored for an action that allows retries", raw.Data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var sm startedMarker
			if err := json.Unmarshal(raw.Data, &sm); err != nil {
				t.Fatalf("marker %s: %v", raw.Data, err)
			}
			if sm.Invoker != e.inv.ID() || sm.At < before || sm.At > time.Now().UnixMilli() {
				t.Errorf("marker %s, want invoker %s at %d or later", raw.Data, e.inv.ID(), before)
			}
		})
	}
}

func TestStartedMarkerHead(t *testing.T) {
	for _, id := range []string{"inv-a", "host_1-x2"} {
		got := string(startedMarkerHead(id)) + "1764892800123}"
		want, _ := json.Marshal(startedMarker{Invoker: id, At: 1764892800123})
		if got != string(want) {
			t.Errorf("marker %s, want %s", got, want)
		}
	}
}
