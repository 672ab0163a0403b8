package b2bua

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/media"
)

// The state machine by table, without a socket: each case feeds a call a
// sequence of events and checks, after every one, the state it is in and
// what it did through callIO (recorded by recorder).

// recorder is a callIO that writes down what the call does. Rewriting "bad"
// fails, as SDP the relay cannot carry does.
type recorder struct {
	did      []string
	startErr error
}

func (r *recorder) add(format string, args ...any) {
	r.did = append(r.did, fmt.Sprintf(format, args...))
}

func (r *recorder) startB() error { r.add("INVITE B"); return r.startErr }
func (r *recorder) relayProvisional(res *sip.Response) {
	r.add("A %d", res.StatusCode)
}
func (r *recorder) replyA(code int) { r.add("A %d", code) }
func (r *recorder) answerA(body []byte, _ []sip.Header) {
	r.add("A 200 %s", body)
}
func (r *recorder) establishB(*sip.Response) {}
func (r *recorder) ackB(sdp []byte) {
	if len(sdp) > 0 {
		r.add("ACK B %s", sdp)
		return
	}
	r.add("ACK B")
}
func (r *recorder) cancelB()  { r.add("CANCEL B") }
func (r *recorder) abandonB() { r.add("abandon B") }
func (r *recorder) bye(toA, toB bool, reason sip.Header) {
	var legs []string
	if toA {
		legs = append(legs, "A")
	}
	if toB {
		legs = append(legs, "B")
	}
	s := "BYE " + strings.Join(legs, "+")
	if reason != nil {
		s += " (" + reason.Value() + ")"
	}
	r.add("%s", s)
}
func (r *recorder) rewrite(from media.Side, sdp []byte) ([]byte, error) {
	if string(sdp) == "bad" {
		return nil, errors.New("unusable")
	}
	return []byte(fmt.Sprintf("relayed-%s", sdp)), nil
}
func (r *recorder) arm(k eventKind, _ time.Duration) { r.add("timer %s", k) }
func (r *recorder) release(endedBy string)           { r.add("release (%s)", endedBy) }
func (r *recorder) wait()                            {}

// Events, as the call's goroutine makes them.
func bRes(code int, sdp string) event {
	res := sip.NewResponse(code, "")
	if sdp != "" {
		res.SetBody([]byte(sdp))
	}
	return bResponse(res)
}

var (
	routed      = event{kind: evRouted}
	ringing     = bRes(180, "")
	earlyMedia  = bRes(183, "b-early")
	answered    = bRes(200, "b-sdp")
	answeredBad = bRes(200, "bad")
	busy        = bRes(486, "")
	terminated  = bRes(487, "")
	aCancel     = event{kind: evACancelled, err: sip.ErrTransactionCanceled}
	aAck        = event{kind: evAAck}
	a2xxAcked   = event{kind: evA2xxDone}
	a2xxLost    = event{kind: evA2xxDone, err: errors.New("no ACK received")}
	aBye        = event{kind: evABye}
	bBye        = event{kind: evBBye}
	legsClosed  = event{kind: evLegsClosed}
	bindingGone = event{kind: evTerminate, code: 480, reason: sip.NewHeader("Reason", `SIP;cause=480;text="binding deleted"`)}
)

func ackWith(sdp string) event { return event{kind: evAAck, sdp: []byte(sdp)} }
func fired(k eventKind) event  { return event{kind: k} }

// step is one event and what must follow: the state, and what the call did,
// "; "-separated ("" for nothing). A request event (evARequest, evBRequest)
// also checks its verdict.
type step struct {
	ev      event
	state   state
	did     string
	verdict verdict
}

