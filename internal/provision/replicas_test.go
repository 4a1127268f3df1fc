package provision_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/internal/testutil"
)

// clusterJS starts a 3-server cluster and returns JetStream on it.
func clusterJS(t *testing.T) (*testutil.Cluster, jetstream.JetStream) {
	t.Helper()
	c := testutil.JetStreamCluster(t, 3)
	js, err := jetstream.New(c.Connect())
	if err != nil {
		t.Fatal(err)
	}
	return c, js
}

// replicasByStream maps every stream to its replica count, failing on a
// probe stream left behind.
func replicasByStream(t *testing.T, ctx context.Context, js jetstream.JetStream) map[string]int {
	t.Helper()
	out := map[string]int{}
	l := js.ListStreams(ctx)
	for info := range l.Info() {
		if strings.HasPrefix(info.Config.Name, "FLURRY_REPLICAS_PROBE_") {
			t.Errorf("probe stream %s left behind", info.Config.Name)
		}
		out[info.Config.Name] = info.Config.Replicas
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestResolveAuto(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, cjs := clusterJS(t)
	nc, _ := testutil.JetStream(t)
	sjs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		js   jetstream.JetStream
		in   int
		want int
	}{
		{"cluster of 3, auto", cjs, provision.AutoReplicas, 3},
		{"cluster of 3, asked 2", cjs, 2, 2},
		{"cluster of 3, asked 1", cjs, 1, 1},
		{"single server, auto", sjs, provision.AutoReplicas, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := provision.Resolve(ctx, tc.js, provision.Options{Replicas: tc.in})
			if err != nil {
				t.Fatal(err)
			}
			if o.Replicas != tc.want {
				t.Errorf("replicas = %d, want %d", o.Replicas, tc.want)
			}
		})
	}
	if n := len(replicasByStream(t, ctx, cjs)); n != 0 {
		t.Errorf("resolving left %d streams", n)
	}
}

func TestResolveAboveCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, cjs := clusterJS(t)
	nc, _ := testutil.JetStream(t)
	sjs, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		js   jetstream.JetStream
		in   int
		size string
	}{
		{"cluster of 3", cjs, 5, "the cluster has 3"},
		{"cluster of 3, asked 4", cjs, 4, "the cluster has 3"},
		{"single server", sjs, 3, "the cluster has 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := provision.Resolve(ctx, tc.js, provision.Options{Replicas: tc.in})
			if !errors.Is(err, provision.ErrReplicasAboveCluster) || !strings.Contains(err.Error(), tc.size) {
				t.Fatalf("resolve %d replicas: %v, want %v naming %q", tc.in, err, provision.ErrReplicasAboveCluster, tc.size)
			}
			// Ensure refuses the same way before creating anything.
			if err := provision.Ensure(ctx, tc.js, provision.Options{Replicas: tc.in}); !errors.Is(err, provision.ErrReplicasAboveCluster) {
				t.Fatalf("ensure %d replicas: %v", tc.in, err)
			}
		})
	}
	if n := len(replicasByStream(t, ctx, cjs)); n != 0 {
		t.Errorf("a refused ensure left %d streams", n)
	}
}

func TestEnsureRaisesReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, js := clusterJS(t)
	if err := provision.Ensure(ctx, js, provision.Options{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	before := replicasByStream(t, ctx, js)
	for s, r := range before {
		if r != 1 {
			t.Fatalf("stream %s has %d replicas after ensuring 1", s, r)
		}
	}
	var logs testutil.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if err := provision.Ensure(ctx, js, provision.Options{Log: log}); err != nil {
		t.Fatal(err)
	}
	// A stream being scaled up may be missing from a listing: ask each.
	after := map[string]int{}
	for name := range before {
		testutil.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
			s, err := js.Stream(ctx, name)
			if err != nil {
				return err
			}
			after[name] = s.CachedInfo().Config.Replicas
			return nil
		})
	}
	for _, s := range []string{names.ActivationsStream, names.RecordsStream, "KV_" + names.AdmissionBucket, "OBJ_" + names.CodeStore} {
		if _, ok := after[s]; !ok {
			t.Errorf("no stream %s among %v", s, after)
		}
	}
	for s, r := range after {
		if r != 3 {
			t.Errorf("stream %s has %d replicas after auto on a cluster of 3", s, r)
		}
	}
	// One line per raised asset, and only those.
	raised := strings.Count(logs.String(), "raising replicas")
	if raised != len(after) {
		t.Errorf("%d raises logged for %d streams:\n%s", raised, len(after), logs.String())
	}
	if !strings.Contains(logs.String(), "asset="+`"kv `+names.AdmissionBucket+`"`) {
		t.Errorf("the admission bucket's raise is not logged:\n%s", logs.String())
	}
	// The invokers' consumers follow their stream to three replicas.
	testutil.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		ci, err := js.Consumer(ctx, names.ActivationsStream, names.PartitionConsumer(0))
		if err != nil {
			return err
		}
		info, err := ci.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || len(info.Cluster.Replicas)+1 != 3 {
			return errors.New("partition consumer not on 3 servers yet")
		}
		return nil
	})
	// A further ensure changes nothing, so logs nothing.
	var again testutil.Buffer
	if err := provision.Ensure(ctx, js, provision.Options{Log: slog.New(slog.NewTextHandler(&again, nil))}); err != nil {
		t.Fatal(err)
	}
	if again.String() != "" {
		t.Errorf("an ensure that changed nothing logged:\n%s", again.String())
	}
}

func TestEnsureNeverLowersReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, js := clusterJS(t)
	if err := provision.Ensure(ctx, js, provision.Options{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	// An operator raises two assets by hand, one of them in memory.
	raised := []string{names.RecordsStream, "KV_" + names.AdmissionBucket}
	for _, name := range raised {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		cfg.Replicas = 3
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			t.Fatalf("raise %s by hand: %v", name, err)
		}
	}
	var logs testutil.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, r := range []int{1, provision.AutoReplicas} {
		if err := provision.Ensure(ctx, js, provision.Options{Replicas: r, Log: log}); err != nil {
			t.Fatal(err)
		}
		for _, name := range raised {
			s, err := js.Stream(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.CachedInfo().Config.Replicas; got != 3 {
				t.Errorf("ensure with replicas %d: %s has %d replicas, the operator gave it 3", r, name, got)
			}
		}
		if r == 1 && logs.String() != "" {
			t.Errorf("ensure of 1 over assets of 1 and 3 logged:\n%s", logs.String())
		}
	}
	if strings.Contains(logs.String(), names.RecordsStream) {
		t.Errorf("the operator's raise was reported as a change:\n%s", logs.String())
	}
}
