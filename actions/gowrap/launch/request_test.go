package launch

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestReadRequest(t *testing.T) {
	tests := []struct {
		name, in string
		want     request
	}{
		{"the invoker's", string(runRequest(`{"value":{}}`, true)),
			request{post: true, run: true, logs: true, body: []byte(`{"value":{}}`)}},
		{"without logs", string(runRequest(`{}`, false)),
			request{post: true, run: true, body: []byte(`{}`)}},
		{"bare newlines, lower case, a query", "POST /run?x=1 HTTP/1.1\ncontent-length: 2\nflurry-logs: 1\n\n{}",
			request{post: true, run: true, logs: true, body: []byte(`{}`)}},
		{"closing", "POST /run HTTP/1.1\r\nConnection: Close\r\nContent-Length: 2\r\n\r\n{}",
			request{post: true, run: true, close: true, body: []byte(`{}`)}},
		{"HTTP/1.0", "POST /run HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}",
			request{post: true, run: true, close: true, body: []byte(`{}`)}},
		{"HTTP/1.0 kept alive", "POST /run HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}",
			request{post: true, run: true, body: []byte(`{}`)}},
		{"no body", "GET /init HTTP/1.1\r\nHost: x\r\n\r\n", request{body: []byte{}}},
		{"the same length twice", "POST /run HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
			request{post: true, run: true, body: []byte(`{}`)}},
	}
	for _, tt := range tests {
		got, err := readRequest(bufio.NewReader(strings.NewReader(tt.in)), nil)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got.post != tt.want.post || got.run != tt.want.run || got.logs != tt.want.logs ||
			got.close != tt.want.close || string(got.body) != string(tt.want.body) {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestReadRequestErrors(t *testing.T) {
	tests := []struct {
		name, in string
		status   int
		msg      string
	}{
		{"no protocol", "POST /run\r\n\r\n", http.StatusBadRequest, "malformed HTTP request line"},
		{"HTTP/2", "POST /run HTTP/2.0\r\n\r\n", http.StatusBadRequest, "malformed HTTP request line"},
		{"a header without a colon", "POST /run HTTP/1.1\r\nContent-Length 2\r\n\r\n{}", http.StatusBadRequest, "malformed HTTP header line"},
		{"a bad length", "POST /run HTTP/1.1\r\nContent-Length: -1\r\n\r\n", http.StatusBadRequest, "malformed Content-Length"},
		{"two lengths", "POST /run HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", http.StatusBadRequest, "malformed Content-Length"},
		{"chunked", "POST /run HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", http.StatusLengthRequired, "Content-Length"},
		{"too large", "POST /run HTTP/1.1\r\nContent-Length: 67108865\r\n\r\n", http.StatusRequestEntityTooLarge, "over 64 MiB"},
		{"a short body", "POST /run HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}", http.StatusBadRequest, "read run request"},
		{"cut off in the head", "POST /run HTTP/1.1\r\nContent-Le", http.StatusBadRequest, "cut off"},
		{"a huge head", "POST /run HTTP/1.1\r\nX: " + strings.Repeat("a", maxHeader) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge, "over 64 KiB"},
		{"many headers", "POST /run HTTP/1.1\r\n" + strings.Repeat("X: a\r\n", maxHeader/6+1) + "\r\n", http.StatusRequestHeaderFieldsTooLarge, "over 64 KiB"},
	}
	for _, tt := range tests {
		_, err := readRequest(bufio.NewReaderSize(strings.NewReader(tt.in), maxHeader), nil)
		var bad *requestError
		if !errors.As(err, &bad) || bad.status != tt.status || !strings.Contains(bad.msg, tt.msg) {
			t.Errorf("%s: %v, want %d with %q", tt.name, err, tt.status, tt.msg)
		}
	}
	// A connection that ends between requests is no error to answer.
	if _, err := readRequest(bufio.NewReader(strings.NewReader("")), nil); err != io.EOF {
		t.Errorf("empty connection: %v, want io.EOF", err)
	}
}

// Requests follow each other on one connection, the body's buffer reused.
func TestReadRequestsInTurn(t *testing.T) {
	in := string(runRequest(`{"a":1}`, true)) + string(runRequest(`{}`, false))
	br := bufio.NewReader(strings.NewReader(in))
	first, err := readRequest(br, nil)
	if err != nil || string(first.body) != `{"a":1}` {
		t.Fatalf("first: %+v, %v", first, err)
	}
	second, err := readRequest(br, first.body)
	if err != nil || string(second.body) != `{}` || second.logs || &second.body[0] != &first.body[0] {
		t.Fatalf("second: %+v, %v", second, err)
	}
	if _, err := readRequest(br, second.body); err != io.EOF {
		t.Fatalf("after the last: %v", err)
	}
}
