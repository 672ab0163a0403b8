package b2bua

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/sipedge"
)

// ivrRecorder is the recorder for a call the engine answers: the menu's
// plays, lookups and the B leg it places, with a clock the test moves.
type ivrRecorder struct {
	*recorder
	clock     time.Time
	seq       uint32
	exts      map[string]bool // extension -> found
	late      bool            // A's INVITE had no SDP
	answerErr error
	playErr   error
	placeErr  error
	acceptErr error
}

func (r *ivrRecorder) answerEngine() (bool, error) {
	if r.late {
		r.add("A 200 engine-offer")
		return true, r.answerErr
	}
	r.add("A 200 engine-sdp")
	return false, r.answerErr
}
func (r *ivrRecorder) acceptA(sdp []byte) error {
	r.add("answer A %s", sdp)
	if string(sdp) == "bad" || len(sdp) == 0 {
		return errors.New("unusable")
	}
	return nil
}
func (r *ivrRecorder) play(p ivr.Prompt, loop bool) (uint32, error) {
	if r.playErr != nil {
		r.add("play %s failed", p)
		return 0, r.playErr
	}
	r.seq++
	if loop {
		r.add("play %s #%d looped", p, r.seq)
	} else {
		r.add("play %s #%d", p, r.seq)
	}
	return r.seq, nil
}
func (r *ivrRecorder) stopPlay() { r.add("stop") }
func (r *ivrRecorder) lookup(d string) (bool, error) {
	r.add("lookup %s", d)
	if d == "storefail" {
		return false, errors.New("store down")
	}
	return r.exts[d], nil
}
func (r *ivrRecorder) placeB() error { r.add("INVITE B from ivr"); return r.placeErr }
func (r *ivrRecorder) earlyB(res *sip.Response) {
	r.add("early B %s", res.Body())
}
func (r *ivrRecorder) acceptB(res *sip.Response) error {
	r.add("bridge %s", res.Body())
	return r.acceptErr
}
func (r *ivrRecorder) detachB()                        { r.add("detach B") }
func (r *ivrRecorder) up()                             { r.add("up") }
func (r *ivrRecorder) armAt(k eventKind, at time.Time) { r.add("timer %s +%v", k, at.Sub(ivrT0)) }
func (r *ivrRecorder) now() time.Time                  { return r.clock }

var ivrT0 = time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC)

// ivrStep is a step at a time since the engine answered.
type ivrStep struct {
	at    time.Duration
	ev    event
	state state
	did   string
}

func collect(dialled string) event { return event{kind: evCollect, dialled: dialled} }
func keyed(d byte) event           { return event{kind: evDigit, digit: d} }
func played(seq uint32) event      { return event{kind: evPromptDone, seq: seq} }

var menuTimer = event{kind: evMenuTimer}

