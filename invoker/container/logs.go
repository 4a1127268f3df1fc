package container

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// maxLineBytes splits longer lines so one runaway line cannot grow a
	// buffer without bound.
	maxLineBytes = 1 << 20
	// maxBufferedBytes is the hard cap of text buffered per stream between
	// two Collect calls; past it lines are dropped (and counted) so the
	// readers never block the container.
	maxBufferedBytes = 16 << 20
	// timeLayout is OpenWhisk's fixed-width log timestamp.
	timeLayout = "2006-01-02T15:04:05.000000000Z"
)

// LogCollector reads a container's stdout and stderr continuously and hands
// out, per activation, the lines each stream printed up to its next
// EndMarker. It is safe for concurrent use; Collect calls are served one at
// a time, in order.
type LogCollector struct {
	collectMu sync.Mutex // serializes Collect

	mu      sync.Mutex
	streams [2]*logStream
	changed chan struct{} // closed and replaced on every change
}

type logLine struct {
	at   time.Time
	text string
}

// logStream is one stream's state; fields are guarded by LogCollector.mu.
type logStream struct {
	name    string
	lines   []logLine // lines not yet collected, up to the first marker
	bytes   int       // text bytes in lines
	dropped int       // lines dropped at the hard cap since the last Collect
	markers int       // markers seen and not yet consumed
	// after[i] are the lines that followed the i-th pending marker.
	after [][]logLine
	// skip counts markers still owed to activations whose Collect gave up
	// before the marker arrived; such a marker and the lines before it
	// belong to that old activation and are dropped.
	skip int
	eof  bool
}

// NewLogCollector starts reading stdout and stderr; it reads until each
// stream ends. Streams may be nil (treated as already ended).
func NewLogCollector(stdout, stderr io.Reader) *LogCollector {
	l := &LogCollector{changed: make(chan struct{})}
	for i, s := range []struct {
		name string
		r    io.Reader
	}{{"stdout", stdout}, {"stderr", stderr}} {
		st := &logStream{name: s.name}
		l.streams[i] = st
		if s.r == nil {
			st.eof = true
			continue
		}
		go l.read(st, s.r)
	}
	return l
}

func (l *LogCollector) read(st *logStream, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	sc.Split(splitLines)
	for sc.Scan() {
		l.mu.Lock()
		st.line(time.Now().UTC(), sc.Text())
		l.notifyLocked()
		l.mu.Unlock()
	}
	l.mu.Lock()
	st.eof = true
	l.notifyLocked()
	l.mu.Unlock()
}

// Feed adds the lines of an answer with inline logs (Client.InlineLogs):
// stdout's and stderr's, each "<unix nanoseconds> <text>\n" per line, the
// last of them normally EndMarker. They are handled as if read from the
// streams, so Collect hands them out the same way.
func (l *LogCollector) Feed(stdout, stderr []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, seg := range [][]byte{stdout, stderr} {
		st := l.streams[i]
		for len(seg) > 0 {
			line := seg
			if j := bytes.IndexByte(seg, '\n'); j >= 0 {
				line = seg[:j]
				seg = seg[j+1:]
			} else {
				seg = nil
			}
			stamp, text, _ := bytes.Cut(line, []byte(" "))
			at := time.Now().UTC()
			if ns, err := strconv.ParseInt(string(stamp), 10, 64); err == nil {
				at = time.Unix(0, ns).UTC()
			}
			t := string(text)
			if len(t) > maxLineBytes {
				t = t[:maxLineBytes]
			}
			st.line(at, t)
		}
	}
	l.notifyLocked()
}

