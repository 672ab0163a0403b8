package b2bua

import (
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// A call the engine answers itself: the courier's call to an AXE number
// (answer, prompt, collect the extension, look it up, then call the
// extension's party while the courier hears ringback), and announcements
// (answer, play, hang up). The menu's decisions are ivr.Menu's; this file
// runs them on the call's legs and relay through ivrIO, so the call still
// has one state machine (call_state.go) and the menu's part of it is
// tested by table like the rest.

// ivrIO is what a call the engine answers does outside itself, beyond
// callIO. sipIO is the real one (call_io_ivr.go).
type ivrIO interface {
	// answerEngine sends A the 200 with the engine's own SDP answer, or,
	// when A's INVITE had no SDP, the engine's offer (late: A's answer
	// comes in its ACK, for acceptA); evA2xxDone tells how the 200 ended.
	// An offer the engine cannot answer (neither PCMU nor PCMA) is a
	// *sipedge.StatusError with 488.
	answerEngine() (late bool, err error)
	// acceptA takes A's answer (in its ACK) to the engine's offer.
	acceptA(sdp []byte) error
	// play starts sound towards A in place of the one playing; when it
	// has played to its end (not when stopped) evPromptDone with the
	// returned seq follows. Loop plays it until stopped (ringback).
	play(sound ivr.Prompt, loop bool) (seq uint32, err error)
	// stopPlay ends what plays towards A (barge-in, the bridge).
	stopPlay()
	// lookup resolves the digits A keyed on the call's X; found, the B
	// party and its binding are the call's from then on.
	lookup(digits string) (found bool, err error)
	// placeB sends the INVITE to the party lookup found, offering only
	// the codec A's call negotiated, A keeping its relay port.
	placeB() error
	// earlyB takes B's early-media SDP: B's audio replaces the ringback
	// once it flows.
	earlyB(res *sip.Response)
	// acceptB takes B's answer: the relay bridges A and B.
	acceptB(res *sip.Response) error
	// detachB forgets B's early media once B's leg failed, so that what
	// B's network still sends cannot cut the prompt A then hears short.
	detachB()
	// up marks the call answered: its record, its talk time, the caller
	// remembered for A's callback.
	up()
	// armAt posts an event of kind k at t.
	armAt(k eventKind, at time.Time)
	// now is the call's clock.
	now() time.Time
}

// lastPromptGuard bounds how long a last prompt may take to report its
// end before the BYE goes anyway.
const lastPromptGuard = 30 * time.Second

// ringback is the sound A hears while B's phone rings with no early media.
const ringback ivr.Prompt = "ringback"

// Reasons on the BYEs of calls the engine answers.
const (
	reasonMenuNoACK       = `SIP;cause=408;text="no ACK"`
	reasonCancelledAnswer = `SIP;cause=487;text="answered after cancel"`
)

// answerToCollect answers A with the engine's SDP and starts the menu; the
// extension may already be known from the dialled number.
func (c *call) answerToCollect(ev event) state {
	late, err := c.ivr.answerEngine()
	if err != nil {
		c.log.Info().Err(err).Msg("engine cannot answer the call")
		return c.fail(sipedge.StatusOf(err, sip.StatusNotAcceptableHere))
	}
	c.log.Info().Bool("digits_dialled", ev.dialled != "").Bool("late_offer", late).Msg("engine answered: collecting the extension")
	if late {
		// Nothing can be played before A's answer: the menu starts with
		// the ACK that carries it (engineAck).
		c.lateStart = &ev
		return stateCollecting
	}
	return c.runMenu(c.menu.Start(c.ivr.now(), ev.dialled))
}

// answerToAnnounce answers A, plays ev.prompt and hangs up after it.
func (c *call) answerToAnnounce(ev event) state {
	late, err := c.ivr.answerEngine()
	if err != nil {
		c.log.Info().Err(err).Msg("engine cannot answer the call")
		return c.fail(sipedge.StatusOf(err, sip.StatusNotAcceptableHere))
	}
	c.log.Info().Str("prompt", string(ev.prompt)).Bool("late_offer", late).Msg("engine answered: announcing")
	if late {
		c.lateStart = &ev
		c.ivr.armAt(evMenuTimer, c.ivr.now().Add(lastPromptGuard))
		return stateEngineAnswered
	}
	return c.lastPrompt(ev.prompt)
}

// engineAck takes A's ACK of the engine's 200. After a late offer it
// carries A's answer: the menu, or the announcement, starts now. Without a
// usable answer the call cannot carry a prompt and is hung up.
func (c *call) engineAck(ev event) state {
	start := c.lateStart
	if start == nil {
		return c.state // the ACK of an answer, or a retransmission
	}
	c.lateStart = nil
	if err := c.ivr.acceptA(ev.sdp); err != nil {
		c.log.Warn().Err(err).Msg("unusable sdp answer in a's ack")
		return c.byeA(byEngine, reasonHeader(reasonNoSDPAnswer))
	}
	if start.kind == evAnnounce {
		return c.lastPrompt(start.prompt)
	}
	return c.runMenu(c.menu.Start(c.ivr.now(), start.dialled))
}

// runMenu carries out the menu's actions in order and says where the call
// is then: still collecting, calling the extension's party, saying goodbye
// or hanging up.
func (c *call) runMenu(acts []ivr.Action) state {
	for i := 0; i < len(acts); i++ {
		a := acts[i]
		switch a.Kind {
		case ivr.Play:
			if !c.playPrompt(a.Prompt, false) {
				// A prompt that cannot play has played: the menu must
				// not wait for its end.
				acts = append(acts, c.menu.PromptDone(c.ivr.now())...)
			}
		case ivr.StopPlayback:
			c.ivr.stopPlay()
		case ivr.Lookup:
			found, err := c.ivr.lookup(a.Digits)
			if err != nil {
				c.log.Warn().Err(err).Msg("extension lookup failed")
				c.noteEnd(events.ByEngine, store.OutcomeStoreFailure, sip.StatusServiceUnavailable)
				return c.lastPrompt(ivr.PromptUnavailable)
			}
			more := c.menu.LookupResult(c.ivr.now(), found)
			if found {
				return c.callFromIVR()
			}
			c.log.Info().Int("tries", c.menu.Tries()).Msg("extension not found")
			acts = append(acts, more...)
		case ivr.Hangup:
			c.ivr.stopPlay()
			// The menu gave up: no extension found in its tries (or none
			// keyed in time).
			c.noteEnd(events.ByEngine, store.OutcomeExtensionNotFound, sip.StatusNotFound)
			return c.byeA(byEngine, nil)
		}
	}
	if d := c.menu.Deadline(); !d.IsZero() {
		c.ivr.armAt(evMenuTimer, d)
	}
	return stateCollecting
}

// playPrompt plays sound to A; false when it cannot.
func (c *call) playPrompt(sound ivr.Prompt, loop bool) bool {
	seq, err := c.ivr.play(sound, loop)
	if err != nil {
		c.log.Warn().Err(err).Str("prompt", string(sound)).Msg("prompt not played")
		c.playSeq = 0
		return false
	}
	c.playSeq = seq
	return true
}

func (c *call) menuDigit(ev event) state { return c.runMenu(c.menu.Digit(c.ivr.now(), ev.digit)) }

func (c *call) menuPromptDone(ev event) state {
	if ev.seq != c.playSeq {
		return stateCollecting // a prompt stopped or replaced before it ended
	}
	return c.runMenu(c.menu.PromptDone(c.ivr.now()))
}

func (c *call) menuTimer(event) state { return c.runMenu(c.menu.Timeout(c.ivr.now())) }

// callFromIVR calls the extension's party; A hears ringback meanwhile.
func (c *call) callFromIVR() state {
	c.ivr.stopPlay()
	if err := c.ivr.placeB(); err != nil {
		c.log.Warn().Err(err).Msg("b leg invite not sent")
		code := sipedge.StatusOf(err, sip.StatusServiceUnavailable)
		outcome := store.OutcomeTrunkFailure
		if code == sip.StatusTemporarilyUnavailable {
			outcome = store.OutcomeExpired
		}
		c.noteEnd(events.ByEngine, outcome, code)
		return c.lastPrompt(ivr.PromptUnavailable)
	}
	c.playPrompt(ringback, true)
	c.io.arm(evAnswerTimeout, c.answerTimeout)
	return stateBCallingFromIVR
}

// earlyFromIVR: B rings, perhaps with early media, which replaces the
// ringback as it flows. A already has its 200: nothing is relayed.
func (c *call) earlyFromIVR(ev event) state {
	c.recordStep(c.track.Ringing(c.ivr.now()))
	if !c.bRang {
		c.observe(ringingTime, c.ivr.now().Sub(c.started))
	}
	c.bRang = true
	if len(ev.res.Body()) > 0 {
		c.ivr.earlyB(ev.res)
	}
	return stateBCallingFromIVR
}

// answeredFromIVR bridges A to B; the call is up like any other.
func (c *call) answeredFromIVR(ev event) state {
	c.io.establishB(ev.res)
	c.bAckPending = true
	c.ackB(nil)
	c.ivr.stopPlay()
	if err := c.ivr.acceptB(ev.res); err != nil {
		c.log.Warn().Err(err).Msg("unusable sdp from b")
		c.endedBy = byEngine.String()
		c.io.bye(true, true, reasonHeader(reasonUnusableSDP))
		return stateEnding
	}
	c.answered = c.ivr.now()
	c.observe(answerTime, c.answered.Sub(c.started))
	c.ivr.up()
	c.log.Info().Dur("setup", c.answered.Sub(c.started)).Msg("call answered")
	return stateConfirmed
}

// unavailableFromIVR: the extension's party did not take the call; A is
// told so before the BYE, not left in silence.
func (c *call) unavailableFromIVR(ev event) state {
	if ev.res != nil {
		c.log.Info().Int("b_status", ev.res.StatusCode).Msg("b leg failed")
		c.noteEnd(events.ByCallee, events.OutcomeOfStatus(ev.res.StatusCode), ev.res.StatusCode)
	} else {
		c.log.Info().Err(ev.err).Msg("b leg transaction ended without answer")
		c.noteEnd(events.ByEngine, store.OutcomeTrunkFailure, sip.StatusRequestTimeout)
	}
	c.ivr.detachB()
	return c.lastPrompt(ivr.PromptUnavailable)
}

// rangTooLongFromIVR: B rang past the answer timeout: cancelled (once it
// has rung; before, its INVITE is given up), and A told.
func (c *call) rangTooLongFromIVR(event) state {
	c.log.Info().Dur("after", c.answerTimeout).Msg("no answer from b leg")
	c.noteEnd(events.ByEngine, store.OutcomeNoAnswer, sip.StatusRequestTimeout)
	c.stopB()
	c.ivr.detachB()
	return c.lastPrompt(ivr.PromptUnavailable)
}

// stopB gives B's INVITE up: CANCEL once B has rung (RFC 3261 9.1), else
// the transaction is abandoned.
func (c *call) stopB() {
	if c.bRang {
		c.cancelB()
	} else {
		c.io.abandonB()
	}
}

// answeredAfterCancel: B's 2xx crossed the CANCEL sent when it rang too
// long; A is being told B is unavailable, so B is acknowledged and hung up.
func (c *call) answeredAfterCancel(ev event) state {
	c.io.establishB(ev.res)
	c.bAckPending = true
	c.ackB(nil)
	c.io.bye(false, true, reasonHeader(reasonCancelledAnswer))
	return stateEngineAnswered
}

// engineAnswerDone: A's ACK of the engine's 200 came, or never did.
func (c *call) engineAnswerDone(ev event) state {
	if ev.err == nil {
		return c.state
	}
	c.log.Warn().Err(ev.err).Msg("a leg never acknowledged the engine's answer")
	c.ivr.stopPlay()
	return c.byeA(byEngine, reasonHeader(reasonMenuNoACK))
}

// engineAnswerDoneCalling: the same while B is called.
func (c *call) engineAnswerDoneCalling(ev event) state {
	if ev.err == nil {
		return stateBCallingFromIVR
	}
	c.log.Warn().Err(ev.err).Msg("a leg never acknowledged the engine's answer")
	return c.endWhileIVRCalls(byEngine, reasonHeader(reasonMenuNoACK))
}

// engineTakes answers A's in-dialog requests while the engine is A's
// other end: an INFO is the engine's to read (A's keys, onInDialog); an
// offer waits for the bridge (491).
func (c *call) engineTakes(ev event) state {
	if ev.offer {
		return c.holdBack(ev)
	}
	ev.reply <- verdictEngine
	return c.state
}

// terminateEngineAnswered: the engine ends a call only A is on.
func (c *call) terminateEngineAnswered(ev event) state {
	c.ivr.stopPlay()
	return c.byeA(byEngine, ev.reason)
}

// byeToEngine: A hung up on the engine; nothing else is up.
func (c *call) byeToEngine(event) state {
	c.ivr.stopPlay()
	c.endedBy = byA.String()
	return stateEnded
}

// byeWhileIVRCalls: A hung up while B was being called.
func (c *call) byeWhileIVRCalls(event) state { return c.endWhileIVRCalls(byA, nil) }

// terminateWhileIVRCalls: the engine ends the call while B is called.
func (c *call) terminateWhileIVRCalls(ev event) state {
	return c.endWhileIVRCalls(byEngine, ev.reason)
}

// endWhileIVRCalls ends a call whose B leg is being called: A gets a BYE
// (unless A sent one), B a CANCEL as soon as it may, and the call waits in
// cancelling for B's final answer, as a set-up call does.
func (c *call) endWhileIVRCalls(by origin, reason sip.Header) state {
	c.ivr.stopPlay()
	c.endedBy = by.String()
	if by != byA {
		c.io.bye(true, false, reason)
	}
	if c.bRang {
		c.cancelB()
		c.io.arm(evCancelGuard, cancelGuardRinging)
	} else {
		c.io.arm(evCancelGuard, cancelGuardSilent)
	}
	return stateCancelling
}

// lastPrompt plays A a last prompt; the BYE follows its end (or its guard).
func (c *call) lastPrompt(p ivr.Prompt) state {
	c.ivr.stopPlay()
	if !c.playPrompt(p, false) {
		return c.byeA(byEngine, nil)
	}
	c.ivr.armAt(evMenuTimer, c.ivr.now().Add(lastPromptGuard))
	return stateEngineAnswered
}

func (c *call) lastPromptDone(ev event) state {
	if ev.seq != c.playSeq {
		return stateEngineAnswered
	}
	return c.byeA(byEngine, nil)
}

func (c *call) lastPromptGuard(event) state {
	c.ivr.stopPlay()
	return c.byeA(byEngine, nil)
}

// byeA ends a call whose only leg up is A's.
func (c *call) byeA(by origin, reason sip.Header) state {
	c.endedBy = by.String()
	c.io.bye(true, false, reason)
	return stateEnding
}
