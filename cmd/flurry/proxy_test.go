package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// A unix listen replaces a stale socket file and leaves the socket open to
// the invoker, which is not the container's user.
func TestListenProxyUnix(t *testing.T) {
	dir, err := os.MkdirTemp("", "fl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "proxy.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := listenProxy("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket: %v %v, want a socket with mode 0666", fi.Mode(), err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	tcp, err := listenProxy("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp.Close()
	if _, err := listenProxy("unix:" + filepath.Join(dir, "missing", "proxy.sock")); err == nil {
		t.Error("listen in a missing directory succeeded")
	}
}
