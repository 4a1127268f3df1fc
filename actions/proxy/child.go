package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// maxResultBytes bounds one result line; the platform's own limit (1 MiB)
// is enforced by the invoker, this only keeps a runaway action from
// exhausting the proxy's memory.
const maxResultBytes = 64 << 20

// exitGrace is how long a failed run waits for the action's exit status
// after fd 3 closed, so the error can say how the action ended.
const exitGrace = 2 * time.Second

// errClosed is returned by run once the child can no longer answer.
var errClosed = errors.New("action is not running")

// child is the action's executable, started once by /init.
type child struct {
	cmd    *exec.Cmd
	stdin  *os.File // our end of the action's stdin
	result *bufio.Reader
	resF   *os.File // our end of fd 3
	out    *stream
	errs   *stream

	exited  chan struct{} // closed when Wait returned
	waitErr error         // set before exited is closed

	// mu serializes activations: one process answers lines in order.
	mu     sync.Mutex
	broken error // once set, every run fails with it
}

// startChild starts argv in dir with env, stdout and stderr copied to
// stdout and stderr.
func startChild(argv []string, dir string, env []string, stdout, stderr io.Writer) (_ *child, err error) {
	var closers []*os.File
	defer func() {
		if err != nil {
			for _, f := range closers {
				_ = f.Close()
			}
		}
	}()
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			closers = append(closers, r, w)
		}
		return r, w, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return nil, err
	}
	resR, resW, err := pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := pipe()
	if err != nil {
		return nil, err
	}
	newCmd := func() *exec.Cmd {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		cmd.Env = env
		cmd.Stdin = inR
		cmd.Stdout = outW
		cmd.Stderr = errW
		cmd.ExtraFiles = []*os.File{resW} // fd 3
		// Own process group, so stopping the action also stops what it started.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}
	cmd := newCmd()
	err = cmd.Start()
	// A just-written executable can be "busy" while another goroutine's
	// fork still holds a copy of its write descriptor (golang/go#22315);
	// that passes within milliseconds.
	for i := 0; i < 10 && errors.Is(err, syscall.ETXTBSY); i++ {
		time.Sleep(time.Duration(i+1) * 5 * time.Millisecond)
		cmd = newCmd()
		err = cmd.Start()
	}
	if err != nil {
		return nil, err
	}
	// The child holds its ends now; closing ours lets EOF reach us when it exits.
	for _, f := range []*os.File{inR, resW, outW, errW} {
		_ = f.Close()
	}
	c := &child{
		cmd:    cmd,
		stdin:  inW,
		result: bufio.NewReaderSize(resR, 64<<10),
		resF:   resR,
		exited: make(chan struct{}),
	}
	if c.out, err = newStream(outR, stdout); err != nil {
		c.kill()
		return nil, err
	}
	if c.errs, err = newStream(errR, stderr); err != nil {
		c.kill()
		return nil, err
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// run sends one activation line and returns the action's result line,
// which is a JSON object. Any error leaves the child broken for good.
func (c *child) run(ctx context.Context, line []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil, c.broken
	}
	res, err := c.exchange(ctx, line)
	if err != nil {
		c.broken = err
		c.kill()
		return nil, err
	}
	return res, nil
}

func (c *child) exchange(ctx context.Context, line []byte) ([]byte, error) {
	// A cancelled request (invoker gave up, proxy shutting down) unblocks
	// the pipe I/O through deadlines.
	stop := context.AfterFunc(ctx, func() {
		_ = c.stdin.SetWriteDeadline(time.Unix(1, 0))
		_ = c.resF.SetReadDeadline(time.Unix(1, 0))
	})
	defer stop()

	msg := make([]byte, 0, len(line)+1)
	msg = append(append(msg, line...), '\n')
	if _, err := c.stdin.Write(msg); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("run cancelled: %w", ctx.Err())
		}
		return nil, c.exitError("action stopped reading its input", err)
	}
	res, err := readLine(c.result, maxResultBytes)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("run cancelled: %w", ctx.Err())
		case errors.Is(err, errTooLong):
			return nil, fmt.Errorf("action result is larger than %d bytes", maxResultBytes)
		case errors.Is(err, io.EOF) && len(res) > 0:
			// A last line without newline is still a result; the action
			// is gone afterwards, but this activation can be answered.
		default:
			return nil, c.exitError("action closed its result pipe (fd 3) without a result", err)
		}
	}
	res = bytes.TrimSpace(res)
	if len(res) == 0 || res[0] != '{' || !jsonObject(res) {
		return nil, fmt.Errorf("action did not return a JSON object: %q", truncate(res, 128))
	}
	return res, nil
}

// awaitAck reads the launcher's first line on fd 3: {"ok":true} once the
// action's code is loaded, or {"error": ...} saying why it could not be.
// The protocol it names, if any, is the one the launcher took up beyond
// actionloop (launch.Protocol: direct run). Any failure leaves the child
// broken.
func (c *child) awaitAck(ctx context.Context) (protocol string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { _ = c.resF.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	line, err := readLine(c.result, maxResultBytes)
	if err == nil || (errors.Is(err, io.EOF) && len(line) > 0) {
		var ack struct {
			OK       bool            `json:"ok"`
			Error    json.RawMessage `json:"error"`
			Protocol string          `json:"protocol"`
		}
		switch jerr := json.Unmarshal(line, &ack); {
		case jerr == nil && ack.OK:
			return ack.Protocol, nil
		case jerr == nil && len(ack.Error) > 0:
			var msg string
			if json.Unmarshal(ack.Error, &msg) != nil {
				msg = string(ack.Error)
			}
			err = errors.New(msg)
		default:
			err = fmt.Errorf("action started with %q instead of an acknowledgement", truncate(bytes.TrimSpace(line), 128))
		}
	} else if ctx.Err() != nil {
		err = fmt.Errorf("action did not finish loading: %w", ctx.Err())
	} else {
		err = c.exitError("action stopped while loading", err)
	}
	c.broken = err
	c.kill()
	return "", err
}

// exitError explains why the action stopped answering, with its exit
// status when it exited.
func (c *child) exitError(what string, cause error) error {
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-c.exited:
		var ee *exec.ExitError
		if errors.As(c.waitErr, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return fmt.Errorf("%s: action was killed by signal %v", what, ws.Signal())
			}
			return fmt.Errorf("%s: action exited with status %d", what, ee.ExitCode())
		}
		if c.waitErr == nil {
			return fmt.Errorf("%s: action exited with status 0", what)
		}
		return fmt.Errorf("%s: %w", what, c.waitErr)
	case <-t.C:
		return fmt.Errorf("%s: %w", what, cause)
	}
}

// mark writes the end-of-activation marker on both streams after the
// action's output so far.
func (c *child) mark(marker string) {
	c.out.Mark(marker)
	c.errs.Mark(marker)
}

// kill stops the action's process group; safe to call more than once.
func (c *child) kill() {
	if c.cmd.Process != nil {
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// close kills the action, waits for it and releases the pipes.
func (c *child) close() {
	c.kill()
	<-c.exited
	_ = c.stdin.Close()
	_ = c.resF.Close()
	c.out.Close()
	c.errs.Close()
}

var errTooLong = errors.New("line too long")

// readLine reads up to and including '\n', failing past max bytes.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, errTooLong
		}
		line = append(line, frag...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, err
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