func runSteps(t *testing.T, c *call, rec *recorder, steps []step) {
	t.Helper()
	for i, s := range steps {
		from := c.state
		rec.did = nil
		var reply chan verdict
		if s.ev.kind == evARequest || s.ev.kind == evBRequest {
			reply = make(chan verdict, 1)
			s.ev.reply = reply
		}
		c.handle(s.ev)
		if t.Failed() {
			return
		}
		if c.state != s.state {
			t.Fatalf("step %d: %s in %s went to %s, want %s", i, s.ev.kind, from, c.state, s.state)
		}
		if tr := transitions[from][s.ev.kind]; tr.do != nil && !slices.Contains(tr.to, c.state) {
			t.Fatalf("step %d: %s in %s went to %s, which the table does not list (%v)", i, s.ev.kind, from, c.state, tr.to)
		}
		if got := strings.Join(rec.did, "; "); got != s.did {
			t.Fatalf("step %d: %s in %s did %q, want %q", i, s.ev.kind, from, got, s.did)
		}
		if reply != nil {
			select {
			case v := <-reply:
				if v != s.verdict {
					t.Fatalf("step %d: verdict %d, want %d", i, v, s.verdict)
				}
			default:
				t.Fatalf("step %d: %s in %s got no verdict", i, s.ev.kind, from)
			}
		}
	}
	if c.state == stateEnded {
		select {
		case <-c.stopped:
		default:
			t.Fatal("ended call did not close stopped")
		}
	}
}

// tableCall is a call with nothing but a recorder behind it.
func tableCall(rec *recorder, offerless bool) *call {
	return &call{
		log:           zerolog.Nop(),
		io:            rec,
		answerTimeout: time.Minute,
		offerless:     offerless,
		events:        make(chan event, callEvents),
		stopped:       make(chan struct{}),
	}
}

// The steps every answered call starts with.
var (
	toRinging = []step{
		{routed, stateBCalling, "INVITE B; timer answer-timeout", 0},
		{ringing, stateBRinging, "A 180", 0},
	}
	toConfirmed = append(slices.Clone(toRinging),
		step{answered, stateAnswered, "ACK B; A 200 relayed-b-sdp", 0},
		step{a2xxAcked, stateConfirmed, "", 0},
	)
)

func then(start []step, more ...step) []step { return append(slices.Clone(start), more...) }

