package b2bua

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/sipedge"
)

// WithAdmission makes the engine refuse new calls past a's limits with 503
// and Retry-After, before anything is allocated for them. Without it the
// engine takes every call the relay has ports for.
func WithAdmission(a *sipedge.Admission) Option { return func(e *Engine) { e.admission = a } }

// Admission reports the admission counters; ok is false without limits.
func (e *Engine) Admission() (stats sipedge.AdmissionStats, ok bool) {
	if e.admission == nil {
		return sipedge.AdmissionStats{}, false
	}
	return e.admission.Stats(), true
}

// admit is the first thing a new INVITE meets: past a limit it is answered
// 503 with Retry-After at once and false returned, with no routing, store
// lookup, relay session or dialog made for it. An admitted call holds its
// slot until releaseAdmission.
func (e *Engine) admit(req *sip.Request, tx sip.ServerTransaction) bool {
	if e.admission == nil {
		return true
	}
	src := sipedge.SourceAddr(req)
	wait, err := e.admission.Admit(src)
	if err == nil {
		return true
	}
	e.logRefusal(src, wait, err)
	res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, sipedge.ReasonPhrase(sip.StatusServiceUnavailable), nil)
	res.AppendHeader(sip.NewHeader("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10)))
	if err := tx.Respond(res); err != nil {
		e.log.Debug().Err(err).Str("call_id", sipedge.CallID(req)).Msg("respond 503")
	}
	// Keep nothing of a refused call: over UDP sipgo would hold the
	// transaction (~4.6 KB) until the ACK plus Timer I (5 s), or for Timer
	// H (32 s) retransmitting the 503 when no ACK comes. Without it the
	// engine answers as a stateless UAS does (RFC 3261 8.2.7): a
	// retransmitted INVITE is decided again, its ACK finds no transaction
	// and onAck no call.
	tx.Terminate()
	return false
}

// refuseEarly puts the stateless 503 in front of the edge's UDP listener:
// a new INVITE past a limit is answered before sipgo parses it or makes a
// transaction (sipedge.RefuseOverUDP); what that path leaves alone still
// meets admit. TCP needs no such path: sipgo ends a transaction over a
// reliable transport as soon as its handler returns.
func (e *Engine) refuseEarly() sipedge.Option {
	return sipedge.WithUDPFilter(func(c net.PacketConn) net.PacketConn {
		return sipedge.RefuseOverUDP(c, e.admission, e.logRefusal)
	})
}

// logRefusal writes the sampled line of an overloaded engine.
func (e *Engine) logRefusal(src netip.Addr, wait time.Duration, err error) {
	ok, suppressed := e.refusedLog.allow(refusedLinesPerSecond)
	if !ok {
		return
	}
	st := e.admission.Stats()
	e.log.Warn().Str("source", src.String()).Str("limit", limitName(err)).Dur("retry_after", wait).
		Int("active", st.Active).Uint64("refused_calls", st.RefusedCalls).Uint64("refused_rate", st.RefusedRate).
		Uint64("refused_source", st.RefusedSource).Uint64("refused_stateless", st.Stateless).
		Int64("lines_suppressed", suppressed).Msg("call refused: overload")
}

// releaseAdmission gives back the slot of an admitted call: once per call,
// when it leaves the call table, or when the INVITE ends before a call was
// made of it.
func (e *Engine) releaseAdmission() {
	if e.admission != nil {
		e.admission.Release()
	}
}

func limitName(err error) string {
	switch {
	case errors.Is(err, sipedge.ErrCallLimit):
		return "max-calls"
	case errors.Is(err, sipedge.ErrRateLimit):
		return "max-cps"
	case errors.Is(err, sipedge.ErrSourceLimit):
		return "max-cps-per-source"
	}
	return err.Error()
}

// Log budgets under a flood: each refused or rejected INVITE would be a
// line, thousands a second. One line a second says that the engine is
// refusing calls and how many so far (the counters see every one); routing
// rejections (404, 403, ...) keep 100 lines a second.
const (
	refusedLinesPerSecond  = 1
	rejectedLinesPerSecond = 100
)

// logBudget lets a number of lines through per wall-clock second; the
// first line of a second learns how many were held back in the one before.
// The zero value is ready.
type logBudget struct {
	second atomic.Int64
	count  atomic.Int64
}

func (b *logBudget) allow(perSecond int64) (ok bool, suppressed int64) {
	now := time.Now().Unix()
	if s := b.second.Load(); s != now && b.second.CompareAndSwap(s, now) {
		if prev := b.count.Swap(0); prev > perSecond {
			suppressed = prev - perSecond
		}
	}
	return b.count.Add(1) <= perSecond, suppressed
}
