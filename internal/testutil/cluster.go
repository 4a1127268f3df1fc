package testutil

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/broker"
)

// Cluster is an in-process NATS cluster with JetStream on every server,
// all on loopback, sharing one set of role credentials.
type Cluster struct {
	t       testing.TB
	cfgs    []broker.Config
	servers []*broker.Broker // nil where Stop stopped one
	// URLs are the servers' client URLs, in server order.
	URLs []string
}

// JetStreamCluster starts a cluster of n JetStream servers and waits
// until JetStream answers on it. Every server is shut down when the test
// ends.
func JetStreamCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	addrs := freeLoopbackAddrs(t, 2*n)
	routes := make([]string, n)
	for i := range n {
		routes[i] = "nats-route://" + addrs[n+i]
	}
	credsDir := filepath.Join(t.TempDir(), "creds")
	c := &Cluster{t: t, servers: make([]*broker.Broker, n)}
	for i := range n {
		c.cfgs = append(c.cfgs, broker.Config{
			DataDir:    t.TempDir(),
			CredsDir:   credsDir,
			Listen:     addrs[i],
			ServerName: fmt.Sprintf("n%d", i),
			Cluster:    &broker.Cluster{Name: "flurry-test", Listen: addrs[n+i], Routes: routes},
		})
		c.URLs = append(c.URLs, "nats://"+addrs[i])
	}
	for i := range n {
		c.Start(i)
	}
	t.Cleanup(func() {
		for i := range c.servers {
			c.Stop(i)
		}
	})
	nc := c.Connect()
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// JetStream answers once the servers have elected a meta leader.
	CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err
	})
	return c
}

// Start (re)starts server i with its data and ports.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	if c.servers[i] != nil {
		return
	}
	b, err := broker.Start(c.cfgs[i])
	if err != nil {
		c.t.Fatalf("start cluster server %d: %v", i, err)
	}
	c.servers[i] = b
	adminCreds.Store(b.ClientURL(), b.CredsFile(broker.RoleAdmin))
}

// Stop shuts server i down; Start brings it back.
func (c *Cluster) Stop(i int) {
	if c.servers[i] != nil {
		c.servers[i].Shutdown()
		c.servers[i] = nil
	}
}

// Connect connects to the cluster, any server, with the admin role's
// credentials. The connection is closed when the test ends.
func (c *Cluster) Connect(opts ...nats.Option) *nats.Conn {
	c.t.Helper()
	creds, err := nats.NkeyOptionFromSeed(broker.CredsFile(c.cfgs[0].CredsDir, broker.RoleAdmin))
	if err != nil {
		c.t.Fatalf("admin credentials: %v", err)
	}
	nc, err := nats.Connect(strings.Join(c.URLs, ","), append(opts, creds)...)
	if err != nil {
		c.t.Fatalf("connect to the cluster: %v", err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// freeLoopbackAddrs returns n distinct free loopback addresses; the
// listeners are held until all are chosen so no port comes twice.
func freeLoopbackAddrs(t testing.TB, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}
