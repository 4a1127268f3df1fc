package testutil

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/internal/broker"
)

// JetStream starts an embedded JetStream server on a free loopback port with
// its store in t.TempDir(), and returns a connection to it with the admin
// role's credentials. Both are closed when the test ends.
func JetStream(t testing.TB) (*nats.Conn, string) {
	t.Helper()
	b, err := broker.Start(broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:-1"})
	if err != nil {
		t.Fatalf("start jetstream: %v", err)
	}
	t.Cleanup(b.Shutdown)
	adminCreds.Store(b.ClientURL(), b.CredsFile(broker.RoleAdmin))
	creds, err := nats.NkeyOptionFromSeed(b.CredsFile(broker.RoleAdmin))
	if err != nil {
		t.Fatalf("admin credentials: %v", err)
	}
	nc, err := nats.Connect(b.ClientURL(), creds)
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

// adminCreds maps the URL of each server JetStream started to its admin
// credentials file, for Connect.
var adminCreds sync.Map

// Connect is nats.Connect with the admin credentials of the server that
// JetStream started at url.
func Connect(url string, opts ...nats.Option) (*nats.Conn, error) {
	path, ok := adminCreds.Load(url)
	if !ok {
		return nil, fmt.Errorf("testutil: no server started at %s", url)
	}
	creds, err := nats.NkeyOptionFromSeed(path.(string))
	if err != nil {
		return nil, err
	}
	return nats.Connect(url, append(opts, creds)...)
}