func TestCallStateTable(t *testing.T) {
	cases := []struct {
		name      string
		offerless bool
		startErr  error
		steps     []step
	}{
		{name: "answered, A hangs up", steps: then(toConfirmed,
			step{aBye, stateEnding, "BYE B", 0},
			step{legsClosed, stateEnded, "release (a)", 0},
		)},
		{name: "answered, B hangs up", steps: then(toConfirmed,
			step{bBye, stateEnding, "BYE A", 0},
			step{legsClosed, stateEnded, "release (b)", 0},
		)},
		{name: "early media relayed rewritten", steps: []step{
			{routed, stateBCalling, "INVITE B; timer answer-timeout", 0},
			{earlyMedia, stateBRinging, "A 183", 0},
			{earlyMedia, stateBRinging, "A 183", 0},
			{answered, stateAnswered, "ACK B; A 200 relayed-b-sdp", 0},
		}},
		{name: "B busy", steps: then(toRinging,
			step{busy, stateEnded, "A 486; release (setup)", 0},
		)},
		{name: "B redirects: A gets 480, not the targets", steps: then(toRinging,
			step{bRes(302, ""), stateEnded, "A 480; release (setup)", 0},
		)},
		{name: "B's INVITE times out", steps: []step{
			{routed, stateBCalling, "INVITE B; timer answer-timeout", 0},
			{event{kind: evBTxEnded}, stateEnded, "A 408; release (setup)", 0},
		}},
		{name: "B's INVITE cannot be sent", startErr: errors.New("no route"), steps: []step{
			{routed, stateEnded, "INVITE B; A 503; release (setup)", 0},
		}},
		{name: "A cancels while B rings", steps: then(toRinging,
			step{aCancel, stateCancelling, "CANCEL B; timer cancel-guard", 0},
			step{terminated, stateEnded, "release (setup)", 0},
		)},
		{name: "CANCEL/200 glare: B acknowledged and hung up", steps: then(toRinging,
			step{aCancel, stateCancelling, "CANCEL B; timer cancel-guard", 0},
			step{answered, stateEnding, "ACK B; BYE B", 0},
			step{terminated, stateEnding, "", 0},
			step{legsClosed, stateEnded, "release (setup)", 0},
		)},
		{name: "A cancels before B rings: CANCEL waits for a provisional", steps: []step{
			{routed, stateBCalling, "INVITE B; timer answer-timeout", 0},
			{aCancel, stateCancelling, "timer cancel-guard", 0},
			{ringing, stateCancelling, "CANCEL B", 0},
			{ringing, stateCancelling, "", 0},
			{terminated, stateEnded, "release (setup)", 0},
		}},
		{name: "silent trunk: answer timeout, then abandoned", steps: []step{
			{routed, stateBCalling, "INVITE B; timer answer-timeout", 0},
			{fired(evAnswerTimeout), stateCancelling, "A 408; timer cancel-guard", 0},
			{fired(evCancelGuard), stateEnded, "abandon B; release (setup)", 0},
		}},
		{name: "rings too long", steps: then(toRinging,
			step{fired(evAnswerTimeout), stateCancelling, "A 408; CANCEL B; timer cancel-guard", 0},
			step{fired(evAnswerTimeout), stateCancelling, "", 0},
			step{terminated, stateEnded, "release (setup)", 0},
		)},
		{name: "A's BYE on its early dialog", steps: then(toRinging,
			step{aBye, stateCancelling, "A 487; CANCEL B; timer cancel-guard", 0},
			step{terminated, stateEnded, "release (setup)", 0},
		)},
		{name: "binding ended while ringing", steps: then(toRinging,
			step{bindingGone, stateCancelling, "A 480; CANCEL B; timer cancel-guard", 0},
			step{answered, stateEnding, "ACK B; BYE B", 0},
			step{legsClosed, stateEnded, "release (setup)", 0},
		)},
		{name: "binding ended while routed", steps: []step{
			{bindingGone, stateEnded, "A 480; release (setup)", 0},
		}},
		{name: "binding gone at the second look", steps: []step{
			{event{kind: evRouteFailed, code: 480}, stateEnded, "A 480; release (setup)", 0},
		}},
		{name: "binding ended during the call", steps: then(toConfirmed,
			step{bindingGone, stateEnding, `BYE A+B (SIP;cause=480;text="binding deleted")`, 0},
			step{bBye, stateEnding, "", 0},
			step{legsClosed, stateEnded, "release (engine)", 0},
		)},
		{name: "A's BYE before its ACK", steps: then(toRinging,
			step{answered, stateAnswered, "ACK B; A 200 relayed-b-sdp", 0},
			step{aBye, stateEnding, "BYE B", 0},
			step{a2xxLost, stateEnding, "", 0},
			step{aAck, stateEnding, "", 0},
			step{legsClosed, stateEnded, "release (a)", 0},
		)},
		{name: "A's ACK overtakes the end of the 200's wait", steps: then(toRinging,
			step{answered, stateAnswered, "ACK B; A 200 relayed-b-sdp", 0},
			step{aAck, stateAnswered, "", 0},
			step{a2xxAcked, stateConfirmed, "", 0},
			step{aAck, stateConfirmed, "", 0},
		)},
		{name: "B's BYE racing its 200", steps: then(toRinging,
			step{bBye, stateBRinging, "timer b-bye-grace", 0},
			step{answered, stateAnswered, "ACK B; A 200 relayed-b-sdp", 0},
			step{fired(evBByeGrace), stateAnswered, "", 0},
			step{a2xxAcked, stateEnding, "BYE A", 0},
			step{legsClosed, stateEnded, "release (b)", 0},
		)},
		{name: "B's BYE and no 200 after it", steps: then(toRinging,
			step{bBye, stateBRinging, "timer b-bye-grace", 0},
			step{fired(evBByeGrace), stateCancelling, "A 480; CANCEL B; timer cancel-guard", 0},
			step{event{kind: evBTxEnded}, stateEnded, "release (setup)", 0},
		)},
		{name: "B hangs up before A's ACK", steps: then(toRinging,
			step{answered, stateAnswered, "ACK B; A 200 relayed-b-sdp", 0},
			step{bBye, stateEnding, "BYE A", 0},
			step{a2xxAcked, stateEnding, "", 0},
			step{legsClosed, stateEnded, "release (b)", 0},
		)},
		{name: "no ACK from A", steps: then(toRinging,
			step{answered, stateAnswered, "ACK B; A 200 relayed-b-sdp", 0},
			step{a2xxLost, stateEnding, `BYE A+B (SIP;cause=408;text="no ACK")`, 0},
			step{legsClosed, stateEnded, "release (engine)", 0},
		)},
		{name: "488 on an answer SDP the relay cannot use", steps: then(toRinging,
			step{answeredBad, stateEnding, `ACK B; A 488; BYE B (SIP;cause=488;text="unusable SDP")`, 0},
			step{legsClosed, stateEnded, "release (engine)", 0},
		)},
		{name: "late offer: answer in A's ACK", offerless: true, steps: then(toRinging,
			step{answered, stateAnswered, "A 200 relayed-b-sdp", 0},
			step{a2xxAcked, stateConfirmed, "timer ack-wait", 0},
			step{ackWith("a-sdp"), stateConfirmed, "ACK B relayed-a-sdp", 0},
			step{fired(evAckWait), stateConfirmed, "", 0},
			step{ackWith("a-sdp"), stateConfirmed, "", 0},
		)},
		{name: "late offer: A's ACK overtakes the end of the 200's wait", offerless: true, steps: then(toRinging,
			step{answered, stateAnswered, "A 200 relayed-b-sdp", 0},
			step{ackWith("a-sdp"), stateAnswered, "", 0},
			step{a2xxAcked, stateConfirmed, "ACK B relayed-a-sdp", 0},
		)},
		{name: "late offer: no answer comes", offerless: true, steps: then(toRinging,
			step{answered, stateAnswered, "A 200 relayed-b-sdp", 0},
			step{a2xxAcked, stateConfirmed, "timer ack-wait", 0},
			step{fired(evAckWait), stateEnding, `ACK B; BYE A+B (SIP;cause=488;text="no SDP answer")`, 0},
		)},
		{name: "late offer: unusable answer", offerless: true, steps: then(toRinging,
			step{answered, stateAnswered, "A 200 relayed-b-sdp", 0},
			step{a2xxAcked, stateConfirmed, "timer ack-wait", 0},
			step{ackWith("bad"), stateEnding, `ACK B; BYE A+B (SIP;cause=488;text="no SDP answer")`, 0},
		)},
		{name: "late offer: A hangs up before answering", offerless: true, steps: then(toRinging,
			step{answered, stateAnswered, "A 200 relayed-b-sdp", 0},
			step{aBye, stateEnding, "ACK B; BYE B", 0},
		)},
		{name: "in-dialog requests: 491 until up, mirrored once up, 491 ending", steps: []step{
			{event{kind: evARequest}, stateRouting, "", verdictPending},
			{routed, stateBCalling, "INVITE B; timer answer-timeout", 0},
			{event{kind: evBRequest}, stateBCalling, "", verdictPending},
			{ringing, stateBRinging, "A 180", 0},
			{event{kind: evARequest}, stateBRinging, "", verdictPending},
			{answered, stateAnswered, "ACK B; A 200 relayed-b-sdp", 0},
			{event{kind: evBRequest}, stateAnswered, "", verdictMirror},
			{a2xxAcked, stateConfirmed, "", 0},
			{event{kind: evARequest}, stateConfirmed, "", verdictMirror},
			{event{kind: evBRequest}, stateConfirmed, "", verdictMirror},
			{aBye, stateEnding, "BYE B", 0},
			{event{kind: evBRequest}, stateEnding, "", verdictPending},
		}},
		{name: "timers outliving their state change nothing", steps: then(toConfirmed,
			step{fired(evAnswerTimeout), stateConfirmed, "", 0},
			step{fired(evCancelGuard), stateConfirmed, "", 0},
			step{fired(evBByeGrace), stateConfirmed, "", 0},
			step{fired(evAckWait), stateConfirmed, "", 0},
		)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{startErr: tc.startErr}
			runSteps(t, tableCall(rec, tc.offerless), rec, tc.steps)
		})
	}
}

