package provision_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/testutil"
)

func TestEnsureTriggerDeadLetters(t *testing.T) {
	nc, _ := testutil.JetStream(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Twice: idempotent.
	for range 2 {
		if err := provision.EnsureTriggerDeadLetters(ctx, js, provision.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := js.Stream(ctx, names.TriggerDeadLettersStream)
	if err != nil {
		t.Fatal(err)
	}
	c := s.CachedInfo().Config
	if c.Retention != jetstream.LimitsPolicy || c.MaxAge != provision.DeadLettersMaxAge ||
		len(c.Subjects) != 1 || c.Subjects[0] != names.TriggerDeadLetterSubjects {
		t.Errorf("trigger dead-letter stream config = %+v", c)
	}
	// The subject of an entry is inside the stream, whatever the names hold.
	if _, err := js.Publish(ctx, names.TriggerDeadLetterSubject("ns x", "a.b", "id1"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := provision.EnsureTriggerDeadLetters(ctx, js, provision.Options{Replicas: 9}); err == nil {
		t.Error("replicas 9 accepted")
	}
}
