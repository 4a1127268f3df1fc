package gowrap

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flurryfn/flurry/actions/proxy"
	"github.com/flurryfn/flurry/invoker/container"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUnderProxy runs built examples the way a runtime container does:
// behind the actionloop proxy.
func TestUnderProxy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		example string
		status  int
		want    string // in the response body
		logs    string // stdout before the marker
	}{
		{"hello", http.StatusOK, `{"greeting":"Hello, Ada!"}`, "greeting Ada\n"},
		{"crash", http.StatusBadGateway, "exited with status 3", "about to crash\n"},
		{"garbage", http.StatusBadGateway, "did not return a JSON object", "writing garbage\n"},
	}
	for _, tt := range tests {
		t.Run(tt.example, func(t *testing.T) {
			t.Parallel()
			exe := build(t, filepath.Join("..", "examples", tt.example), "")
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			stdout := &lockedBuffer{}
			done := make(chan error, 1)
			go func() {
				done <- proxy.Serve(ctx, ln, proxy.Config{Dir: filepath.Join(t.TempDir(), "a"), Stdout: stdout})
			}()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			})
			url := "http://" + ln.Addr().String()
			post := func(path string, body any) (int, string) {
				b, _ := json.Marshal(body)
				resp, err := http.Post(url+path, "application/json", bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				out, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(out)
			}
			if st, body := post("/init", map[string]any{"value": map[string]any{
				"name": tt.example, "binary": true, "code": base64.StdEncoding.EncodeToString(exe),
			}}); st != http.StatusOK {
				t.Fatalf("init: %d %s", st, body)
			}
			st, body := post("/run", value(map[string]any{"name": "Ada"}))
			if st != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("run: %d %s; want %d with %s", st, body, tt.status, tt.want)
			}
			if got, want := stdout.String(), tt.logs+container.EndMarker+"\n"; got != want {
				t.Errorf("stdout = %q, want %q", got, want)
			}
		})
	}
}
