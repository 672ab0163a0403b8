package main

import (
	"io"
	"log/slog"
	"sync"
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
		sip.SetDefaultLogger(slog.New(zerolog.NewSlogHandler(l.With().Str("component", "sipgo").Logger())))
	})
}
