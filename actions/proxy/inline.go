package proxy

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/flurryfn/flurry/actions/gowrap/launch"
	"github.com/flurryfn/flurry/invoker/container"
)

// Inline logs (Config.InlineLogs, ADR 012). The action's output is kept in
// a logBuffer per stream instead of being written to the proxy's stdout and
// stderr, where it would travel through the container engine (shim, engine,
// attach stream) at a cost of several process wake-ups per activation. A
// request that carries InlineLogsHeader gets its activation's lines, up to
// and including the end marker, appended to the response body; the header
// of the answer gives the lengths of the three parts. Any other request (a
// direct /run, a client that gave up) has its lines written to the real
// stdout and stderr as before, so nothing is lost either way.

// maxInlineBytes bounds what one stream buffers between two activations;
// past it lines are dropped (the invoker's log limit is smaller anyway).
const maxInlineBytes = 16 << 20

// logBuffer is one stream's output since the last activation ended,
// timestamped per line as it arrived.
type logBuffer struct {
	mu      sync.Mutex
	buf     []byte // "<nanos> <text>\n" lines; the last may be open
	open    bool   // the last line has no newline yet
	drop    bool   // the open line is being dropped (past the cap)
	marked  int    // end of the first marker line in buf, 0 when none
	dropped bool   // a line was dropped since the last take
	now     func() time.Time
}

func newLogBuffer() *logBuffer { return &logBuffer{now: time.Now} }

// Write records p. A write of exactly the marker line (stream.Mark writes
// it so, always on a line of its own) ends an activation; markers are
// never dropped.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if !b.open && string(p) == container.EndMarker+"\n" {
		b.stamp(p)
		if b.marked == 0 {
			b.marked = len(b.buf)
		}
		return n, nil
	}
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line = p[:i+1]
		}
		p = p[len(line):]
		full := len(b.buf)+len(line)+20 > maxInlineBytes
		switch {
		case !b.open && full:
			b.drop, b.dropped = true, true
		case !b.open:
			b.stamp(line)
		case b.drop:
		case full:
			// End the kept start of the line; drop the rest of it.
			b.buf = append(b.buf, '\n')
			b.drop, b.dropped = true, true
		default:
			b.buf = append(b.buf, line...)
		}
		b.open = line[len(line)-1] != '\n'
		if !b.open {
			b.drop = false
		}
	}
	return n, nil
}

// stamp appends line with the time as its prefix.
func (b *logBuffer) stamp(line []byte) {
	b.buf = strconv.AppendInt(b.buf, b.now().UnixNano(), 10)
	b.buf = append(b.buf, ' ')
	b.buf = append(b.buf, line...)
}

// take removes and returns the lines up to and including the first end
// marker, nil when no activation has ended.
func (b *logBuffer) take() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.marked == 0 {
		return nil
	}
	seg := bytes.Clone(b.buf[:b.marked])
	if b.dropped {
		seg = append(strconv.AppendInt(nil, b.now().UnixNano(), 10), " (the proxy dropped lines beyond its buffer)\n"...)
		seg = append(seg, b.buf[:b.marked]...)
		b.dropped = false
	}
	rest := copy(b.buf, b.buf[b.marked:])
	b.buf = b.buf[:rest]
	b.marked = 0
	// A marker already buffered after the first one (a request that took
	// no logs) ends the next activation.
	if i := bytes.Index(b.buf, []byte(" "+container.EndMarker+"\n")); i >= 0 && lineStart(b.buf, i) {
		b.marked = i + len(container.EndMarker) + 2
	}
	return seg
}

// lineStart reports whether the timestamp before buf[i] starts a line.
func lineStart(buf []byte, i int) bool {
	j := bytes.LastIndexByte(buf[:i], '\n')
	_, err := strconv.ParseInt(string(buf[j+1:i]), 10, 64)
	return err == nil
}

// answer writes an activation's response: body, and when the request asked
// for them and is still waiting, the logs of the activation that just
// ended; otherwise those logs go to the real stdout and stderr.
func (p *server) answer(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	if p.inline[0] == nil {
		writeRaw(w, status, body)
		return
	}
	out, errs := p.inline[0].take(), p.inline[1].take()
	if r.Header.Get(container.InlineLogsHeader) == "" || r.Context().Err() != nil || (out == nil && errs == nil) {
		launch.WriteText(p.cfg.Stdout, out)
		launch.WriteText(p.cfg.Stderr, errs)
		writeRaw(w, status, body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(container.InlineLogsHeader, strconv.Itoa(len(body))+" "+strconv.Itoa(len(out))+" "+strconv.Itoa(len(errs)))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+len(out)+len(errs)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	_, _ = w.Write(out)
	_, _ = w.Write(errs)
}