// TestCallStateTableShape checks the table itself: every action lists where
// it may lead, every live state answers in-dialog requests (their handlers
// wait for a verdict), and every live state can reach ended.
func TestCallStateTableShape(t *testing.T) {
	for s := state(0); s < numStates; s++ {
		if s.String() == "state?" {
			t.Errorf("state %d has no name", s)
		}
		live := s != stateEnded
		for k := eventKind(0); k < numEventKinds; k++ {
			tr := transitions[s][k]
			if k.String() == "event?" {
				t.Errorf("event %d has no name", k)
			}
			if tr.do == nil {
				if live && (k == evARequest || k == evBRequest) {
					t.Errorf("%s does not answer %s", s, k)
				}
				continue
			}
			if !live {
				t.Errorf("%s has a transition on %s", s, k)
			}
			if len(tr.to) == 0 {
				t.Errorf("%s on %s leads nowhere", s, k)
			}
		}
		if live && !reachesEnd(s) {
			t.Errorf("%s cannot reach ended", s)
		}
	}
}

func reachesEnd(from state) bool {
	seen := map[state]bool{from: true}
	todo := []state{from}
	for len(todo) > 0 {
		s := todo[0]
		todo = todo[1:]
		if s == stateEnded {
			return true
		}
		for _, tr := range transitions[s] {
			for _, to := range tr.to {
				if !seen[to] {
					seen[to] = true
					todo = append(todo, to)
				}
			}
		}
	}
	return false
}

