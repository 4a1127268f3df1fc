package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// Replica counts (ADR 023).
const (
	// AutoReplicas as Options.Replicas lets Resolve choose:
	// ClusterReplicas on a cluster of that many JetStream servers or
	// more, else 1.
	AutoReplicas = 0
	// ClusterReplicas is the count Auto chooses on a cluster: a stream
	// of three keeps a quorum through the loss of any one server.
	ClusterReplicas = 3
	// MaxReplicas is JetStream's largest replica count.
	MaxReplicas = 5
)

// ErrReplicasAboveCluster is returned by Resolve when Options.Replicas
// asks for more replicas than there are JetStream servers to hold them.
var ErrReplicasAboveCluster = errors.New("more replicas than JetStream servers")

// JetStream API error codes of a placement that found too few servers.
const (
	errCodeNoPeers               jetstream.ErrorCode = 10005 // "no suitable peers for placement"
	errCodeInsufficientResources jetstream.ErrorCode = 10023
	errCodeReplicasNotClustered  jetstream.ErrorCode = 10074 // "replicas > 1 not supported in non-clustered mode"
)

// Resolve returns o with its replica count decided against the JetStream
// that js reaches: AutoReplicas becomes ClusterReplicas when that many
// servers can hold a replica, else 1; an explicit count above the
// servers fails with ErrReplicasAboveCluster naming how many there are.
// Ensure resolves by itself; a caller that resolves once and passes the
// result on spares the later Ensure* calls the server count.
func Resolve(ctx context.Context, js jetstream.JetStream, o Options) (Options, error) {
	if err := o.Validate(); err != nil {
		return o, err
	}
	if o.resolved {
		return o, nil
	}
	want := o.Replicas
	if want == AutoReplicas {
		want = ClusterReplicas
	}
	if want > 1 {
		ok, err := canPlace(ctx, js, want)
		if err != nil {
			return o, err
		}
		switch {
		case !ok && o.Replicas == AutoReplicas:
			want = 1
		case !ok:
			// Assets already placed on as many servers keep working
			// while one of them is down: a restart then must not fail.
			if have, _ := currentReplicas(ctx, js, names.ActivationsStream); have >= want {
				break
			}
			n, err := jetStreamServers(ctx, js, want-1)
			if err != nil {
				return o, err
			}
			return o, fmt.Errorf("provision: replicas %d: %w: the cluster has %d", o.Replicas, ErrReplicasAboveCluster, n)
		}
	}
	o.Replicas, o.resolved = want, true
	return o, nil
}

// jetStreamServers counts the JetStream servers that can hold a replica,
// up to atMost. JetStream's account API does not tell a client the
// cluster's size (the server lists need the system account), so this
// asks the cluster to place probe streams: the most replicas it can
// place is the number of servers, online, with room.
func jetStreamServers(ctx context.Context, js jetstream.JetStream, atMost int) (int, error) {
	for r := atMost; r > 1; r-- {
		ok, err := canPlace(ctx, js, r)
		if err != nil {
			return 0, err
		}
		if ok {
			return r, nil
		}
	}
	return 1, nil
}

// canPlace reports whether JetStream can place a stream of r replicas, by
// creating an empty probe stream of r and deleting it. A server outside
// any cluster holds one replica, so it needs no probe.
func canPlace(ctx context.Context, js jetstream.JetStream, r int) (bool, error) {
	if r <= 1 {
		return true, nil
	}
	if js.Conn().ConnectedClusterName() == "" {
		return false, nil
	}
	var b [8]byte
	rand.Read(b[:])
	name := "FLURRY_REPLICAS_PROBE_" + hex.EncodeToString(b[:])
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        name,
		Description: "Flurry: how many replicas the cluster can place (deleted at once)",
		Storage:     jetstream.MemoryStorage,
		Replicas:    r,
		MaxMsgs:     1,
		MaxBytes:    1 << 10,
	})
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case errCodeNoPeers, errCodeInsufficientResources, errCodeReplicasNotClustered:
			return false, nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("provision: probe %d replicas: %w", r, err)
	}
	// The probe goes even when ctx has ended, so none is left behind.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(dctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, fmt.Errorf("provision: delete probe stream %s: %w", name, err)
	}
	return true, nil
}

// replicasFor returns the replica count that stream, backing asset, is
// to have: o.Replicas, or what it has where that is more. Raising is
// logged, one line per asset; an operator's higher count is kept.
func replicasFor(ctx context.Context, js jetstream.JetStream, o Options, stream, asset string) (int, error) {
	have, err := currentReplicas(ctx, js, stream)
	if err != nil {
		return 0, fmt.Errorf("provision: %s: %w", asset, err)
	}
	if have == 0 {
		return o.Replicas, nil
	}
	if have >= o.Replicas {
		return have, nil
	}
	o.logger().Info("raising replicas", "asset", asset, "from", have, "to", o.Replicas)
	return o.Replicas, nil
}

// currentReplicas is the replica count of stream, 0 when there is none.
func currentReplicas(ctx context.Context, js jetstream.JetStream, stream string) (int, error) {
	s, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return max(s.CachedInfo().Config.Replicas, 1), nil
}

// ensureStream creates or updates stream cfg with replicasFor's count.
func ensureStream(ctx context.Context, js jetstream.JetStream, o Options, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	r, err := replicasFor(ctx, js, o, cfg.Name, "stream "+cfg.Name)
	if err != nil {
		return nil, err
	}
	cfg.Replicas = r
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("provision: stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// ensureKeyValue creates or updates bucket cfg with replicasFor's count.
func ensureKeyValue(ctx context.Context, js jetstream.JetStream, o Options, cfg jetstream.KeyValueConfig) error {
	r, err := replicasFor(ctx, js, o, "KV_"+cfg.Bucket, "kv "+cfg.Bucket)
	if err != nil {
		return err
	}
	cfg.Replicas = r
	if _, err := js.CreateOrUpdateKeyValue(ctx, cfg); err != nil {
		return fmt.Errorf("provision: kv %s: %w", cfg.Bucket, err)
	}
	return nil
}

// logger is o.Log, or a discarding logger.
func (o Options) logger() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}
