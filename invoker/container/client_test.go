package container_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/invoker/container"
)

// fakeProxy is a minimal action proxy: /init once, /run echoes the request.
func fakeProxy(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var inits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /init", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Value struct {
				Code   string `json:"code"`
				Binary bool   `json:"binary"`
			} `json:"value"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if body.Value.Code == "bad" {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "plain failure\n")
			return
		}
		if inits.Add(1) > 1 {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":"Cannot initialize the action more than once."}`)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	mux.HandleFunc("POST /run", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var v map[string]any
		_ = json.Unmarshal(body["value"], &v)
		switch {
		case v["big"] != nil:
			_, _ = io.WriteString(w, `{"x":"`+strings.Repeat("a", 2*entity.MaxPayloadBytes)+`"}`)
		case v["sleep"] != nil:
			<-r.Context().Done()
		case v["fail"] != nil:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, `{"error":"boom"}`)
		default:
			_ = json.NewEncoder(w).Encode(body)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &inits
}

// fakeProxyAddr serves fakeProxy's handler on a unix socket too when
// network is "unix", and returns the address for NewClient and a count of
// the connections the server accepted.
func fakeProxyAddr(t *testing.T, network string) (string, *atomic.Int32) {
	t.Helper()
	srv, _ := fakeProxy(t)
	if network == "tcp" {
		return strings.TrimPrefix(srv.URL, "http://"), nil
	}
	dir, err := os.MkdirTemp("", "fl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "proxy.sock"))
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	us := &http.Server{Handler: srv.Config.Handler, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}}
	go func() { _ = us.Serve(ln) }()
	t.Cleanup(func() { us.Close() })
	return "unix:" + ln.Addr().String(), &conns
}

func TestClientInit(t *testing.T) {
	srv, _ := fakeProxy(t)
	c := container.NewClient(strings.TrimPrefix(srv.URL, "http://"))
	defer c.Close()
	ctx := context.Background()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		code    string
		status  int
		message string
	}{
		{"first", "x", 0, ""},
		{"second is forbidden", "x", 403, "Cannot initialize the action more than once."},
		{"plain text error", "bad", 502, "plain failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Init(ctx, container.InitRequest{Name: "a", Main: "main", Code: tt.code})
			if tt.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae *container.ActionError
			if !errors.As(err, &ae) || ae.StatusCode != tt.status || ae.Message != tt.message {
				t.Fatalf("got %v, want ActionError %d %q", err, tt.status, tt.message)
			}
		})
	}
}

// TestClientRun runs over TCP (net/http's Transport) and over a unix
// socket (the client's own connections, ADR 014).
func TestClientRun(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) { testClientRun(t, network) })
	}
}

func testClientRun(t *testing.T, network string) {
	addr, conns := fakeProxyAddr(t, network)
	c := container.NewClient(addr)
	defer c.Close()
	ctx := context.Background()

	t.Run("fields", func(t *testing.T) {
		resp, err := c.Run(ctx, container.RunRequest{
			Value: json.RawMessage(`{"a":1}`), Namespace: "ns", ActionName: "act",
			ActionVersion: "0.0.1", ActivationID: "id1", Deadline: 1234, APIKey: "k",
		})
		if err != nil || resp.StatusCode != 200 || resp.Truncated {
			t.Fatalf("run: %+v %v", resp, err)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(resp.Body, &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"value": `{"a":1}`, "namespace": `"ns"`, "action_name": `"act"`,
			"action_version": `"0.0.1"`, "activation_id": `"id1"`, "deadline": `"1234"`, "api_key": `"k"`}
		for k, v := range want {
			if string(got[k]) != v {
				t.Errorf("%s = %s, want %s", k, got[k], v)
			}
		}
	})
	t.Run("empty value is an object", func(t *testing.T) {
		resp, err := c.Run(ctx, container.RunRequest{})
		if err != nil || !strings.Contains(string(resp.Body), `"value":{}`) {
			t.Fatalf("run: %s %v", resp.Body, err)
		}
	})
	t.Run("developer error is a response", func(t *testing.T) {
		resp, err := c.Run(ctx, container.RunRequest{Value: json.RawMessage(`{"fail":1}`)})
		if err != nil || resp.StatusCode != 502 || string(resp.Body) != `{"error":"boom"}` {
			t.Fatalf("run: %+v %v", resp, err)
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		resp, err := c.Run(ctx, container.RunRequest{Value: json.RawMessage(`{"big":1}`)})
		if err != nil || !resp.Truncated || resp.Body != nil || resp.Size != int64(2*entity.MaxPayloadBytes+8) {
			t.Fatalf("run: truncated=%v size=%d %v", resp.Truncated, resp.Size, err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := c.Run(ctx, container.RunRequest{Value: json.RawMessage(`{"sleep":1}`)})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want deadline exceeded", err)
		}
	})
	t.Run("after a timeout", func(t *testing.T) {
		resp, err := c.Run(ctx, container.RunRequest{Value: json.RawMessage(`{"a":2}`)})
		if err != nil || !strings.Contains(string(resp.Body), `"value":{"a":2}`) {
			t.Fatalf("run: %s %v", resp.Body, err)
		}
	})
	if conns == nil {
		return
	}
	// Answers read to the end (the oversized one too: it is counted to
	// its end) leave their connection for the next request; the timeout
	// costs one, so the subtests above used two.
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
	before := conns.Load()
	for range 5 {
		if _, err := c.Run(ctx, container.RunRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != before {
		t.Errorf("5 sequential runs opened %d connections, want 0", n-before)
	}
}

func TestClientWaitReady(t *testing.T) {
	// Reserve a port, free it, and start serving on it only later.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := container.NewClient(addr)
	defer c.Close()

	t.Run("gives up when ctx is done", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		if err := c.WaitReady(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("returns once serving", func(t *testing.T) {
		done := make(chan error, 1)
		go func() { done <- c.WaitReady(context.Background()) }()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("port reused meanwhile: %v", err)
		}
		srv := &http.Server{Handler: http.NotFoundHandler()}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
