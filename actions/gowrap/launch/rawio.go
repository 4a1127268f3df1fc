package launch

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// The direct-run loop reads and writes its socket and drains its output
// pipes with raw system calls on non-blocking descriptors, waiting in the
// runtime's poller when they would block.
//
// A plain system call (syscall.Read, and every net.Conn and os.File call)
// tells the Go runtime it is entering the kernel, and the runtime wakes
// its monitor thread (sysmon) if that thread is in its deep idle sleep.
// Sysmon then polls every 20 µs until it sees the process idle again. An
// action woken by one call after being idle pays that on every call: a
// futex wake, a second thread scheduled, and two or three nanosleeps, on
// top of the call's own reads and writes. A raw system call does not
// tell the runtime, which is sound only for calls that cannot block, as
// here: the descriptors are non-blocking, and waiting is the poller's.
// See docs/benchmarks.md, "An idle action's wake-up".

// rawRead reads once from the non-blocking fd.
func rawRead(fd int, p []byte) (int, syscall.Errno) { return rawIO(syscall.SYS_READ, fd, p) }

// rawWrite writes once to the non-blocking fd.
func rawWrite(fd int, p []byte) (int, syscall.Errno) { return rawIO(syscall.SYS_WRITE, fd, p) }

// rawIO makes the read or write system call trap on fd with p, again
// when a signal interrupts it.
func rawIO(trap uintptr, fd int, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	for {
		n, _, errno := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch errno {
		case 0:
			return int(n), 0
		case syscall.EINTR: // again
		default:
			return 0, errno
		}
	}
}

// rawConn reads and writes a connection with raw system calls, one
// operation at a time. The functions handed to the poller are made once,
// so an operation allocates nothing.
type rawConn struct {
	rc              syscall.RawConn
	readFn, writeFn func(fd uintptr) bool

	// The operation in progress: its buffer, the bytes done, the error.
	p     []byte
	n     int
	errno syscall.Errno
}

func newRawConn(conn net.Conn) (*rawConn, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, syscall.EINVAL
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &rawConn{rc: rc}
	c.readFn, c.writeFn = c.readOnce, c.writeAll
	return c, nil
}

func (c *rawConn) Read(p []byte) (int, error) {
	c.p, c.n, c.errno = p, 0, 0
	n, err := c.result(c.rc.Read(c.readFn))
	if err == nil && n == 0 && len(p) > 0 {
		err = io.EOF
	}
	return n, err
}

// readOnce is the poller's read: false to wait until the socket is
// readable.
func (c *rawConn) readOnce(fd uintptr) bool {
	c.n, c.errno = rawRead(int(fd), c.p)
	return c.errno != syscall.EAGAIN
}

// Write writes all of p, waiting in the poller while the socket is full.
func (c *rawConn) Write(p []byte) (int, error) {
	c.p, c.n, c.errno = p, 0, 0
	return c.result(c.rc.Write(c.writeFn))
}

// result ends the operation in progress, which the poller ended with
// err: the bytes done, and the poller's error or else the system call's.
func (c *rawConn) result(err error) (int, error) {
	n, errno := c.n, c.errno
	c.p = nil
	if err == nil && errno != 0 {
		err = errno
	}
	return n, err
}

// writeAll is the poller's write: false to wait until the socket is
// writable again.
func (c *rawConn) writeAll(fd uintptr) bool {
	for c.n < len(c.p) {
		n, errno := rawWrite(int(fd), c.p[c.n:])
		if errno != 0 {
			c.errno = errno
			return errno != syscall.EAGAIN
		}
		c.n += n
	}
	c.errno = 0
	return true
}
