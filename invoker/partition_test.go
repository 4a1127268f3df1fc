package invoker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// anyPartition is a jetstream.Consumer for tests that pull activation
// messages by hand: Next takes the next message of any partition consumer
// in the invokers' priority group. Other methods are partition 0's.
type anyPartition struct {
	jetstream.Consumer
	cons []jetstream.Consumer
}

// activationConsumer returns a consumer over every activation partition.
func (e *env) activationConsumer() (jetstream.Consumer, error) {
	c := &anyPartition{}
	for p := range names.Partitions {
		cons, err := e.js.Consumer(context.Background(), names.ActivationsStream, names.PartitionConsumer(p))
		if err != nil {
			return nil, err
		}
		c.cons = append(c.cons, cons)
	}
	c.Consumer = c.cons[0]
	return c, nil
}

// Next polls the partitions for up to 10 s (options are ignored).
func (c *anyPartition) Next(...jetstream.FetchOpt) (jetstream.Msg, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, cons := range c.cons {
			msg, err := cons.Next(jetstream.FetchMaxWait(10*time.Millisecond),
				jetstream.FetchPriorityGroup(names.InvokerPriorityGroup))
			if err == nil {
				return msg, nil
			}
			if !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("no activation message on any partition: %w", jetstream.ErrNoMessages)
}

// pendingActivations sums pending and unacked messages of all partitions.
func (e *env) pendingActivations() (uint64, error) {
	var n uint64
	for p := range names.Partitions {
		c, err := e.js.Consumer(context.Background(), names.ActivationsStream, names.PartitionConsumer(p))
		if err != nil {
			return 0, err
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return 0, err
		}
		n += info.NumPending + uint64(info.NumAckPending)
	}
	return n, nil
}
