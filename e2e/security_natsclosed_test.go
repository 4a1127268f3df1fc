package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/testutil"
)

// Issue 19, part of finding 1: when NATS closed a component's connection
// for good, the component never reconnected and answered 503 until a
// restart. Each server command now exits non-zero instead, so that its
// supervisor restarts it; a SIGINT still exits 0.
//
// Each command connects through natsErrProxy, which forwards its NATS
// traffic to the standalone's server and then sends it the -ERR that a
// subject over the server's control line limit draws, after which nats.go
// closes the connection for good.
func TestSecurityNATSClosedExits(t *testing.T) {
	s := startSystem(t, "")
	bin := buildFlurry(t)
	rt := "process"
	if dockerReachable() {
		rt = "docker"
	}
	for _, tc := range []struct {
		name   string
		args   func(natsURL string) []string
		signal bool // stop with SIGINT instead of the -ERR
		want   int
	}{
		{name: "gateway", args: func(u string) []string {
			a := freeAddrs(t, 2)
			return []string{"gateway", "--nats", u, "--nats-creds", s.natsCreds(broker.RoleGateway), "--api-listen", a[0], "--grpc-listen", a[1]}
		}, want: 1},
		{name: "controller", args: func(u string) []string {
			return []string{"controller", "--nats", u, "--nats-creds", s.natsCreds(broker.RoleController)}
		}, want: 1},
		{name: "invoker", args: func(u string) []string {
			return []string{"invoker", "--nats", u, "--nats-creds", s.natsCreds(broker.RoleInvoker), "--id", "closed-conn", "--runtime", rt, "--work-dir", t.TempDir()}
		}, want: 1},
		{name: "gateway stopped by SIGINT", args: func(u string) []string {
			a := freeAddrs(t, 2)
			return []string{"gateway", "--nats", u, "--nats-creds", s.natsCreds(broker.RoleGateway), "--api-listen", a[0], "--grpc-listen", a[1]}
		}, signal: true, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := startNATSErrProxy(t, s.nats)
			out := &testutil.Buffer{}
			cmd := exec.Command(bin, tc.args("nats://"+proxy.addr())...)
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }()
			t.Cleanup(func() {
				select {
				case <-exited:
				default:
					cmd.Process.Kill()
					<-exited
				}
			})
			// Up: connected, and past its start (a component fails early on its own).
			testutil.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
				if !proxy.connected() {
					return errors.New("not connected to NATS yet")
				}
				if !strings.Contains(out.String(), "serving") && !strings.Contains(out.String(), "running") {
					return errors.New("not serving yet")
				}
				return nil
			})
			if tc.signal {
				cmd.Process.Signal(os.Interrupt)
			} else {
				proxy.sendErr(t, "Maximum Control Line Exceeded")
			}
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				t.Fatalf("flurry %s still running 20s after its NATS connection closed for good:\n%s", tc.name, out.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != tc.want {
				t.Fatalf("flurry %s exited %d, want %d:\n%s", tc.name, code, tc.want, out.String())
			}
			if !tc.signal && !strings.Contains(out.String(), "NATS connection closed for good") {
				t.Errorf("flurry %s does not say why it stopped:\n%s", tc.name, out.String())
			}
		})
	}
}

// natsErrProxy forwards NATS client connections to a server and can
// inject a server error into them between two protocol messages.
type natsErrProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	clients  []*proxiedNATS
}

// proxiedNATS is one client connection; mu orders the writes to it.
type proxiedNATS struct {
	mu        sync.Mutex
	client    net.Conn
	handshake bool // the server answered the client's first PING
}

func startNATSErrProxy(t *testing.T, upstream string) *natsErrProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &natsErrProxy{ln: ln, upstream: upstream}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.clients {
			c.client.Close()
		}
	})
	go p.accept()
	return p
}

func (p *natsErrProxy) addr() string { return p.ln.Addr().String() }

func (p *natsErrProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		pc := &proxiedNATS{client: c}
		p.mu.Lock()
		p.clients = append(p.clients, pc)
		p.mu.Unlock()
		go func() {
			io.Copy(up, c)
			up.Close()
		}()
		go func() {
			pc.forward(up)
			c.Close()
			up.Close()
		}()
	}
}

// forward copies the server's messages to the client whole, so that an
// injected error never lands inside a message's payload.
func (pc *proxiedNATS) forward(up net.Conn) {
	br := bufio.NewReaderSize(up, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return
		}
		msg := line
		if bytes.HasPrefix(line, []byte("MSG ")) || bytes.HasPrefix(line, []byte("HMSG ")) {
			fields := strings.Fields(string(line))
			n, err := strconv.Atoi(fields[len(fields)-1]) // the total size is last in both
			if err != nil {
				return
			}
			payload := make([]byte, n+2)
			if _, err := io.ReadFull(br, payload); err != nil {
				return
			}
			msg = append(msg, payload...)
		}
		pc.mu.Lock()
		_, err = pc.client.Write(msg)
		if bytes.HasPrefix(line, []byte("PONG")) {
			pc.handshake = true
		}
		pc.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// connected reports whether a client completed its handshake.
func (p *natsErrProxy) connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		c.mu.Lock()
		ok := c.handshake
		c.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// sendErr sends -ERR 'msg' to every client, as the server would.
func (p *natsErrProxy) sendErr(t *testing.T, msg string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		c.mu.Lock()
		_, err := fmt.Fprintf(c.client, "-ERR '%s'\r\n", msg)
		c.mu.Unlock()
		if err != nil {
			t.Logf("inject into %s: %v", c.client.RemoteAddr(), err)
		}
	}
}
