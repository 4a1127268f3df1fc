package launch

import (
	"errors"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// maxCaptured bounds what one stream keeps between two activations; past
// it lines are dropped, as the proxy does (the invoker's log limit is
// smaller anyway).
const maxCaptured = 16 << 20

// capture keeps what is written to one of the process's output streams,
// as lines stamped with their arrival time ("<unix nanos> <text>\n"), the
// proxy's inline-log format.
//
// A goroutine reads the pipe as output arrives, so lines are stamped when
// written and a chatty action does not fill the pipe; take drains the pipe
// itself under mu with non-blocking reads, so everything written before the
// activation ended is in its answer.
type capture struct {
	rc syscall.RawConn

	mu      sync.Mutex
	buf     []byte
	open    bool // the last line has no newline yet
	drop    bool // the open line is being dropped (past the cap)
	dropped bool // a line was dropped since the last take
	eof     bool
	rbuf    []byte
}

// redirect points fd (1 or 2) at a new pipe read by a capture and returns
// a file for where fd pointed before.
func redirect(fd int) (*os.File, *capture, error) {
	old, err := syscall.Dup(fd)
	if err != nil {
		return nil, nil, err
	}
	syscall.CloseOnExec(old)
	orig := os.NewFile(uintptr(old), "output")
	r, w, err := os.Pipe()
	if err != nil {
		orig.Close()
		return nil, nil, err
	}
	// Fd leaves w blocking, as writers of stdout expect.
	err = syscall.Dup3(int(w.Fd()), fd, 0)
	w.Close()
	if err != nil {
		orig.Close()
		r.Close()
		return nil, nil, err
	}
	rc, err := r.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	c := &capture{rc: rc, rbuf: make([]byte, 32<<10)}
	go c.copy()
	return orig, c, nil
}

// restore points fd back at orig, undoing redirect's change of fd (its
// capture keeps reading a pipe nobody writes).
func restore(fd int, orig *os.File) {
	_ = syscall.Dup3(int(orig.Fd()), fd, 0)
	orig.Close()
}

// copy reads the pipe until it fails; nothing closes its write end while
// the process lives.
func (c *capture) copy() {
	for {
		var stop bool
		err := c.rc.Read(func(fd uintptr) bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			switch c.readLocked(int(fd)) {
			case syscall.EAGAIN:
				return false // wait for the poller
			case nil:
				return true
			default:
				stop = true
				return true
			}
		})
		if err != nil || stop {
			return
		}
	}
}

// readLocked reads once from fd into buf; nil means it read something.
func (c *capture) readLocked(fd int) error {
	if c.eof {
		return errors.New("closed")
	}
	n, errno := rawRead(fd, c.rbuf)
	switch {
	case errno == syscall.EAGAIN:
		return errno
	case errno != 0:
		c.eof = true
		return errno
	case n == 0:
		c.eof = true
		return errors.New("end of output")
	}
	c.add(c.rbuf[:n], time.Now())
	return nil
}

// add appends p, stamping each line that starts in it with now.
func (c *capture) add(p []byte, now time.Time) {
	for len(p) > 0 {
		line := p
		for i, b := range p {
			if b == '\n' {
				line = p[:i+1]
				break
			}
		}
		p = p[len(line):]
		if !c.open {
			c.drop = len(c.buf) >= maxCaptured
			if c.drop {
				c.dropped = true
			} else {
				c.buf = strconv.AppendInt(c.buf, now.UnixNano(), 10)
				c.buf = append(c.buf, ' ')
			}
		}
		if !c.drop {
			c.buf = append(c.buf, line...)
		}
		c.open = line[len(line)-1] != '\n'
	}
}

// take returns the lines written since the last take, ending with the end
// marker, and forgets them.
func (c *capture) take() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.rc.Control(func(fd uintptr) {
		for c.readLocked(int(fd)) == nil {
		}
	})
	now := time.Now()
	if c.open {
		c.add([]byte("\n"), now)
	}
	var seg []byte
	if c.dropped {
		seg = strconv.AppendInt(seg, now.UnixNano(), 10)
		seg = append(seg, " (the action's output beyond 16 MiB per activation was dropped)\n"...)
		c.dropped = false
	}
	seg = append(seg, c.buf...)
	seg = strconv.AppendInt(seg, now.UnixNano(), 10)
	seg = append(seg, " "+EndMarker+"\n"...)
	c.buf = c.buf[:0]
	return seg
}
