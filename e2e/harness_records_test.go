package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

// oneRecordEach waits up to within until every accepted activation of
// namespace ns has a record in the records stream, then fails t for any
// that has more than one: the platform's promise, counted where it is
// kept rather than through the API.
func oneRecordEach(t *testing.T, js jetstream.JetStream, ns string, accepted map[string]bool, within time.Duration) {
	t.Helper()
	var records map[string]uint64
	testutil.CheckFor(t, within, time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, names.RecordsStream)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(names.RecordNamespaceSubject(ns)))
		if err != nil {
			return err
		}
		records = info.State.Subjects
		missing := 0
		for id := range accepted {
			if records[names.RecordSubject(ns, id)] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d accepted activations have no record yet", missing, len(accepted))
		}
		return nil
	})
	for id := range accepted {
		if n := records[names.RecordSubject(ns, id)]; n != 1 {
			t.Errorf("activation %s has %d records", id, n)
		}
	}
}
