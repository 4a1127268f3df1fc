package main

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// lazyAttrs is a slog.Handler whose WithAttrs only remembers the
// attributes; they are formatted when a record is handled. The text
// handler formats them at once, and Flurry makes a logger with the
// activation id for every activation (about 1 % of the standalone's CPU
// at saturation) while at the default level nothing is logged for most
// of them.
type lazyAttrs struct {
	h     slog.Handler
	attrs []slog.Attr // for h.WithAttrs, not yet applied
	// done is h with attrs applied, made at the first record handled: a
	// long-lived logger that logs often formats its attributes once.
	done atomic.Pointer[handlerBox]
}

type handlerBox struct{ h slog.Handler }

func (l *lazyAttrs) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l *lazyAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return l
	}
	all := make([]slog.Attr, 0, len(l.attrs)+len(attrs))
	return &lazyAttrs{h: l.h, attrs: append(append(all, l.attrs...), attrs...)}
}

func (l *lazyAttrs) WithGroup(name string) slog.Handler {
	if name == "" {
		return l
	}
	return &lazyAttrs{h: l.applied().WithGroup(name)}
}

func (l *lazyAttrs) Handle(ctx context.Context, r slog.Record) error {
	return l.applied().Handle(ctx, r)
}

// applied is the wrapped handler with the remembered attributes.
func (l *lazyAttrs) applied() slog.Handler {
	if len(l.attrs) == 0 {
		return l.h
	}
	if b := l.done.Load(); b != nil {
		return b.h
	}
	b := &handlerBox{l.h.WithAttrs(l.attrs)}
	l.done.Store(b)
	return b.h
}
