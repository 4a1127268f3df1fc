package broker_test

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/natsclient"
)

// BenchmarkPublishAsRole publishes on a new subject per message, as
// records and started markers are, as admin (no permission check) and
// as the invoker (its deny list is matched on every subject the server
// has not cached), then waits for the server to have read them all. It
// reports the process's CPU time per message (server and client), which
// a shared, loaded machine disturbs less than the wall time.
func BenchmarkPublishAsRole(b *testing.B) {
	br, err := broker.Start(broker.Config{DataDir: b.TempDir(), Listen: "127.0.0.1:-1"})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Shutdown()
	for _, r := range []broker.Role{broker.RoleAdmin, broker.RoleInvoker} {
		b.Run(string(r), func(b *testing.B) {
			opts, err := natsclient.Options(natsclient.Config{Role: string(r), Creds: br.CredsFile(r)})
			if err != nil {
				b.Fatal(err)
			}
			nc, err := nats.Connect(br.ClientURL(), opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			payload := make([]byte, 512)
			before := cpuTime(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := nc.Publish(names.StartedSubject(strconv.Itoa(i)), payload); err != nil {
					b.Fatal(err)
				}
			}
			if err := nc.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