// TestTerminateAfterEnd: posting to an ended call returns at once.
func TestTerminateAfterEnd(t *testing.T) {
	rec := &recorder{}
	c := tableCall(rec, false)
	c.handle(bindingGone)
	done := make(chan struct{})
	go func() {
		for range callEvents + 1 {
			c.terminate(nil, 503)
		}
		if v := c.ask(byA); v != verdictGone {
			t.Errorf("verdict %d for an ended call", v)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("posting to an ended call blocked")
	}
}

// nopIO is a callIO that does nothing: what a call costs in the state
// machine alone.
type nopIO struct{}

func (nopIO) startB() error                                    { return nil }
func (nopIO) relayProvisional(*sip.Response)                   {}
func (nopIO) replyA(int)                                       {}
func (nopIO) answerA([]byte, []sip.Header)                     {}
func (nopIO) establishB(*sip.Response)                         {}
func (nopIO) ackB([]byte)                                      {}
func (nopIO) cancelB()                                         {}
func (nopIO) abandonB()                                        {}
func (nopIO) bye(bool, bool, sip.Header)                       {}
func (nopIO) rewrite(_ media.Side, sdp []byte) ([]byte, error) { return sdp, nil }
func (nopIO) arm(eventKind, time.Duration)                     {}
func (nopIO) release(string)                                   {}
func (nopIO) wait()                                            {}

// BenchmarkCallStateMachine is one answered call hung up by A, event by
// event through the table: the state machine's share of a call's cost.
func BenchmarkCallStateMachine(b *testing.B) {
	events := []event{routed, ringing, answered, a2xxAcked, aAck, aBye, legsClosed}
	b.ReportAllocs()
	for b.Loop() {
		c := &call{log: zerolog.Nop(), io: nopIO{}, stopped: make(chan struct{})}
		for _, ev := range events {
			c.handle(ev)
		}
		if c.state != stateEnded {
			b.Fatalf("call in %s", c.state)
		}
	}
}
