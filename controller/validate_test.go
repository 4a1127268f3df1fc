package controller_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
	"github.com/flurryfn/flurry/internal/entity"
)

// TestAPIRefusesWhatCannotBeStoredOrRun: the controller's API methods
// check what a caller names themselves, since a separate gateway reaches
// them over NATS, and a long value must be refused without costing the
// NATS connection (issue 19).
func TestAPIRefusesWhatCannotBeStoredOrRun(t *testing.T) {
	long := strings.Repeat("a", 5000)
	big := []entity.KeyValue{{Key: "big", Value: raw(strings.Repeat("x", entity.MaxPayloadBytes))}}
	forEachBackend(t, controller.Config{}, func(t *testing.T, e *env, b gateway.Backend) {
		ctx, id := e.ctx, e.id
		must(t, func() error { _, err := b.PutAction(ctx, id, goAction("hello", code1)); return err }())
		seq := goAction("seq", "")
		seq.Exec = entity.Exec{Kind: entity.KindSequence, Components: []string{"/other/hello"}}
		text := goAction("text", "IyEvYmluL3NoCmVjaG8gaGkK") // "#!/bin/sh\necho hi\n"
		params := goAction("params", code1)
		params.Parameters = big
		cases := []struct {
			name string
			call func() error
			want error
		}{
			{"long auth user", func() error { _, err := b.Authenticate(ctx, long+":x"); return err }, controller.ErrUnauthenticated},
			{"long activation id", func() error { _, err := b.GetActivation(ctx, id, "_", long); return err }, controller.ErrInvalid},
			{"long dead letter id", func() error { _, err := b.GetDeadLetter(ctx, id, "_", long); return err }, controller.ErrInvalid},
			{"long dead letter redrive", func() error { _, err := b.RedriveDeadLetter(ctx, id, "_", long); return err }, controller.ErrInvalid},
			{"long dead letter delete", func() error { _, err := b.DeleteDeadLetter(ctx, id, "_", long); return err }, controller.ErrInvalid},
			{"long name filter", func() error {
				_, err := b.ListActivations(ctx, id, controller.ListActivationsRequest{Namespace: "_", Name: long})
				return err
			}, controller.ErrInvalid},
			{"since out of range", func() error {
				_, err := b.ListActivations(ctx, id, controller.ListActivationsRequest{Namespace: "_", Since: 1<<63 - 1})
				return err
			}, controller.ErrInvalid},
			{"long cause", func() error {
				_, err := b.Invoke(ctx, id, controller.InvokeRequest{Namespace: "_", Name: "hello", Cause: long})
				return err
			}, controller.ErrInvalid},
			{"long namespace", func() error { _, _, err := b.GetAction(ctx, id, long, "hello", false); return err }, controller.ErrInvalid},
			{"long route table", func() error { _, err := b.RouteTable(ctx, long); return err }, controller.ErrInvalid},
			{"long web action", func() error { _, err := b.WebAction(ctx, long, long); return err }, controller.ErrNotFound},
			{"long app", func() error { _, err := b.App(ctx, long); return err }, controller.ErrNotFound},
			{"go code not an executable", func() error { _, err := b.PutAction(ctx, id, text); return err }, controller.ErrInvalid},
			{"action parameters over 1 MiB", func() error { _, err := b.PutAction(ctx, id, params); return err }, controller.ErrInvalid},
			{"sequence in another namespace", func() error { _, err := b.PutAction(ctx, id, seq); return err }, controller.ErrInvalid},
			{"trigger parameters over 1 MiB", func() error {
				_, err := b.PutTrigger(ctx, id, controller.PutTriggerRequest{Namespace: "_", Name: "t", Parameters: big})
				return err
			}, controller.ErrInvalid},
			{"route path with ..", func() error {
				_, err := b.PutRoute(ctx, id, controller.PutRouteRequest{Namespace: "_", Name: "r", Methods: []string{"GET"}, Path: "/a/../b", Action: "hello"})
				return err
			}, controller.ErrInvalid},
			{"long fire cause", func() error {
				_, err := b.Fire(ctx, id, "_", "t", json.RawMessage(`{}`), long)
				return err
			}, controller.ErrInvalid},
		}
		for _, c := range cases {
			if err := c.call(); !errors.Is(err, c.want) {
				t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
			}
		}
		if err := e.nc.FlushTimeout(5 * time.Second); err != nil || e.nc.Stats().Reconnects != 0 {
			t.Fatalf("controller's NATS connection: flush %v, %d reconnects", err, e.nc.Stats().Reconnects)
		}
	})
}
