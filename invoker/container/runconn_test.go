package container

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// answerSamples are answers to /run as the launcher, the proxy
// (net/http) and odd or broken actions might write them, each followed by
// the start of a next answer that must stay unread.
var answerSamples = []string{
	// The launcher: plain, and with inline logs.
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\nFlurry-Logs: 2 4 3\r\n\r\n{}out\nerr",
	"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"error\":\"x\"}",
	// The proxy, through net/http.
	"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Type: application/json\r\nDate: Sun, 06 Dec 2026 05:00:00 GMT\r\n\r\n{\"a\":1}",
	"HTTP/1.1 200 OK\r\ncontent-length:  3 \r\nconnection: close\r\n\r\nabc",
	"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
	// Left to net/http.
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
	"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
	"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\n{}",
	"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\n{}",
	"HTTP/1.1 200 OK\r\n\r\n{}",
	// Broken: net/http's errors stand.
	"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}",
	"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}",
	"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n{}",
	"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{}",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
	"garbage\r\n\r\n",
	"",
}

const nextAnswer = "HTTP/1.1 200 OK\r\n"

// TestReadPlainAnswerAgreesWithNetHTTP: an answer read plainly is what
// net/http reads of it, and one left to net/http is not read at all.
func TestReadPlainAnswerAgreesWithNetHTTP(t *testing.T) {
	for i, a := range answerSamples {
		// The first six, and the one whose body is cut short (its read
		// fails, as with net/http).
		want := i < 6 || strings.Contains(a, "Content-Length: 99")
		if got := checkPlainAnswer(t, []byte(a+nextAnswer)); got != want {
			t.Errorf("%q: read plainly %v, want %v", a, got, want)
		}
	}
}

func FuzzReadPlainAnswer(f *testing.F) {
	for _, a := range answerSamples {
		f.Add([]byte(a + nextAnswer))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkPlainAnswer(t, data) })
}

// checkPlainAnswer reads data with readPlainAnswer and with net/http and
// fails t where they disagree; it reports whether data was read plainly.
func checkPlainAnswer(t *testing.T, data []byte) bool {
	t.Helper()
	br := bufio.NewReaderSize(bytes.NewReader(data), 256)
	got, err := readPlainAnswer(br)
	want, wantErr := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
	switch {
	case err != nil:
		if wantErr == nil {
			t.Fatalf("%q: error %v, net/http reads it", data, err)
		}
		return false
	case got == nil:
		rest, _ := io.ReadAll(br)
		if !bytes.Equal(rest, data) {
			t.Fatalf("%q: left to net/http, but %d bytes were read", data, len(data)-len(rest))
		}
		return false
	case wantErr != nil:
		t.Fatalf("%q: read plainly, net/http says %v", data, wantErr)
	}
	if got.StatusCode != want.StatusCode || got.Close != want.Close || got.ContentLength != want.ContentLength ||
		got.Header.Get(InlineLogsHeader) != want.Header.Get(InlineLogsHeader) {
		t.Fatalf("%q: status %d close %v length %d logs %q; net/http %d %v %d %q", data,
			got.StatusCode, got.Close, got.ContentLength, got.Header.Get(InlineLogsHeader),
			want.StatusCode, want.Close, want.ContentLength, want.Header.Get(InlineLogsHeader))
	}
	gotBody, gotErr := io.ReadAll(got.Body)
	wantBody, wantErr := io.ReadAll(want.Body)
	if !bytes.Equal(gotBody, wantBody) || !errors.Is(gotErr, wantErr) && !(gotErr != nil && wantErr != nil) {
		t.Fatalf("%q: body %q (%v), net/http %q (%v)", data, gotBody, gotErr, wantBody, wantErr)
	}
	return true
}

// TestReadPlainAnswerLeavesTheNext: the bytes after an answer's body are
// the next answer's, unread.
func TestReadPlainAnswerLeavesTheNext(t *testing.T) {
	a := answerSamples[1]
	br := bufio.NewReaderSize(strings.NewReader(a+a), 256)
	for range 2 {
		resp, err := readPlainAnswer(br)
		if err != nil || resp == nil {
			t.Fatalf("answer %v, %v", resp, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "{}out\nerr" {
			t.Fatalf("body %q, %v", body, err)
		}
	}
	if n, _ := br.Read(make([]byte, 1)); n != 0 {
		t.Errorf("bytes left after two answers")
	}
}

// TestReadPlainAnswerHeadTooLarge: a head beyond the reader's buffer goes
// to net/http, unread.
func TestReadPlainAnswerHeadTooLarge(t *testing.T) {
	a := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("x", 300) + "\r\nContent-Length: 2\r\n\r\n{}"
	br := bufio.NewReaderSize(strings.NewReader(a), 256)
	resp, err := readPlainAnswer(br)
	if resp != nil || err != nil || br.Buffered() != 256 {
		t.Fatalf("answer %v, %v, %d buffered", resp, err, br.Buffered())
	}
}

func BenchmarkReadAnswer(b *testing.B) {
	data := []byte(answerSamples[1])
	for _, bc := range []struct {
		name string
		read func(*bufio.Reader) (*http.Response, error)
	}{
		{"plain", readPlainAnswer},
		{"net-http", func(br *bufio.Reader) (*http.Response, error) { return http.ReadResponse(br, nil) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := bytes.NewReader(data)
			br := bufio.NewReaderSize(r, 64<<10)
			for b.Loop() {
				r.Reset(data)
				br.Reset(r)
				resp, err := bc.read(br)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
			}
		})
	}
}
