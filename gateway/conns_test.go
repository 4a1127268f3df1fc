package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flurryfn/flurry/internal/testutil"
)

func TestConnLimiterBounds(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	l := newConnLimiter(3, 2, 0, slog.New(slog.DiscardHandler))
	steps := []struct {
		name    string
		release bool
		key     netip.Addr
		want    bool
	}{
		{name: "first from a", key: a, want: true},
		{name: "second from a", key: a, want: true},
		{name: "third from a is over the per-address bound", key: a, want: false},
		{name: "first from b", key: b, want: true},
		{name: "first from c is over the total bound", key: c, want: false},
		{name: "a closes one", release: true, key: a},
		{name: "now c fits", key: c, want: true},
		{name: "and a is still at its bound after c took the slot", key: a, want: false},
	}
	for _, s := range steps {
		if s.release {
			l.release(s.key)
			continue
		}
		if got := l.acquire(s.key); got != s.want {
			t.Fatalf("%s: acquire = %v, want %v", s.name, got, s.want)
		}
	}
	if total, fromA := l.open(a); total != 3 || fromA != 1 {
		t.Errorf("open = %d total, %d from a; want 3, 1", total, fromA)
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"127.0.0.2:5000", "127.0.0.2"},
		{"[::ffff:10.1.2.3]:80", "10.1.2.3"},
		{"[2001:db8:1:2:aaaa::1]:80", "2001:db8:1:2::"},
		{"[2001:db8:1:2:bbbb::9]:443", "2001:db8:1:2::"},
	} {
		ta, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := clientKey(ta).String(); got != tc.want {
			t.Errorf("clientKey(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

// serveWith serves a gateway with cfg on loopback and returns its HTTP
// and gRPC addresses.
func serveWith(t *testing.T, cfg Config) (api, grpcAddr string) {
	t.Helper()
	cfg.Log = slog.New(slog.DiscardHandler)
	g, err := New(newFakeBackend(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, apiLn, grpcLn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return apiLn.Addr().String(), grpcLn.Addr().String()
}

// dialFrom opens a TCP connection to addr from the loopback address from.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends a keep-alive GET on c and returns the response's status.
func get(t *testing.T, c net.Conn, br *bufio.Reader) int {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// expectRefusal reads the whole answer on c: a 503 with Retry-After, and
// the connection closed after it.
func expectRefusal(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer from %s: %v", c.LocalAddr(), err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !res.Close {
		t.Fatalf("refusal: %d, Retry-After %q, close %v, %s", res.StatusCode, res.Header.Get("Retry-After"), res.Close, body)
	}
}

// expectClosed waits for the server to close c within d.
func expectClosed(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection from %s still open after %v", c.LocalAddr(), d)
	}
}

func TestServeRefusesConnectionsOverBound(t *testing.T) {
	api, grpcAddr := serveWith(t, Config{MaxConns: 3, MaxConnsPerAddr: 2})
	held := make([]net.Conn, 0, 3)
	for _, from := range []string{"127.0.0.1", "127.0.0.1", "127.0.0.2"} {
		c := dialFrom(t, from, api)
		if code := get(t, c, bufio.NewReader(c)); code != http.StatusOK {
			t.Fatalf("GET from %s: %d", from, code)
		}
		held = append(held, c)
	}
	// Over the per-address bound, then over the total bound from a new address.
	expectRefusal(t, dialFrom(t, "127.0.0.1", api))
	expectRefusal(t, dialFrom(t, "127.0.0.3", api))
	// The gRPC listener shares the bound and refuses by closing.
	expectClosed(t, dialFrom(t, "127.0.0.3", grpcAddr), 2*time.Second)

	held[0].Close()
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		c := dialFrom(t, "127.0.0.3", api)
		defer c.Close()
		br := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(c, "GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d after a slot was freed", res.StatusCode)
		}
		return nil
	})
}

func TestServeClosesIdleAndSlowConnections(t *testing.T) {
	const timeout = 300 * time.Millisecond
	api, grpcAddr := serveWith(t, Config{ReadHeaderTimeout: timeout, ReadBodyTimeout: timeout,
		BodyMinRate: 10_000, IdleTimeout: timeout, WriteTimeout: timeout})
	within := 10 * timeout

	t.Run("idle keep-alive", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", api)
		if code := get(t, c, bufio.NewReader(c)); code != http.StatusOK {
			t.Fatalf("GET: %d", code)
		}
		expectClosed(t, c, within)
	})
	t.Run("slow headers", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", api)
		io.WriteString(c, "GET /api/v1/openapi.json HTTP/1.1\r\n")
		expectClosed(t, c, within)
	})
	t.Run("slow body", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", api)
		io.WriteString(c, "POST /api/v1/namespaces/_/actions/hello?blocking=true HTTP/1.1\r\nHost: x\r\n"+
			"Authorization: "+basic(testAuth)+"\r\nContent-Length: 1000\r\n\r\n{")
		stop := make(chan struct{})
		defer close(stop)
		go func() { // a byte every 100 ms, far under BodyMinRate
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					if _, err := io.WriteString(c, " "); err != nil {
						return
					}
				}
			}
		}()
		expectClosed(t, c, within)
	})
	t.Run("body at the minimum rate outlasting the grace", func(t *testing.T) {
		pad := strings.Repeat("x", 8000)
		body := `{"pad":"` + pad + `"}`
		c := dialFrom(t, "127.0.0.1", api)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, fmt.Sprintf("POST /api/v1/namespaces/_/actions/hello?blocking=true HTTP/1.1\r\nHost: x\r\n"+
			"Authorization: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", basic(testAuth), len(body)))
		start := time.Now()
		for i := 0; i < len(body); i += 100 { // 20,000 bytes/s: twice BodyMinRate, over 0.4 s
			io.WriteString(c, body[i:min(i+100, len(body))])
			time.Sleep(5 * time.Millisecond) // pacing the sender, not waiting for a result
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || time.Since(start) < timeout {
			t.Fatalf("status %d after %v", res.StatusCode, time.Since(start))
		}
	})
	t.Run("client that does not read", func(t *testing.T) {
		// Far more answers than the sockets' buffers hold, then no reading
		// for a while: the server must give up on the stalled write.
		const n = 2000
		c := dialFrom(t, "127.0.0.1", api)
		go func() {
			for i := 0; i < n; i++ {
				if _, err := io.WriteString(c, "GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					return
				}
			}
		}()
		time.Sleep(within) // the client not reading is the scenario
		br := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got := 0
		for ; got < n; got++ {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				break
			}
			if _, err := io.Copy(io.Discard, res.Body); err != nil {
				break
			}
			res.Body.Close()
		}
		if got == n {
			t.Fatalf("all %d answers arrived: the stalled connection was kept", n)
		}
	})
	t.Run("grpc without a handshake", func(t *testing.T) {
		expectClosed(t, dialFrom(t, "127.0.0.1", grpcAddr), within)
	})
	t.Run("grpc without an RPC", func(t *testing.T) {
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.Connect()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for s := conn.GetState(); s != connectivity.Ready; s = conn.GetState() {
			if !conn.WaitForStateChange(ctx, s) {
				t.Fatal("gRPC connection never ready")
			}
		}
		// The server's GOAWAY after IdleTimeout moves the client off Ready.
		if !conn.WaitForStateChange(ctx, connectivity.Ready) {
			t.Fatal("idle gRPC connection still open after 20s")
		}
	})
}
