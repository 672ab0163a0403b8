package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
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

// routeSIPLogs sends sipgo's log/slog output through zerolog: its routine
// protocol lines at debug (routineFilter), the lines for messages it cannot
// parse tamed (unparsedFilter), the rest as sipgo wrote them. sipgo keeps
// its logger in an unguarded package variable read by every UA, so it is set
// once per process, before the first UA is built; later calls (tests that
// start several engines) keep the first logger rather than race with it.
func routeSIPLogs(l zerolog.Logger) {
	sipLogOnce.Do(func() {
		h := zerolog.NewSlogHandler(l.With().Str("component", "sipgo").Logger())
		sip.SetDefaultLogger(slog.New(routineFilter{newUnparsedFilter(h, unparsedPerSecond)}))
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

// sipgoRoutine are the lines sipgo writes at ERROR or WARN for what is
// routine protocol life, above all under packet loss: they are written at
// DEBUG, so that the error level holds what needs someone's attention. The
// messages are sipgo's own (typos included); TestSIPLogLevelsCoverSipgo
// checks each of sipgo's warn and error lines is classified here or in
// sipgoKept, so an upgrade that adds one fails until it is.
var sipgoRoutine = map[string]string{
	// A 2xx retransmitted after our ACK: the ACK was lost, sipgo sends it
	// again (after T2, its guard against ACK loops).
	"ACK loop retransimission. Resending after T2": "our ACK was lost",
	// A write failed while the client INVITE waits in Accepted for 2xx
	// retransmissions (ICMP unreachable from a peer that went away); the
	// transaction ends by its timer as it would anyway.
	"client transport error detected. Waiting for retransmission": "peer unreachable after its answer",
	// The 100 Trying timer fired on a transaction that had just ended.
	"send '100 Trying' response failed": "transaction ended first",
	// sipgo's check on requests it sends over TCP without a Content-Length
	// header; it writes one when it renders the message.
	"Missing Content-Length for reliable transport": "rendered with one",
	// A response without a Via or CSeq to match: a peer's garbage, dropped.
	"Client tx failed to handle response": "unmatchable response",
}

// sipgoKept are sipgo's warn and error lines that stay at their level: they
// tell of our sockets, our configuration or a fault in sipgo. "Server tx
// failed to handle request" is kept unless its error says the request was
// malformed or unexpected (sipgoRoutineRequest).
var sipgoKept = []string{
	"Failed to accept connection", "Fail to upgrade", "Closing connection failed",
	"connection pool not clean cleanup", "Got TCP error", "Read filter error",
	"Failed to pong keep alive", "WS ref went negative", "UDP ref went negative on try close",
	"TCP ref went negative", "unsupported message, skip it", "Server tx failed to handle request",
	"Failed to send stateless 400 for malformed request", "DNS resolution is slow",
	"Doing SRV lookup failed.", "Read connection error", "Read error", "send ACK request failed",
	"Failed to close listener", "SIP request handler not found",
	"respond '405 Method Not Allowed' failed",
	"failed to parse", // unparsedFilter: a warning without the message, rate-limited
}

// sipgoRoutineRequest are the errors of "Server tx failed to handle request"
// that are a peer's doing: a request without the headers a transaction is
// keyed by (sipgo has answered it 400), or one its transaction cannot take.
var sipgoRoutineRequest = []string{"make key failed", "unexpected message"}

// routineFilter writes sipgo's routine lines (sipgoRoutine) at debug and
// passes every other line on as it is.
type routineFilter struct{ next slog.Handler }

func (f routineFilter) Enabled(ctx context.Context, l slog.Level) bool {
	// A routine line comes at warn or error and may go out at debug: let
	// those levels through to Handle, which asks next again.
	return l >= slog.LevelWarn || f.next.Enabled(ctx, l)
}

func (f routineFilter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && routine(r) {
		out := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool { out.AddAttrs(a); return true })
		r = out
	}
	if !f.next.Enabled(ctx, r.Level) {
		return nil
	}
	return f.next.Handle(ctx, r)
}

// routine reports whether a sipgo line tells of routine protocol life.
func routine(r slog.Record) bool {
	if _, ok := sipgoRoutine[r.Message]; ok {
		return true
	}
	if r.Message != "Server tx failed to handle request" {
		return false
	}
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" {
			msg := a.Value.String()
			for _, s := range sipgoRoutineRequest {
				found = found || strings.Contains(msg, s)
			}
		}
		return !found
	})
	return found
}

func (f routineFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return routineFilter{f.next.WithAttrs(attrs)}
}

func (f routineFilter) WithGroup(name string) slog.Handler {
	return routineFilter{f.next.WithGroup(name)}
}
