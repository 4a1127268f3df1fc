package main

import (
	"errors"
	"reflect"
	"testing"

	"github.com/flurryfn/flurry/internal/entity"
)

func TestCLITriggerNATSSource(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want *entity.NATSSource
		err  bool
	}{
		{"none", []string{"t"}, nil, false},
		{"core", []string{"t", "--nats-subject", "events.guest.orders.*"}, &entity.NATSSource{Subject: "events.guest.orders.*"}, false},
		{"all", []string{"t", "--nats-subject", "events.guest.o.new", "--stream", "ORDERS", "--batch", "10", "--batch-window", "2s",
			"--response-subject", "events.guest.o.done", "--error-subject", "events.guest.o.failed", "--retry-attempts", "4", "--retry-backoff", "250",
			"--retry-max-backoff", "10s"},
			&entity.NATSSource{Subject: "events.guest.o.new", Stream: "ORDERS", BatchSize: 10, BatchWindow: 2000, ResponseSubject: "events.guest.o.done",
				ErrorSubject: "events.guest.o.failed", Retry: &entity.RetryPolicy{MaxAttempts: 4, InitialBackoff: 250, MaxBackoff: 10000}}, false},
		{"stream without subject", []string{"t", "--stream", "S"}, nil, true},
		{"with cron", []string{"t", "--nats-subject", "a", "--cron", "* * * * * *"}, nil, true},
		{"window without batch", []string{"t", "--nats-subject", "a", "--batch-window", "5"}, nil, true},
		{"backoff without attempts", []string{"t", "--nats-subject", "a", "--retry-backoff", "5"}, nil, true},
		{"negative batch", []string{"t", "--nats-subject", "a", "--batch", "-1"}, nil, true},
		{"bad window", []string{"t", "--nats-subject", "a", "--batch", "2", "--batch-window", "soon"}, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := cliParse(tt.args, cliTriggerCommands["create"].flags)
			if err != nil {
				t.Fatal(err)
			}
			src, err := cliTriggerNATSSource(p)
			if tt.err {
				if !errors.Is(err, errUsage) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got *entity.NATSSource
			if src != nil {
				got = src.NATS
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("source = %+v, want %+v", got, tt.want)
			}
		})
	}
	for _, name := range []string{"create", "update"} {
		if _, err := cliParse([]string{"t", "--nats-subject", "x"}, cliTriggerCommands[name].flags); err != nil {
			t.Errorf("trigger %s does not take --nats-subject: %v", name, err)
		}
	}
}
