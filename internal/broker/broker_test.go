package broker

import (
	"testing"

	"github.com/nats-io/nats.go"
)

func TestMaxConnsRefusesTheNext(t *testing.T) {
	b, err := Start(Config{DataDir: t.TempDir(), Listen: "127.0.0.1:-1", MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	for i := 0; i < 2; i++ {
		nc, err := nats.Connect(b.ClientURL())
		if err != nil {
			t.Fatalf("connection %d within the bound: %v", i, err)
		}
		defer nc.Close()
	}
	if nc, err := nats.Connect(b.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("a connection over MaxConns was accepted")
	}
}
