package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// This file bounds how slowly a client may send a request body. A fixed
// deadline for the whole body would cut off a large action upload on a
// slow link, so the deadline grows with what has arrived (as Apache's
// mod_reqtimeout does): ReadBodyTimeout, plus a second per BodyMinRate
// bytes received. Once the body is read the deadline is lifted: a
// blocking invoke may then wait a minute for its result, and net/http
// watches the idle connection for the client going away meanwhile.

// errSlowBody is why a body read stopped: the client sent it more slowly
// than Config.BodyMinRate allows.
var errSlowBody = errors.New("request body sent too slowly")

// boundBodyRead applies the body deadline to requests that have a body.
func (g *Gateway) boundBodyRead(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		b := &rateBody{
			ReadCloser: r.Body,
			rc:         http.NewResponseController(w),
			start:      time.Now(),
			grace:      g.cfg.ReadBodyTimeout,
			minRate:    g.cfg.BodyMinRate,
			length:     r.ContentLength,
		}
		if b.rc.SetReadDeadline(b.start.Add(b.grace)) != nil {
			next.ServeHTTP(w, r) // a writer without deadlines (not a server connection)
			return
		}
		r.Body = b
		next.ServeHTTP(w, r)
	})
}

// rateBody moves the connection's read deadline as the body arrives. It
// is read by one goroutine, the handler's.
type rateBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	grace   time.Duration
	minRate int64
	length  int64 // -1 when not declared (chunked)
	read    int64
	done    bool
}

func (b *rateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	switch {
	case b.done:
	case err == io.EOF || (err == nil && b.length >= 0 && b.read >= b.length):
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		// The deadline stays: net/http discards what is left of the body
		// before it would reuse the connection, and must not wait for it.
		b.done = true
	case n > 0:
		b.rc.SetReadDeadline(b.start.Add(b.grace + time.Duration(b.read)*time.Second/time.Duration(b.minRate)))
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("%w: %d bytes in %v: %w", errSlowBody, b.read, time.Since(b.start).Round(time.Millisecond), err)
	}
	return n, err
}
