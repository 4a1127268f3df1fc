package testutil

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/internal/broker"
)

// JetStream starts an embedded JetStream server on a free loopback port with
// its store in t.TempDir(), and returns a connection to it. Both are closed
// when the test ends.
func JetStream(t testing.TB) (*nats.Conn, string) {
	t.Helper()
	b, err := broker.Start(broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatalf("start jetstream: %v", err)
	}
	t.Cleanup(b.Shutdown)
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc, b.ClientURL()
}

// CheckFor calls fn every interval until it returns nil, and fails the test
// with fn's last error if that has not happened within timeout.
func CheckFor(t testing.TB, timeout, interval time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = fn(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %v: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}
