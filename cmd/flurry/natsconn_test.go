package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/internal/broker"
)

// fakeNATS accepts one client, completes the NATS handshake with it, then
// sends it what fail says (nothing when empty) and keeps it open.
func fakeNATS(t *testing.T, fail string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, `INFO {"server_id":"fake","version":"2.10.0","proto":1,"max_payload":1048576,"headers":true}`+"\r\n")
		br := bufio.NewReader(c)
		for { // CONNECT, then PING
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(line, "PING") {
				break
			}
		}
		io.WriteString(c, "PONG\r\n"+fail)
		io.Copy(io.Discard, br)
	}()
	return "nats://" + ln.Addr().String()
}

func TestCancelOnClose(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name     string
		fail     string // what the server sends after the handshake
		shutdown bool   // the command is stopped before the connection closes
		wantErr  bool
	}{
		{name: "server error closes the connection for good", fail: "-ERR 'Maximum Control Line Exceeded'\r\n", wantErr: true},
		{name: "normal shutdown", shutdown: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, stopParent := context.WithCancel(context.Background())
			defer stopParent()
			nc, err := connect(parent, fakeNATS(t, tc.fail), "test", log)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			ctx, stop := cancelOnClose(parent, nc, log)
			defer stop()
			if tc.shutdown {
				stopParent()
				nc.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("context not cancelled 10s after the connection closed")
			}
			err = natsClosedErr(ctx, nil)
			if got := errors.Is(err, errNATSClosed); got != tc.wantErr {
				t.Fatalf("natsClosedErr = %v, want errNATSClosed: %v", err, tc.wantErr)
			}
			if tc.wantErr && !strings.Contains(strings.ToLower(err.Error()), "maximum control line") {
				t.Errorf("error %q does not say why the connection closed", err)
			}
		})
	}
}

func TestCancelOnBrokerStop(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name     string
		shutdown bool // the command is stopped before the server
		wantErr  bool
	}{
		{name: "server shut down on its own", wantErr: true},
		{name: "normal shutdown", shutdown: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := broker.Start(broker.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:-1"})
			if err != nil {
				t.Fatal(err)
			}
			parent, stopParent := context.WithCancel(context.Background())
			defer stopParent()
			ctx, stop := cancelOnBrokerStop(parent, b.Done(), log)
			defer stop()
			if tc.shutdown {
				stopParent()
			}
			b.Shutdown()
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("context not cancelled 10s after the server shut down")
			}
			if got := errors.Is(natsClosedErr(ctx, nil), errBrokerStopped); got != tc.wantErr {
				t.Fatalf("natsClosedErr = %v, want errBrokerStopped: %v", natsClosedErr(ctx, nil), tc.wantErr)
			}
		})
	}
}

// A component that fails on the closed connection before the closed
// handler has run still makes the command say why it stopped.
func TestNATSClosedErrBeforeHandler(t *testing.T) {
	err := natsClosedErr(context.Background(), fmt.Errorf("open kv: %w", nats.ErrConnectionClosed))
	if !errors.Is(err, errNATSClosed) {
		t.Fatalf("natsClosedErr = %v, want errNATSClosed", err)
	}
	if err := natsClosedErr(context.Background(), errors.New("other")); errors.Is(err, errNATSClosed) {
		t.Fatalf("natsClosedErr(other) = %v", err)
	}
}
