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

func TestEnsureDeadLetters(t *testing.T) {
	nc, _ := testutil.JetStream(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := provision.Ensure(ctx, js, provision.Options{}); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, names.DeadLettersStream)
	if err != nil {
		t.Fatal(err)
	}
	c := s.CachedInfo().Config
	if c.Retention != jetstream.LimitsPolicy || c.MaxMsgsPerSubject != 1 || c.MaxAge != provision.DeadLettersMaxAge ||
		c.Duplicates != provision.DuplicateWindow || len(c.Subjects) != 1 || c.Subjects[0] != names.DeadLetterSubjects {
		t.Errorf("dead-letter stream config = %+v", c)
	}
	// One entry per activation: a second write of the same id replaces it.
	for range 2 {
		if _, err := js.Publish(ctx, names.DeadLetterSubject("ns x", "id1"), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("entries = %v, %v; want 1", info.State.Msgs, err)
	}
}
