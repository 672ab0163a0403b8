package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

// newLogger builds the process logger: JSON lines for machines, or
// zerolog's ConsoleWriter for people.
func newLogger(w io.Writer, format string, level zerolog.Level) zerolog.Logger {
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

var sipLogOnce sync.Once

// routeSIPLogs sends sipgo's log/slog output through zerolog. sipgo keeps
// its logger in an unguarded package variable read by every UA, so it is set
// once per process, before the first UA is built; later calls (tests that
// start several engines) keep the first logger rather than race with it.
func routeSIPLogs(l zerolog.Logger) {
	sipLogOnce.Do(func() {
		h := zerolog.NewSlogHandler(l.With().Str("component", "sipgo").Logger())
		sip.SetDefaultLogger(slog.New(newUnparsedFilter(h, unparsedPerSecond)))
	})
}

// unparsedPerSecond bounds sipgo's "failed to parse" lines.
const unparsedPerSecond = 20

// unparsedFilter tames sipgo's log line for a datagram it cannot parse:
// sipgo writes it at ERROR with the whole message, so anyone who can send
// UDP to the SIP port can fill the log, and the log would hold callers'
// numbers. The line keeps its error and the message's size, not its text,
// goes out as a warning (the engine answers such requests itself and counts
// them in GET /v1/status), and at most perSecond of them are written.
type unparsedFilter struct {
	next      slog.Handler
	perSecond int64
	window    *atomic.Int64 // unix second of the current window
	count     *atomic.Int64 // lines written in it
}

func newUnparsedFilter(next slog.Handler, perSecond int64) unparsedFilter {
	return unparsedFilter{next: next, perSecond: perSecond, window: new(atomic.Int64), count: new(atomic.Int64)}
}

func (f unparsedFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return f.next.Enabled(ctx, l)
}

func (f unparsedFilter) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != "failed to parse" {
		return f.next.Handle(ctx, r)
	}
	if !f.allow(r.Time) {
		return nil
	}
	out := slog.NewRecord(r.Time, slog.LevelWarn, "unparseable SIP message", r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "data" {
			out.AddAttrs(slog.Int("bytes", len(a.Value.String())))
		} else {
			out.AddAttrs(a)
		}
		return true
	})
	return f.next.Handle(ctx, out)
}

func (f unparsedFilter) allow(t time.Time) bool {
	sec := t.Unix()
	if w := f.window.Load(); w != sec && f.window.CompareAndSwap(w, sec) {
		f.count.Store(0)
	}
	return f.count.Add(1) <= f.perSecond
}

func (f unparsedFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	f.next = f.next.WithAttrs(attrs)
	return f
}

func (f unparsedFilter) WithGroup(name string) slog.Handler {
	f.next = f.next.WithGroup(name)
	return f
}
