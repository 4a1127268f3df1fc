package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/testutil"
)

// BenchmarkPutMessageTrigger measures an update of a message trigger on an
// embedded JetStream, the event space check (ADR 020) included: a read of
// the namespace's grants, and for a stream its configuration.
//
//	go test -run '^$' -bench PutMessageTrigger -benchtime 2000x ./controller/
func BenchmarkPutMessageTrigger(b *testing.B) {
	for _, bc := range []struct {
		name string
		src  entity.NATSSource
	}{
		{"core", entity.NATSSource{Subject: "events.guest.in"}},
		{"stream", entity.NATSSource{Subject: "events.guest.in", Stream: "BENCH"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			nc, _ := testutil.JetStream(b)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			c, err := controller.New(ctx, nc, controller.Config{GuestAuth: guestAuth}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			js, _ := jetstream.New(nc)
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"events.guest.>"},
				Storage: jetstream.MemoryStorage}); err != nil {
				b.Fatal(err)
			}
			id := controller.Identity{Namespace: "guest"}
			i := 0
			for b.Loop() {
				src := bc.src
				src.BatchSize = i%2 + 1 // a change, so each put is a new revision
				i++
				if _, err := c.PutTrigger(ctx, id, controller.PutTriggerRequest{Namespace: "_", Name: fmt.Sprint("t", i%16),
					Overwrite: true, Source: &entity.TriggerSource{NATS: &src}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