func TestIVRStateTable(t *testing.T) {
	const s = time.Second
	cases := []struct {
		name  string
		setup func(*ivrRecorder)
		steps []ivrStep
	}{
		{name: "extension keyed, B answers: bridged", steps: []ivrStep{
			{0, collect(""), stateCollecting, "A 200 engine-sdp; play enter-extension #1"},
			{0, a2xxAcked, stateCollecting, ""},
			{3 * s, played(1), stateCollecting, "timer menu-timer +13s"},
			{4 * s, keyed('1'), stateCollecting, "timer menu-timer +9s"},
			{4 * s, keyed('2'), stateCollecting, "timer menu-timer +9s"},
			{5 * s, keyed('3'), stateCollecting, "timer menu-timer +10s"},
			{5 * s, keyed('4'), stateBCallingFromIVR, "lookup 1234; stop; INVITE B from ivr; play ringback #2 looped; timer answer-timeout"},
			{6 * s, ringing, stateBCallingFromIVR, ""},
			{7 * s, earlyMedia, stateBCallingFromIVR, "early B b-early"},
			{8 * s, answered, stateConfirmed, "ACK B; stop; bridge b-sdp; up"},
			{9 * s, aBye, stateEnding, "BYE B"},
			{9 * s, legsClosed, stateEnded, "release (a)"},
		}},
		{name: "barge-in, a wrong then a right extension", steps: []ivrStep{
			{0, collect(""), stateCollecting, "A 200 engine-sdp; play enter-extension #1"},
			{1 * s, keyed('9'), stateCollecting, "stop; timer menu-timer +6s"},
			{1 * s, keyed('9'), stateCollecting, "timer menu-timer +6s"},
			{1 * s, keyed('#'), stateCollecting, "lookup 99; play not-found-retry #2"},
			{2 * s, played(1), stateCollecting, ""}, // the stopped prompt's end is stale
			{3 * s, played(2), stateCollecting, "timer menu-timer +13s"},
			{4 * s, keyed('1'), stateCollecting, "timer menu-timer +9s"},
			{4 * s, keyed('2'), stateCollecting, "timer menu-timer +9s"},
			{4 * s, keyed('3'), stateCollecting, "timer menu-timer +9s"},
			{4 * s, keyed('4'), stateBCallingFromIVR, "lookup 1234; stop; INVITE B from ivr; play ringback #3 looped; timer answer-timeout"},
		}},
		{name: "digits in the dialled number skip the prompt", steps: []ivrStep{
			{0, collect("1234"), stateBCallingFromIVR, "A 200 engine-sdp; lookup 1234; stop; INVITE B from ivr; play ringback #1 looped; timer answer-timeout"},
		}},
		{name: "first-digit timeouts, goodbye, BYE", steps: []ivrStep{
			{0, collect(""), stateCollecting, "A 200 engine-sdp; play enter-extension #1"},
			{3 * s, played(1), stateCollecting, "timer menu-timer +13s"},
			{12 * s, menuTimer, stateCollecting, "timer menu-timer +13s"}, // early: stale timers are harmless
			{13 * s, menuTimer, stateCollecting, "play enter-extension #2"},
			{15 * s, played(2), stateCollecting, "timer menu-timer +25s"},
			{25 * s, menuTimer, stateCollecting, "play enter-extension #3"},
			{27 * s, played(3), stateCollecting, "timer menu-timer +37s"},
			{37 * s, menuTimer, stateCollecting, "play goodbye #4"},
			{39 * s, played(4), stateEnding, "stop; BYE A"},
			{39 * s, legsClosed, stateEnded, "release (engine)"},
		}},
		{name: "B busy: A hears why, then the BYE", steps: []ivrStep{
			{0, collect("1234"), stateBCallingFromIVR, "A 200 engine-sdp; lookup 1234; stop; INVITE B from ivr; play ringback #1 looped; timer answer-timeout"},
			{1 * s, busy, stateEngineAnswered, "detach B; stop; play callee-unavailable #2; timer menu-timer +31s"},
			{3 * s, played(2), stateEnding, "BYE A"},
			{3 * s, legsClosed, stateEnded, "release (engine)"},
		}},
		{name: "B rings too long: cancelled, A told; B's 2xx crossing the CANCEL is hung up", steps: []ivrStep{
			{0, collect("1234"), stateBCallingFromIVR, "A 200 engine-sdp; lookup 1234; stop; INVITE B from ivr; play ringback #1 looped; timer answer-timeout"},
			{1 * s, ringing, stateBCallingFromIVR, ""},
			{60 * s, fired(evAnswerTimeout), stateEngineAnswered, "CANCEL B; detach B; stop; play callee-unavailable #2; timer menu-timer +1m30s"},
			{60 * s, answered, stateEngineAnswered, `ACK B; BYE B (SIP;cause=487;text="answered after cancel")`},
			{62 * s, played(2), stateEnding, "BYE A"},
		}},
		{name: "B never rang: its INVITE is given up, not cancelled", steps: []ivrStep{
			{0, collect("1234"), stateBCallingFromIVR, "A 200 engine-sdp; lookup 1234; stop; INVITE B from ivr; play ringback #1 looped; timer answer-timeout"},
			{60 * s, fired(evAnswerTimeout), stateEngineAnswered, "abandon B; detach B; stop; play callee-unavailable #2; timer menu-timer +1m30s"},
			{90 * s, menuTimer, stateEnding, "stop; BYE A"},
		}},
		{name: "A hangs up while B rings", steps: []ivrStep{
			{0, collect("1234"), stateBCallingFromIVR, "A 200 engine-sdp; lookup 1234; stop; INVITE B from ivr; play ringback #1 looped; timer answer-timeout"},
			{1 * s, ringing, stateBCallingFromIVR, ""},
			{2 * s, aBye, stateCancelling, "stop; CANCEL B; timer cancel-guard"},
			{2 * s, terminated, stateEnded, "release (a)"},
		}},
		{name: "binding ended while B is called", steps: []ivrStep{
			{0, collect("1234"), stateBCallingFromIVR, "A 200 engine-sdp; lookup 1234; stop; INVITE B from ivr; play ringback #1 looped; timer answer-timeout"},
			{1 * s, bindingGone, stateCancelling, `stop; BYE A (SIP;cause=480;text="binding deleted"); timer cancel-guard`},
			{2 * s, ringing, stateCancelling, "CANCEL B"},
		}},
		{name: "A hangs up on the menu", steps: []ivrStep{
			{0, collect(""), stateCollecting, "A 200 engine-sdp; play enter-extension #1"},
			{1 * s, aBye, stateEnded, "stop; release (a)"},
		}},
		{name: "A never acknowledges the engine's answer", steps: []ivrStep{
			{0, collect(""), stateCollecting, "A 200 engine-sdp; play enter-extension #1"},
			{32 * s, a2xxLost, stateEnding, `stop; BYE A (SIP;cause=408;text="no ACK")`},
		}},
		{name: "an offer the engine cannot answer", setup: func(r *ivrRecorder) {
			r.answerErr = &sipedge.StatusError{Code: 488, Err: errors.New("no pcmu or pcma")}
		}, steps: []ivrStep{
			{0, collect(""), stateEnded, "A 200 engine-sdp; A 488; release (setup)"},
		}},
		{name: "a prompt that cannot play does not hold up the menu", setup: func(r *ivrRecorder) { r.playErr = errors.New("no file") }, steps: []ivrStep{
			{0, collect(""), stateCollecting, "A 200 engine-sdp; play enter-extension failed; timer menu-timer +10s"},
		}},
		{name: "the store fails the lookup: A told, then the BYE", steps: []ivrStep{
			{0, collect("storefail"), stateEngineAnswered, "A 200 engine-sdp; lookup storefail; stop; play callee-unavailable #1; timer menu-timer +30s"},
		}},
		{name: "B's INVITE cannot be sent", setup: func(r *ivrRecorder) { r.placeErr = errors.New("no route") }, steps: []ivrStep{
			{0, collect("1234"), stateEngineAnswered, "A 200 engine-sdp; lookup 1234; stop; INVITE B from ivr; stop; play callee-unavailable #1; timer menu-timer +30s"},
		}},
		{name: "B's answer unusable: both hung up", setup: func(r *ivrRecorder) { r.acceptErr = errors.New("bad sdp") }, steps: []ivrStep{
			{0, collect("1234"), stateBCallingFromIVR, "A 200 engine-sdp; lookup 1234; stop; INVITE B from ivr; play ringback #1 looped; timer answer-timeout"},
			{1 * s, answered, stateEnding, `ACK B; stop; bridge b-sdp; BYE A+B (SIP;cause=488;text="unusable SDP")`},
		}},
		{name: "late offer: the menu starts with the answer in A's ACK", setup: func(r *ivrRecorder) { r.late = true }, steps: []ivrStep{
			{0, collect(""), stateCollecting, "A 200 engine-offer"},
			{0, ackWith("a-answer"), stateCollecting, "answer A a-answer; play enter-extension #1"},
			{1 * s, ackWith("a-answer"), stateCollecting, ""}, // a retransmission starts nothing
			{1 * s, keyed('1'), stateCollecting, "stop; timer menu-timer +6s"},
		}},
		{name: "late offer without an answer in the ACK: BYE", setup: func(r *ivrRecorder) { r.late = true }, steps: []ivrStep{
			{0, collect(""), stateCollecting, "A 200 engine-offer"},
			{0, aAck, stateEnding, `answer A ; BYE A (SIP;cause=488;text="no SDP answer")`},
		}},
		{name: "late offer to an announcement", setup: func(r *ivrRecorder) { r.late = true }, steps: []ivrStep{
			{0, event{kind: evAnnounce, prompt: ivr.PromptNoCallback}, stateEngineAnswered, "A 200 engine-offer; timer menu-timer +30s"},
			{0, ackWith("a-answer"), stateEngineAnswered, "answer A a-answer; stop; play no-callback #1; timer menu-timer +30s"},
		}},
		{name: "announcement: answer, play, hang up", steps: []ivrStep{
			{0, event{kind: evAnnounce, prompt: ivr.PromptNoCallback}, stateEngineAnswered, "A 200 engine-sdp; stop; play no-callback #1; timer menu-timer +30s"},
			{2 * s, keyed('5'), stateEngineAnswered, ""},
			{3 * s, played(1), stateEnding, "BYE A"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &ivrRecorder{recorder: &recorder{}, clock: ivrT0, exts: map[string]bool{"1234": true}}
			if tc.setup != nil {
				tc.setup(rec)
			}
			c := tableCall(rec.recorder, false)
			c.ivr, c.menu = rec, ivr.NewMenu(ivr.DefaultConfig())
			for i, st := range tc.steps {
				from := c.state
				rec.clock = ivrT0.Add(st.at)
				rec.did = nil
				c.handle(st.ev)
				if c.state != st.state {
					t.Fatalf("step %d: %s in %s went to %s, want %s", i, st.ev.kind, from, c.state, st.state)
				}
				if tr := transitions[from][st.ev.kind]; tr.do != nil && !slices.Contains(tr.to, c.state) {
					t.Fatalf("step %d: %s in %s went to %s, which the table does not list (%v)", i, st.ev.kind, from, c.state, tr.to)
				}
				if got := strings.Join(rec.did, "; "); got != st.did {
					t.Fatalf("step %d: %s in %s did\n %q\nwant\n %q", i, st.ev.kind, from, got, st.did)
				}
			}
		})
	}
}
