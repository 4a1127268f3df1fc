package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
)

// errNATSClosed is why a server command stops when its NATS connection
// closed for good: nats.go gives up on a connection after some server
// errors (such as "maximum control line exceeded") and never reconnects,
// and a process left with it would answer every call 503 until restarted.
// It exits non-zero instead, so that its supervisor restarts it.
var errNATSClosed = errors.New("NATS connection closed for good")

// errBrokerStopped is why standalone stops when its embedded NATS server
// shut down: its connection would try to reconnect forever.
var errBrokerStopped = fmt.Errorf("embedded NATS server stopped: %w", errNATSClosed)

// cancelOnClose returns a context that is cancelled with errNATSClosed as
// its cause when nc closes while ctx is live. A close after ctx is done is
// the normal shutdown's and cancels nothing. stop releases the context.
func cancelOnClose(ctx context.Context, nc *nats.Conn, log *slog.Logger) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	nc.SetClosedHandler(func(c *nats.Conn) {
		if ctx.Err() != nil {
			return
		}
		err := fmt.Errorf("%w: %v", errNATSClosed, c.LastError())
		log.Error("stopping: the NATS connection closed for good", "err", err)
		cancel(err)
	})
	return ctx, func() { cancel(context.Canceled) }
}

// cancelOnBrokerStop returns a context that is cancelled with
// errBrokerStopped as its cause when done (the embedded server's Done) is
// closed while ctx is live. stop releases the context.
func cancelOnBrokerStop(ctx context.Context, done <-chan struct{}, log *slog.Logger) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-done:
			if ctx.Err() == nil {
				log.Error("stopping: the embedded NATS server shut down")
				cancel(errBrokerStopped)
			}
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// natsClosedErr returns err joined with errNATSClosed when ctx ended
// because the NATS connection closed, so that the command exits non-zero
// even where its components return nil on a cancelled context. A
// component may also fail on the closed connection before nats.go's
// closed handler (called asynchronously) has cancelled ctx: its error
// then says so too.
func natsClosedErr(ctx context.Context, err error) error {
	if errors.Is(err, errNATSClosed) {
		return err
	}
	if cause := context.Cause(ctx); errors.Is(cause, errNATSClosed) {
		return errors.Join(err, cause)
	}
	if errors.Is(err, nats.ErrConnectionClosed) {
		return errors.Join(err, errNATSClosed)
	}
	return err
}
