package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/natsclient"
	"github.com/flurryfn/flurry/internal/testutil"
)

var (
	natsServerBin  string // nats-server built from the module Flurry embeds
	natsServerOnce sync.Once
	natsServerErr  error
)

// buildNATSServer builds the nats-server command of the nats-server/v2
// module in go.mod once per run: the same server Flurry embeds, run as
// an operator runs it, so a test can kill one with SIGKILL.
func buildNATSServer(t *testing.T) string {
	t.Helper()
	natsServerOnce.Do(func() {
		natsServerBin = filepath.Join(filepath.Dir(flurryBin), "nats-server")
		cmd := exec.Command("go", "build", "-o", natsServerBin, "github.com/nats-io/nats-server/v2")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			natsServerErr = fmt.Errorf("build nats-server: %v\n%s", err, out)
		}
	})
	if natsServerErr != nil {
		t.Fatal(natsServerErr)
	}
	return natsServerBin
}

// natsCluster is a JetStream cluster of nats-server processes on
// loopback, configured as README.md's distributed mode says: Flurry's
// roles from `flurry nats-config`, max_payload 8 MB, no TLS.
type natsCluster struct {
	t        *testing.T
	bin      string
	confs    []string
	credsDir string
	clients  []string // host:port, in server order
	mu       sync.Mutex
	procs    []*exec.Cmd // nil where killed
	exited   []chan struct{}
	outs     []*testutil.Buffer
}

// startNATSCluster starts n servers named n0, n1, ... and waits until
// JetStream answers. They are killed when the test ends.
func startNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	dir := t.TempDir()
	c := &natsCluster{t: t, bin: buildNATSServer(t), credsDir: filepath.Join(dir, "creds"),
		procs: make([]*exec.Cmd, n), exited: make([]chan struct{}, n), outs: make([]*testutil.Buffer, n)}
	auth, err := exec.Command(buildFlurry(t), "nats-config", "--dir", c.credsDir).Output()
	if err != nil {
		t.Fatalf("flurry nats-config: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flurry-auth.conf"), auth, 0o600); err != nil {
		t.Fatal(err)
	}
	addrs := freeAddrs(t, 2*n)
	c.clients = addrs[:n]
	var routes []string
	for _, a := range addrs[n:] {
		routes = append(routes, "nats-route://"+a)
	}
	for i := range n {
		conf := filepath.Join(dir, fmt.Sprintf("n%d.conf", i))
		body := fmt.Sprintf(`server_name: n%d
listen: %s
max_payload: 8MB
jetstream { store_dir: %q }
cluster { name: flurry-e2e, listen: %s, routes: [%s] }
include ./flurry-auth.conf
`, i, addrs[i], filepath.Join(dir, fmt.Sprintf("n%d", i)), addrs[n+i], strings.Join(routes, ", "))
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c.confs = append(c.confs, conf)
	}
	for i := range n {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range n {
			c.kill(i)
		}
		if t.Failed() {
			for i, out := range c.outs {
				t.Logf("nats-server n%d:\n%s", i, tail(out.String(), 40))
			}
		}
	})
	js := c.jetStream(t)
	testutil.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err
	})
	return c
}

// start (re)starts server i on its ports and store.
func (c *natsCluster) start(i int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.procs[i] != nil {
		return
	}
	if c.outs[i] == nil {
		c.outs[i] = &testutil.Buffer{}
	}
	cmd := exec.Command(c.bin, "-c", c.confs[i])
	cmd.Stdout, cmd.Stderr = c.outs[i], c.outs[i]
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start nats-server n%d: %v", i, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c.procs[i], c.exited[i] = cmd, exited
}

// kill ends server i with SIGKILL: no leader hands over.
func (c *natsCluster) kill(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.procs[i] == nil {
		return
	}
	c.procs[i].Process.Signal(syscall.SIGKILL)
	<-c.exited[i]
	c.procs[i] = nil
}

// urls lists every server's client URL, as each component is given them.
func (c *natsCluster) urls() string {
	var u []string
	for _, a := range c.clients {
		u = append(u, "nats://"+a)
	}
	return strings.Join(u, ",")
}

// natsArgs are the flags with which a component joins the cluster as role.
func (c *natsCluster) natsArgs(role broker.Role) []string {
	return []string{"--nats", c.urls(), "--nats-creds", broker.CredsFile(c.credsDir, role)}
}

// jetStream connects as the admin role, to any server.
func (c *natsCluster) jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	opts, err := natsclient.Options(natsclient.Config{Role: string(broker.RoleAdmin), Creds: broker.CredsFile(c.credsDir, broker.RoleAdmin)})
	if err != nil {
		t.Fatal(err)
	}
	// Servers just started may not listen yet: keep trying.
	nc, err := nats.Connect(c.urls(), append(opts, nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// leaderOf is the index of the server leading stream.
func (c *natsCluster) leaderOf(t *testing.T, js jetstream.JetStream, stream string) int {
	t.Helper()
	var leader int
	testutil.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		ci := s.CachedInfo().Cluster
		if ci == nil || ci.Leader == "" {
			return fmt.Errorf("stream %s has no leader", stream)
		}
		if _, err := fmt.Sscanf(ci.Leader, "n%d", &leader); err != nil {
			return fmt.Errorf("stream %s leader %q: %w", stream, ci.Leader, err)
		}
		return nil
	})
	return leader
}

// waitCurrent waits until every replica of every stream is online and
// current, as after a restarted server has caught up.
func (c *natsCluster) waitCurrent(t *testing.T, js jetstream.JetStream, timeout time.Duration) {
	t.Helper()
	testutil.CheckFor(t, timeout, 250*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l := js.StreamNames(ctx)
		var streams []string
		for name := range l.Name() {
			streams = append(streams, name)
		}
		if err := l.Err(); err != nil {
			return err
		}
		for _, name := range streams {
			s, err := js.Stream(ctx, name)
			if err != nil {
				return err
			}
			ci := s.CachedInfo().Cluster
			if ci == nil || ci.Leader == "" {
				return fmt.Errorf("stream %s has no leader", name)
			}
			for _, p := range ci.Replicas {
				if !p.Current || p.Offline {
					return fmt.Errorf("stream %s: replica %s not current", name, p.Name)
				}
			}
		}
		return nil
	})
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