// splitLines is bufio.ScanLines that cuts lines longer than maxLineBytes
// instead of failing.
func splitLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if len(data) >= maxLineBytes {
		return maxLineBytes, data[:maxLineBytes], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// line takes one line of output read at at: the end marker (which may
// follow output that had no newline of its own) or a log line.
func (st *logStream) line(at time.Time, text string) {
	text = strings.TrimSuffix(text, "\r")
	if rest, ok := strings.CutSuffix(text, EndMarker); ok {
		if rest != "" {
			st.add(logLine{at, rest})
		}
		st.mark()
		return
	}
	st.add(logLine{at, text})
}

func (st *logStream) add(ln logLine) {
	if st.skip > 0 {
		return // belongs to an activation already given up on
	}
	if st.bytes+len(ln.text) > maxBufferedBytes {
		st.dropped++
		return
	}
	st.bytes += len(ln.text)
	if st.markers > 0 {
		st.after[len(st.after)-1] = append(st.after[len(st.after)-1], ln)
		return
	}
	st.lines = append(st.lines, ln)
}

func (st *logStream) mark() {
	if st.skip > 0 {
		st.skip--
		return
	}
	st.markers++
	st.after = append(st.after, nil)
}

// ready reports whether this stream's part of the next activation is complete.
func (st *logStream) ready() bool { return st.markers > 0 || st.eof }

// take removes and returns the lines of the next activation and the count
// of lines dropped at the cap. Taken before its marker arrived, the marker
// is owed: it will end the given-up activation, not the next one.
func (st *logStream) take() (lines []logLine, dropped int) {
	lines, dropped = st.lines, st.dropped
	st.dropped = 0
	for _, ln := range lines {
		st.bytes -= len(ln.text)
	}
	switch {
	case st.markers > 0:
		st.markers--
		st.lines, st.after = st.after[0], st.after[1:]
	case st.eof:
		st.lines = nil
	default:
		st.lines = nil
		st.skip++
	}
	return lines, dropped
}

func (l *LogCollector) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Collect returns the log lines of the next activation: what stdout and
// stderr printed up to their next EndMarker, merged in time order and
// formatted as OpenWhisk does ("<time> stdout: <text>"). It waits until
// both markers arrived (or the streams ended); when ctx is done first it
// returns what it has and a line "... logs incomplete: <reason>". Past
// limitBytes (<= 0: no limit) the rest is dropped and OpenWhisk's
// truncation line is added.
func (l *LogCollector) Collect(ctx context.Context, limitBytes int) []string {
	l.collectMu.Lock()
	defer l.collectMu.Unlock()

	var reason string
	l.mu.Lock()
	for !(l.streams[0].ready() && l.streams[1].ready()) {
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			reason = context.Cause(ctx).Error()
		}
		l.mu.Lock()
		if reason != "" {
			break
		}
	}
	out, dropped := l.streams[0].take()
	errLines, errDropped := l.streams[1].take()
	l.mu.Unlock()

	return format(out, errLines, dropped+errDropped, limitBytes, reason)
}

func format(out, errs []logLine, dropped, limit int, reason string) []string {
	type tagged struct {
		logLine
		stream string
	}
	all := make([]tagged, 0, len(out)+len(errs))
	for _, ln := range out {
		all = append(all, tagged{ln, "stdout"})
	}
	for _, ln := range errs {
		all = append(all, tagged{ln, "stderr"})
	}
	// Stable: ties keep stdout before stderr and each stream's own order.
	sort.SliceStable(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })

	lines := make([]string, 0, len(all)+2)
	total, truncated := 0, dropped > 0
	for _, t := range all {
		s := t.at.Format(timeLayout) + " " + t.stream + ": " + t.text
		if limit > 0 && total+len(s) > limit {
			truncated = true
			break
		}
		total += len(s)
		lines = append(lines, s)
	}
	if truncated {
		lim := limit
		if lim <= 0 {
			lim = maxBufferedBytes
		}
		lines = append(lines, fmt.Sprintf("Logs were truncated because the total bytes size exceeds the limit of %d bytes.", lim))
	}
	if reason != "" {
		lines = append(lines, "... logs incomplete: "+reason)
	}
	return lines
}
