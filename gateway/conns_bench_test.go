package gateway

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkConnHygiene compares a request through the connection bounds
// and the body deadline with one through a bare http.Server, on a kept
// connection (the warm path) and on a new connection per request.
func BenchmarkConnHygiene(b *testing.B) {
	const body = `{"name":"bench"}`
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"ok":true}`))
	})
	g := &Gateway{cfg: Config{Log: slog.New(slog.DiscardHandler)}.WithDefaults()}
	for _, mode := range []struct {
		name    string
		bounded bool
	}{{"bare", false}, {"bounded", true}} {
		for _, conn := range []struct {
			name      string
			keepAlive bool
		}{{"keepalive", true}, {"newconn", false}} {
			b.Run(conn.name+"/"+mode.name, func(b *testing.B) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				hs := &http.Server{Handler: echo, ReadHeaderTimeout: time.Minute}
				if mode.bounded {
					lim := newConnLimiter(1<<20, 1<<20, time.Minute, g.cfg.Log)
					ln = lim.listener(ln, "http", lim.refuseHTTP(refusalResponse(time.Second)))
					hs.Handler = g.boundBodyRead(echo)
					hs.IdleTimeout = time.Minute
				}
				go hs.Serve(ln)
				defer hs.Close()
				tr := &http.Transport{DisableKeepAlives: !conn.keepAlive, MaxIdleConnsPerHost: 64}
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr}
				url := "http://" + ln.Addr().String() + "/"
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						res, err := client.Post(url, "application/json", strings.NewReader(body))
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
				})
			})
		}
	}
}

// BenchmarkConnLimiterAcquire is the bound's cost per accepted connection.
func BenchmarkConnLimiterAcquire(b *testing.B) {
	lim := newConnLimiter(1<<20, 1<<20, 0, slog.New(slog.DiscardHandler))
	key := clientKey(&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if lim.acquire(key) {
				lim.release(key)
			}
		}
	})
}

// BenchmarkBodyDeadline is the body deadline's cost per request with a
// body read in one piece: two moves of the connection's read deadline.
func BenchmarkBodyDeadline(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < b.N; i++ {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		c.SetReadDeadline(time.Time{})
	}
}
