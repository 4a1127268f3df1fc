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

func TestEnsureAdmissionBuckets(t *testing.T) {
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
	for bucket, want := range map[string]struct {
		storage jetstream.StorageType
		ttl     time.Duration
	}{
		names.LimitsBucket:    {jetstream.FileStorage, 0},
		names.AdmissionBucket: {jetstream.MemoryStorage, provision.AdmissionMaxAge},
	} {
		kv, err := js.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatalf("%s: %v", bucket, err)
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
		if info.Config.Storage != want.storage || st.TTL() != want.ttl {
			t.Errorf("%s: storage %v ttl %v, want %v %v", bucket, info.Config.Storage, st.TTL(), want.storage, want.ttl)
		}
	}
}
