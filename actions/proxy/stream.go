package proxy

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
)

// stream copies one of the action's output pipes (stdout or stderr) to a
// writer and can be flushed: Flush returns once everything the action wrote
// into the pipe before the call has reached the writer.
//
// Why not io.Copy in a goroutine: a goroutine may hold bytes it has read but
// not yet written, or not have read them yet at all, when the result line
// arrives on fd 3; the end marker would then overtake the action's last log
// lines. Here every read happens under mu with a non-blocking read, so Flush
// can drain the pipe itself and knows nothing is in flight.
type stream struct {
	r  *os.File // read end, non-blocking (os.Pipe makes it pollable)
	rc syscall.RawConn

	mu sync.Mutex
	w  io.Writer
	// lastNL tells whether the last byte written ended a line, so the
	// marker always starts on a line of its own.
	lastNL bool
	eof    bool
	done   chan struct{}
	buf    []byte // drainLocked's, kept: it runs after every activation
}

func newStream(r *os.File, w io.Writer) (*stream, error) {
	rc, err := r.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &stream{r: r, rc: rc, w: w, lastNL: true, done: make(chan struct{})}
	go s.copy()
	return s, nil
}

// copy runs until the pipe reaches EOF (the action and all its children
// closed the write end) or fails.
func (s *stream) copy() {
	defer close(s.done)
	buf := make([]byte, 32<<10)
	for {
		var stop bool
		err := s.rc.Read(func(fd uintptr) bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.eof {
				stop = true
				return true
			}
			n, err := syscall.Read(int(fd), buf)
			switch {
			case errors.Is(err, syscall.EAGAIN):
				return false // wait for the poller
			case errors.Is(err, syscall.EINTR):
				return false
			case err != nil || n == 0:
				s.eof = true
				stop = true
				return true
			}
			s.write(buf[:n])
			return true
		})
		if err != nil || stop {
			return
		}
	}
}

// write passes p on; called with mu held. Write errors are ignored: losing
// logs must not fail the activation.
func (s *stream) write(p []byte) {
	if len(p) == 0 {
		return
	}
	_, _ = s.w.Write(p)
	s.lastNL = p[len(p)-1] == '\n'
}

// Flush drains what the pipe holds now into the writer.
func (s *stream) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainLocked()
}

func (s *stream) drainLocked() {
	if s.eof {
		return
	}
	if s.buf == nil {
		s.buf = make([]byte, 32<<10)
	}
	buf := s.buf
	_ = s.rc.Control(func(fd uintptr) {
		for {
			n, err := syscall.Read(int(fd), buf)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil || n == 0 {
				if !errors.Is(err, syscall.EAGAIN) {
					s.eof = true
				}
				return
			}
			s.write(buf[:n])
		}
	})
}

// setWriter sends what the pipe holds now and everything after it to w.
func (s *stream) setWriter(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainLocked()
	s.w = w
}

// Mark flushes the pipe and writes line after it, on a line of its own.
func (s *stream) Mark(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainLocked()
	if !s.lastNL {
		s.write([]byte("\n"))
	}
	s.write([]byte(line + "\n"))
}

// Close stops the copier and releases the read end.
func (s *stream) Close() {
	s.mu.Lock()
	s.drainLocked()
	s.eof = true
	s.mu.Unlock()
	// Closing wakes a copier blocked in the poller.
	_ = s.r.Close()
	<-s.done
}
