package b2bua

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/store"
)

// Every call attempt the engine routes leaves a call record and events
// (events package): call.blocked for one routing refuses, else
// call.initiated when B's INVITE goes, call.ringing at B's first 18x,
// call.answered with the active-call record (one transaction: the store
// writes both behind, batched) and call.released with the record and the
// removal of the active-call record. The engine only queues them; a slow
// disk or webhook never holds a call up.

// WithEvents makes the engine write call records and events to st (the
// store's outbox). wants (nil: all) says which pools' events go anywhere;
// the others' are not written, their records are. Without it the engine
// writes active-call records only.
func WithEvents(st events.Store, wants func(pool string) bool) Option {
	return func(e *Engine) { e.events, e.wantEvents = st, wants }
}

// beginRecord starts the record of a call whose INVITE arrived at at; nil
// (recording nothing) without WithEvents.
func (e *Engine) beginRecord(aCallID, x, caller string, at time.Time) *events.Call {
	if e.events == nil {
		return nil
	}
	track, err := events.Begin(context.WithoutCancel(e.ctx), e.events, events.Start{ACallID: aCallID, X: x, Caller: caller, At: at}, e.wantEvents)
	if err != nil {
		e.log.Warn().Err(err).Str("call_id", aCallID).Msg("call record not begun")
		return nil
	}
	return track
}

// recordBlocked writes the record of a call refused with status before
// anyone rang.
func (e *Engine) recordBlocked(track *events.Call, dec routing.Decision, outcome string, status int) {
	e.outcomes.count(outcome)
	if track == nil {
		return
	}
	track.SetRoute(routeOf(dec))
	if err := track.Blocked(time.Now(), outcome, status); err != nil {
		e.log.Warn().Err(err).Str("record_id", track.ID()).Msg("call record not written")
	}
}

// routeOf is what a routing decision tells a call record.
func routeOf(dec routing.Decision) events.Route {
	b := dec.Binding
	r := events.Route{
		BindingID: b.ID, Model: b.Model, OrderID: b.OrderID, UserData: b.Policy.UserData,
		Pool: b.Pool, Extension: b.Extension, Callee: dec.Callee, Display: dec.Display, Hook: dec.Hook,
		Webhook: b.Policy.Webhook,
	}
	if r.Pool == "" {
		r.Pool = dec.Pool
	}
	if b.ID != "" {
		r.CallerRole, r.CalleeRole = roleOf(b, dec.Caller), roleOf(b, dec.Callee)
	}
	return r
}

// roleOf is a party's role in its binding: "A" or "B", or "N" for anyone
// else (an AXN's or AXE's other caller, an AXE's callback target).
func roleOf(b store.Binding, party string) string {
	switch {
	case party == "":
		return ""
	case party == b.A:
		return "A"
	case party == b.B && b.B != "":
		return "B"
	}
	return "N"
}

// callEnd is how a call that never connected ended, as its actions saw
// it: the first note counts (a B failure, then the 487 of a CANCEL, is the
// B failure's).
type callEnd struct {
	by, outcome string
	status      int
	text        string
}

// noteEnd records how the call's setup ended.
func (c *call) noteEnd(by, outcome string, status int) {
	if c.end.outcome == "" {
		c.end = callEnd{by: by, outcome: outcome, status: status}
	}
}

// released is the call's release for its record.
func (c *call) released() events.Release {
	by := events.ByEngine
	switch c.endedBy {
	case byA.String():
		by = events.ByCaller
	case byB.String():
		by = events.ByCallee
	}
	if !c.answered.IsZero() {
		rel := events.Release{By: by, Status: sip.StatusOK, Outcome: store.OutcomeAnswered}
		if by == events.ByEngine && c.byeReason != "" {
			proto, cause, text := parseReason(c.byeReason)
			switch proto {
			case "SIP":
				rel.Status, rel.ReasonText = cause, text
			case "Q.850":
				rel.Q850, rel.ReasonText = cause, text
			}
		}
		return rel
	}
	if c.end.outcome != "" {
		return events.Release{By: c.end.by, Status: c.end.status, Outcome: c.end.outcome, ReasonText: c.end.text}
	}
	// Ended in setup without a note: the caller gave up, or the engine
	// stopped the call.
	if by == events.ByCaller {
		return events.Release{By: by, Status: sip.StatusRequestTerminated, Outcome: store.OutcomeCancelled}
	}
	return events.Release{By: events.ByEngine, Status: sip.StatusServiceUnavailable, Outcome: store.OutcomeEngineFailure}
}

// recordAnswered queues call.answered with the active-call record; false
// when the call keeps no record of events (the caller puts it plainly).
func (c *call) recordAnswered(ac store.ActiveCall) (bool, error) {
	if c.track == nil {
		return false, nil
	}
	return true, c.track.Answered(ac.AnsweredAt, &ac)
}

// recordReleased queues call.released and the record, with the removal of
// the active-call record endActive ("" for none); false without events.
func (c *call) recordReleased(endActive string) (bool, error) {
	if c.track == nil {
		return false, nil
	}
	return true, c.track.Released(time.Now(), c.released(), endActive)
}

// parseReason reads a Reason header value (RFC 3326), such as
// SIP;cause=408;text="media timeout": its protocol in upper case ("" when
// it cannot be read), cause and text.
func parseReason(v string) (proto string, cause int, text string) {
	p, params, _ := strings.Cut(v, ";")
	proto = strings.ToUpper(strings.TrimSpace(p))
	for _, param := range strings.Split(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(param), "=")
		switch strings.ToLower(k) {
		case "cause":
			n, err := strconv.Atoi(val)
			if err != nil {
				return "", 0, ""
			}
			cause = n
		case "text":
			text = strings.Trim(val, `"`)
		}
	}
	if cause == 0 {
		return "", 0, ""
	}
	return proto, cause, text
}

// recordStep logs a step of the record that could not be queued; the call
// goes on without it.
func (c *call) recordStep(err error) {
	if err != nil {
		c.log.Warn().Err(err).Msg("call event not queued")
	}
}

// stoppedOutcome is why the engine stopped a call in setup with code: its
// binding ended (480), the operator hung it up (487), else the engine's own
// trouble or shutdown.
func stoppedOutcome(code int) string {
	switch code {
	case sip.StatusTemporarilyUnavailable:
		return store.OutcomeExpired
	case sip.StatusRequestTerminated: // the operator (Engine.HangUp)
		return store.OutcomeCancelled
	}
	return store.OutcomeEngineFailure
}

// outcomeCounts counts ended call attempts by outcome, for metrics. The
// outcomes are routing's and the call's own (store.Outcome*): a small
// fixed set, fit for a label.
type outcomeCounts struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (o *outcomeCounts) count(outcome string) {
	if outcome == "" {
		outcome = "unknown"
	}
	o.mu.Lock()
	if o.n == nil {
		o.n = make(map[string]uint64)
	}
	o.n[outcome]++
	o.mu.Unlock()
}

// Outcomes is how many call attempts have ended so far, by outcome
// ("answered", or why not).
func (e *Engine) Outcomes() map[string]uint64 {
	e.outcomes.mu.Lock()
	defer e.outcomes.mu.Unlock()
	return maps.Clone(e.outcomes.n)
}
