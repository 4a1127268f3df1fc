package launch

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// stripped is take's output without the arrival stamps.
func stripped(t *testing.T, seg []byte) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(seg), "\n") {
		if line == "" {
			continue
		}
		stamp, text, ok := strings.Cut(line, " ")
		if !ok || stamp == "" || strings.Trim(stamp, "0123456789") != "" {
			t.Fatalf("line %q has no stamp", line)
		}
		b.WriteString(text)
	}
	return b.String()
}

func TestCaptureLines(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rc, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	c := &capture{rc: rc, rbuf: make([]byte, 8)} // small reads split lines
	go c.copy()

	// Nothing written: the marker alone.
	if got := stripped(t, c.take()); got != EndMarker+"\n" {
		t.Errorf("empty take = %q", got)
	}
	// Lines across reads, an open last line closed before the marker;
	// take drains what the copier has not read yet.
	w.WriteString("first line\nsecond ")
	w.WriteString("half\nno newline")
	if got, want := stripped(t, c.take()), "first line\nsecond half\nno newline\n"+EndMarker+"\n"; got != want {
		t.Errorf("take = %q, want %q", got, want)
	}
	// The next activation starts empty.
	w.WriteString("again\n")
	if got, want := stripped(t, c.take()), "again\n"+EndMarker+"\n"; got != want {
		t.Errorf("second take = %q, want %q", got, want)
	}
}

func TestCaptureDropsPastTheCap(t *testing.T) {
	c := &capture{}
	now := time.Unix(1, 0)
	c.buf = make([]byte, maxCaptured)
	c.add([]byte("dropped line\n"), now)
	if !c.dropped || len(c.buf) != maxCaptured {
		t.Fatalf("dropped=%v len=%d", c.dropped, len(c.buf))
	}
	c.buf = c.buf[:0]
	c.add([]byte("kept\n"), now)
	if got := string(c.buf); got != "1000000000 kept\n" {
		t.Errorf("buf = %q", got)
	}
}

func TestAnswer(t *testing.T) {
	got := string(answer(nil, http.StatusOK, []byte(`{}`), []byte("o\n"), []byte("e\n")))
	want := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 6\r\n" +
		LogsHeader + ": 2 2 2\r\n\r\n{}o\ne\n"
	if got != want {
		t.Errorf("answer = %q, want %q", got, want)
	}
	got = string(answer(nil, http.StatusBadRequest, []byte(`{"error":"x"}`), nil, nil))
	if !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request\r\n") || strings.Contains(got, LogsHeader) ||
		!bytes.HasSuffix([]byte(got), []byte("\r\n\r\n{\"error\":\"x\"}")) {
		t.Errorf("error answer = %q", got)
	}
}
