package launch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testServer serves action on a unix socket in a temporary directory, its
// output captured from pipes of its own (not the test's stdout), and
// returns a connection to it.
func testServer(t testing.TB, action Action) net.Conn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &server{ln: ln, action: action, origOut: os.Stdout, origErrs: os.Stderr}
	s.out, s.errs = testCapture(t), testCapture(t)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serveConn(conn)
		}
	}()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// testCapture is a capture of a pipe nobody writes.
func testCapture(t testing.TB) *capture {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	rc, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	c := &capture{rc: rc, rbuf: make([]byte, 32<<10)}
	go c.copy()
	return c
}

// runRequest is the request the invoker's client sends (invoker/container).
func runRequest(body string, logs bool) []byte {
	b := []byte("POST /run HTTP/1.1\r\nHost: action\r\nContent-Type: application/json\r\n")
	if logs {
		b = append(b, LogsHeader+": 1\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

const noopBody = `{"value":{"name":"bench"},"namespace":"guest","action_name":"noop","action_version":"0.0.1",` +
	`"activation_id":"0e5b2a7c1f3d4e6a8b9c0d1e2f3a4b5c","deadline":"1764979200000"}`

// BenchmarkDirectRun is one no-op activation through the direct-run
// server, over a unix socket, as the invoker sends it: the launcher's own
// cost per call, without the wake-up of an idle process.
func BenchmarkDirectRun(b *testing.B) {
	conn := testServer(b, func(map[string]interface{}) map[string]interface{} { return nil })
	req := runRequest(noopBody, true)
	br := bufio.NewReader(conn)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatal(resp.Status)
		}
	}
}

// An answer larger than the socket's buffer waits in the poller until the
// client reads; a request the server cannot read gets a status and a
// message, and the connection closes.
func TestServeConn(t *testing.T) {
	big := strings.Repeat("x", 900<<10) // over a socket's buffer, under the result limit
	conn := testServer(t, func(map[string]interface{}) map[string]interface{} {
		return map[string]interface{}{"big": big}
	})
	br := bufio.NewReader(conn)
	for i := 0; i < 2; i++ {
		if _, err := conn.Write(runRequest(noopBody, true)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // let the server fill the socket
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte(`{"big":"`+big+`"}`)) {
			t.Fatalf("answer %d: %s, %d bytes, %v", i, resp.Status, len(body), err)
		}
	}

	if _, err := conn.Write([]byte("POST /run HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	if resp.StatusCode != http.StatusLengthRequired || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "Content-Length") {
		t.Errorf("chunked request: %s %s", resp.Status, body)
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after a bad request the connection gave %d bytes, %v; want it closed", n, err)
	}
}

// TestOversizedResult: a result over the platform's limit is answered as
// the application error the invoker would make of it, without sending it.
func TestOversizedResult(t *testing.T) {
	big := strings.Repeat("x", maxResultBytes)
	conn := testServer(t, func(map[string]interface{}) map[string]interface{} {
		return map[string]interface{}{"big": big}
	})
	if _, err := conn.Write(runRequest(noopBody, true)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`exceeded the allowed length: 1048586`)) {
		t.Fatalf("answer %s: %.200s", resp.Status, body)
	}
}
