package b2bua

import (
	"errors"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// The actions of the transitions table. Each runs on the call's goroutine,
// acts through c.io (nothing here touches a socket, the relay or the clock
// directly) and returns the state the call moves to.

// cancelGuardRinging bounds the wait for B's 487 after a CANCEL (sipgo's
// T1 is a variable, so this is one too).
var cancelGuardRinging = 64 * sip.T1

const (
	// cancelGuardSilent is the grace a silent trunk gets for a provisional
	// the CANCEL could follow; past it the transaction is abandoned.
	cancelGuardSilent = 4 * time.Second
	// ackWait is how long a late offer's answer may lag A's ACK: sipgo
	// confirms the dialog on the ACK, whose body follows at once or never.
	ackWait = time.Second
	// bByeGrace is how long a B whose BYE came first has for its 2xx.
	bByeGrace = 2 * time.Second
)

// Reasons on the BYEs the engine sends of its own accord; a header is made
// per message, as sipgo's messages own theirs.
const (
	reasonNoACK       = `SIP;cause=408;text="no ACK"`
	reasonUnusableSDP = `SIP;cause=488;text="unusable SDP"`
	reasonNoSDPAnswer = `SIP;cause=488;text="no SDP answer"`
)

func reasonHeader(value string) sip.Header { return sip.NewHeader("Reason", value) }

// ---- routing ----

// sendB sends B's INVITE and starts the answer timer.
func (c *call) sendB(event) state {
	if err := c.io.startB(); err != nil {
		c.log.Warn().Err(err).Msg("b leg invite not sent")
		c.noteEnd(events.ByEngine, store.OutcomeTrunkFailure, sip.StatusServiceUnavailable)
		return c.fail(sip.StatusServiceUnavailable)
	}
	c.recordStep(c.track.Routed(c.route, c.bCallID, time.Now()))
	c.io.arm(evAnswerTimeout, c.answerTimeout)
	return stateBCalling
}

// routeFailed: the binding is gone after all, or the store could not tell.
func (c *call) routeFailed(ev event) state {
	outcome := store.OutcomeExpired
	if ev.code >= 500 {
		outcome = store.OutcomeStoreFailure
	}
	c.noteEnd(events.ByEngine, outcome, ev.code)
	return c.fail(ev.code)
}

// cancelledWhileRouted: A cancelled before B was called; A has its 487.
func (c *call) cancelledWhileRouted(ev event) state {
	c.log.Info().Err(ev.err).Msg("a leg cancelled while routed")
	c.noteEnd(events.ByCaller, store.OutcomeCancelled, sip.StatusRequestTerminated)
	return c.fail(0)
}

// byeWhileRouted: A's BYE on its early dialog ends the call like a CANCEL.
func (c *call) byeWhileRouted(event) state {
	c.noteEnd(events.ByCaller, store.OutcomeCancelled, sip.StatusRequestTerminated)
	return c.fail(sip.StatusRequestTerminated)
}

// terminatedWhileRouted: the engine ended the call before B was called.
func (c *call) terminatedWhileRouted(ev event) state {
	c.log.Info().Int("code", ev.code).Msg("call stopped while routed")
	c.noteEnd(events.ByEngine, stoppedOutcome(ev.code), ev.code)
	return c.fail(ev.code)
}

// fail ends a call that never got up, telling A code (0: A already knows).
func (c *call) fail(code int) state {
	if code != 0 {
		c.io.replyA(code)
	}
	c.endedBy = "setup"
	return stateEnded
}

// ---- B's INVITE outstanding ----

// provisional relays B's 180/183 (early-media SDP rewritten) to A.
func (c *call) provisional(ev event) state {
	if !c.bRang {
		c.bRang = true
		c.observe(ringingTime, time.Since(c.started))
	}
	c.recordStep(c.track.Ringing(time.Now()))
	c.io.relayProvisional(ev.res)
	return stateBRinging
}

// bRejected passes B's failure on to A, mapped by the header policy.
func (c *call) bRejected(ev event) state {
	code, _ := sipedge.RelayedStatus(ev.res.StatusCode)
	c.log.Info().Int("b_status", ev.res.StatusCode).Int("code", code).Msg("b leg failed")
	c.noteEnd(events.ByCallee, events.OutcomeOfStatus(ev.res.StatusCode), ev.res.StatusCode)
	return c.fail(code)
}

// bTxEnded: B's INVITE timed out (or its transport failed) unanswered.
func (c *call) bTxEnded(ev event) state {
	c.log.Info().Err(ev.err).Msg("b leg transaction ended without answer")
	c.noteEnd(events.ByEngine, store.OutcomeTrunkFailure, sip.StatusRequestTimeout)
	return c.fail(sip.StatusRequestTimeout)
}

// aCancelled: A's CANCEL; sipgo has answered it and the INVITE (487).
func (c *call) aCancelled(ev event) state {
	c.noteEnd(events.ByCaller, store.OutcomeCancelled, sip.StatusRequestTerminated)
	if errors.Is(ev.err, sip.ErrTransactionCanceled) {
		c.log.Info().Msg("a leg cancelled")
	}
	return c.abandon(0)
}

// aByeEarly: A's BYE on its early dialog ends the call like a CANCEL.
func (c *call) aByeEarly(event) state {
	c.noteEnd(events.ByCaller, store.OutcomeCancelled, sip.StatusRequestTerminated)
	return c.abandon(sip.StatusRequestTerminated)
}

// rangTooLong: B rang past the answer timeout; A gets 408, B a CANCEL.
func (c *call) rangTooLong(event) state {
	c.log.Info().Dur("after", c.answerTimeout).Msg("no answer from b leg")
	c.noteEnd(events.ByEngine, store.OutcomeNoAnswer, sip.StatusRequestTimeout)
	return c.abandon(sip.StatusRequestTimeout)
}

// stopSetup: the engine ends a call being set up (binding ended while
// ringing, shutdown).
func (c *call) stopSetup(ev event) state {
	c.log.Info().Int("code", ev.code).Msg("call stopped during setup")
	c.noteEnd(events.ByEngine, stoppedOutcome(ev.code), ev.code)
	return c.abandon(ev.code)
}

// bByeEarly: B's BYE overtook its 2xx in our handling (each message has its
// own goroutine). A still gets the 2xx and then a BYE (aAnswerDone); should
// no 2xx follow, the call ends in setup (bByeGrace).
func (c *call) bByeEarly(event) state {
	c.bHungUp = true
	c.io.arm(evBByeGrace, bByeGrace)
	return c.state
}

// bByeGrace: B hung up and its 2xx never came.
func (c *call) bByeGrace(event) state {
	c.noteEnd(events.ByCallee, store.OutcomeRejected, sip.StatusTemporarilyUnavailable)
	return c.abandon(sip.StatusTemporarilyUnavailable)
}

// abandon gives the setup up: A is told code (0: A has its answer already)
// and B's INVITE is cancelled, at once when B has sent a provisional, or
// as soon as it does.
func (c *call) abandon(code int) state {
	if code != 0 {
		c.io.replyA(code)
	}
	c.endedBy = "setup"
	if c.state == stateBRinging {
		c.cancelB()
		c.io.arm(evCancelGuard, cancelGuardRinging)
	} else {
		c.io.arm(evCancelGuard, cancelGuardSilent)
	}
	return stateCancelling
}

// cancelB sends CANCEL on B once.
func (c *call) cancelB() {
	if !c.cancelSent {
		c.cancelSent = true
		c.io.cancelB()
	}
}

// bAnswered takes B's 2xx: acknowledge it (a late offer's ACK waits for A's
// answer) and send A the 200 with B's SDP rewritten. An answer the relay
// cannot use gets A a 488 and B a BYE.
func (c *call) bAnswered(ev event) state {
	res := ev.res
	c.io.establishB(res)
	// A late offer (INVITE without SDP) puts the offer in B's 2xx and the
	// answer in A's ACK, so B's ACK waits for A's. Every path ACKs B
	// exactly once, before any BYE (ackB).
	c.bAckPending = true
	if !(c.offerless && len(res.Body()) > 0) {
		c.ackB(nil)
	}
	var body []byte
	var headers []sip.Header
	if sdp := res.Body(); len(sdp) > 0 {
		var err error
		if body, err = c.io.rewrite(media.SideB, sdp); err != nil {
			c.log.Warn().Err(err).Msg("unusable sdp from b")
			// A has no 2xx: it gets the failure as its final answer, and
			// only B, whose dialog is up, gets a BYE.
			c.io.replyA(sip.StatusNotAcceptableHere)
			return c.hangup(byEngine, reasonHeader(reasonUnusableSDP))
		}
		headers = append(headers, sip.NewHeader("Content-Type", "application/sdp"))
	}
	headers = append(headers, sip.NewHeader("Allow", sipedge.AllowedMethods))
	c.answered = time.Now()
	c.observe(answerTime, c.answered.Sub(c.started))
	c.log.Info().Dur("setup", c.answered.Sub(c.started)).Msg("call answered")
	// The 200 is retransmitted until A's ACK (evA2xxDone).
	c.io.answerA(body, headers)
	return stateAnswered
}

// ---- A's 200 outstanding, and the call up ----

// aAnswerDone: A acknowledged the 200, or never did.
func (c *call) aAnswerDone(ev event) state {
	switch {
	case ev.err != nil:
		// A's BYE overtaking its ACK came as evABye before this; here A is
		// simply silent (or gone).
		c.log.Warn().Err(ev.err).Msg("a leg never acknowledged the answer")
		return c.hangup(byEngine, reasonHeader(reasonNoACK))
	case c.bHungUp:
		// B's BYE came before its 2xx: A had its answer, now the BYE.
		return c.hangup(byB, nil)
	case c.bAckPending && c.ackSDP != nil:
		return c.answerFromAck(c.ackSDP)
	case c.bAckPending:
		c.io.arm(evAckWait, ackWait)
	}
	return stateConfirmed
}

// earlyAck: A's ACK overtook the end of the 200's retransmission loop; a
// late offer's answer in it is kept for aAnswerDone.
func (c *call) earlyAck(ev event) state {
	if len(ev.sdp) > 0 {
		c.ackSDP = ev.sdp
	}
	return stateAnswered
}

// ackAnswer: A's ACK once confirmed; for a late offer it carries the answer
// B's ACK waits for. Otherwise it is a retransmission.
func (c *call) ackAnswer(ev event) state {
	if !c.bAckPending {
		return stateConfirmed
	}
	return c.answerFromAck(ev.sdp)
}

// answerFromAck ACKs B with A's answer, rewritten; without a usable one the
// call cannot carry media and is hung up.
func (c *call) answerFromAck(sdp []byte) state {
	var answer []byte
	if len(sdp) > 0 {
		var err error
		if answer, err = c.io.rewrite(media.SideA, sdp); err != nil {
			c.log.Warn().Err(err).Msg("unusable sdp answer in a's ack")
		}
	}
	c.ackB(answer)
	if answer == nil {
		return c.hangup(byEngine, reasonHeader(reasonNoSDPAnswer))
	}
	return stateConfirmed
}

// ackWait: a late offer's ACK came without its answer in time.
func (c *call) ackWait(event) state {
	if !c.bAckPending {
		return stateConfirmed
	}
	return c.hangup(byEngine, reasonHeader(reasonNoSDPAnswer))
}

func (c *call) byeFromA(event) state { return c.hangup(byA, nil) }

func (c *call) byeFromB(event) state { return c.hangup(byB, nil) }

// terminateUp: the engine ends an answered call: BYE with reason to both.
func (c *call) terminateUp(ev event) state { return c.hangup(byEngine, ev.reason) }

// hangup ends a call whose B leg answered: BYE to every leg that is up but
// the one that hung up. A BYE to A waits for A's 200 to be settled.
func (c *call) hangup(by origin, reason sip.Header) state {
	c.ackB(nil) // a late offer's B still unacknowledged: ACK before BYE
	c.endedBy = by.String()
	c.io.bye(by != byA && c.state.aUp(), by != byB, reason)
	return stateEnding
}

// ackB acknowledges B's 2xx once; sdp is a late offer's answer.
func (c *call) ackB(sdp []byte) {
	if c.bAckPending {
		c.bAckPending = false
		c.io.ackB(sdp)
	}
}

// letThrough lets an in-dialog request cross to the other leg. An offer
// (re-INVITE, UPDATE with SDP) may not overlap another from either side:
// a UA that gets one while its own, or the one it got before, is still
// being answered refuses it with 491 (RFC 3261 14.1, RFC 3311 5.2), and
// the engine, which stands for both parties, does so for them. Let through,
// ten overlapping re-INVITEs from A would all reach B, and A's and B's
// crossing re-INVITEs (glare) would each be answered as if the other had not
// been sent. INFO takes no part in offer/answer and always crosses.
func (c *call) letThrough(ev event) state {
	if ev.offer {
		by := byA
		if ev.kind == evBRequest {
			by = byB
		}
		if c.offer.held {
			c.log.Debug().Str("by", by.String()).Str("held_by", c.offer.by.String()).Msg("offer while another is in progress: 491")
			ev.reply <- verdictPending
			return c.state
		}
		c.offer = pendingOffer{held: true, by: by, cseq: ev.cseq}
	}
	ev.reply <- verdictMirror
	return c.state
}

// offerDone ends the exchange in progress when it is the one named: the end
// of an earlier one (a late ACK, its retransmission window) changes nothing.
func (c *call) offerDone(ev event) state {
	if c.offer.held && c.offer.by == ev.by && c.offer.cseq == ev.cseq {
		c.offer = pendingOffer{}
	}
	return c.state
}

// holdBack refuses an in-dialog request while the call is not up: 491.
func (c *call) holdBack(ev event) state {
	ev.reply <- verdictPending
	return c.state
}

// ---- cancelling ----

// cancelOnProvisional: the CANCEL that had to wait for a provisional.
func (c *call) cancelOnProvisional(event) state {
	c.cancelB()
	return stateCancelling
}

// cancelGlare: B answered as the setup was abandoned (CANCEL/200 glare,
// binding ended while ringing): B's 2xx is acknowledged and B hung up.
func (c *call) cancelGlare(ev event) state {
	c.log.Info().Msg("b answered a call already ending")
	c.io.establishB(ev.res)
	c.bAckPending = true
	c.ackB(nil)
	c.io.bye(false, true, nil)
	return stateEnding
}

// cancelDone: B's INVITE ended (487, or any final, or timeout).
func (c *call) cancelDone(event) state { return stateEnded }

// cancelUnanswered: B never answered the CANCEL; its INVITE is abandoned.
func (c *call) cancelUnanswered(event) state {
	c.log.Warn().Bool("cancel_sent", c.cancelSent).Msg("b leg never answered the cancel")
	c.io.abandonB()
	return stateEnded
}

// ---- ending ----

func (c *call) legsClosed(event) state { return stateEnded }
