package main

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
)

// TestLazyAttrsWritesWhatTextHandlerWrites: deferring WithAttrs changes
// when attributes are formatted, never the output.
func TestLazyAttrsWritesWhatTextHandlerWrites(t *testing.T) {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	write := func(lazy bool, level slog.Level) string {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level, ReplaceAttr: noTime})
		if lazy {
			h = &lazyAttrs{h: h}
		}
		log := slog.New(h)
		a := log.With("activation", "a1", "n", 1)
		a.Info("first", "x", "y")
		a.Info("second")
		a.Debug("detail", "k", 2)
		b := a.With("action", "guest/noop@1").WithGroup("pool").With("slots", 4)
		b.Warn("third", "waiting", 3)
		a.Error("fourth", "err", "boom")
		log.WithGroup("").With().Info("plain")
		return buf.String()
	}
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelError} {
		want, got := write(false, level), write(true, level)
		if got != want {
			t.Errorf("level %v: lazy handler wrote\n%s\nthe text handler\n%s", level, got, want)
		}
		if want == "" {
			t.Errorf("level %v: nothing written", level)
		}
	}
	if (&lazyAttrs{h: slog.NewTextHandler(&bytes.Buffer{}, nil)}).Enabled(context.Background(), slog.LevelDebug) {
		t.Error("debug enabled under an info handler")
	}
}

// BenchmarkPerActivationLogger is what the invoker does per activation
// at the default level: a logger with the activation id, and one Debug
// line that is not written.
func BenchmarkPerActivationLogger(b *testing.B) {
	for _, lazy := range []bool{false, true} {
		name := "text"
		var h slog.Handler = slog.NewTextHandler(&bytes.Buffer{}, nil)
		if lazy {
			name, h = "lazy", &lazyAttrs{h: h}
		}
		log := slog.New(h)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l := log.With("activation", "0c6f3e1a8b2d4f5e9a7c1b3d5e7f9a1b")
				l.Debug("activation finished", "action", "guest/noop@1")
			}
		})
	}
}
