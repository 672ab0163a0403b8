package b2bua

import (
	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/ivr"
)

// eventKind is what happened to a call. Every change of a call's state is
// the answer to one event, handled by the call's own goroutine (run) through
// the transitions table.
type eventKind uint8

const (
	// evRouted: routing chose the B party and the call is in the table; the
	// B leg's INVITE may go.
	evRouted eventKind = iota
	// evRouteFailed: the call cannot go on after all (its binding ended
	// before the call was in the table, the store is too slow); code is what
	// A is told.
	evRouteFailed
	// evBProvisional: B answered the INVITE with a 1xx other than 100.
	evBProvisional
	// evBAnswered: B answered the INVITE with a 2xx.
	evBAnswered
	// evBRejected: B answered the INVITE with a final failure.
	evBRejected
	// evBTxEnded: B's INVITE transaction ended without a final response
	// (timeout, transport error, abandoned).
	evBTxEnded
	// evACancelled: A's INVITE transaction or dialog ended while the call
	// was being set up: a CANCEL (sipgo answered it and the INVITE with
	// 487), or our own final failure to A.
	evACancelled
	// evAAck: A acknowledged the 2xx; sdp is the ACK's body (a late offer's
	// answer).
	evAAck
	// evA2xxDone: the 200 to A is acknowledged (err nil) or was given up
	// (err: no ACK within 64*T1, or A's dialog ended first).
	evA2xxDone
	// evABye: A hung up (its BYE is answered by the handler).
	evABye
	// evBBye: B hung up (its BYE is answered by the handler).
	evBBye
	// evARequest, evBRequest: a re-INVITE, INFO or UPDATE in the dialog of
	// A's or B's leg; the call answers reply with what the handler does.
	// offer says it is an offer/answer exchange (cseq its CSeq number),
	// which may not overlap another.
	evARequest
	evBRequest
	// evOfferDone: the exchange of by's request cseq is over (its final
	// response relayed, or an offerless re-INVITE's ACK come or given up).
	evOfferDone
	// evAnswerTimeout: B rang longer than Config.AnswerTimeout.
	evAnswerTimeout
	// evCancelGuard: B never answered the CANCEL with its 487 (or never sent
	// a provisional the CANCEL could follow).
	evCancelGuard
	// evAckWait: a late offer's answer did not come with A's ACK.
	evAckWait
	// evBByeGrace: B's BYE came before its 2xx, and no 2xx followed.
	evBByeGrace
	// evLegsClosed: the BYEs the call sent are answered or given up.
	evLegsClosed
	// evCollect: routing wants an extension (AXE): the engine answers A
	// itself and runs the menu (call_ivr.go).
	evCollect
	// evAnnounce: the engine answers A, plays prompt and hangs up (a pool's
	// announce policy, a callback with nobody to call back).
	evAnnounce
	// evDigit: A keyed digit (RFC 4733 event or SIP INFO) while the engine
	// answers it.
	evDigit
	// evPromptDone: the sound of play number seq has played to its end.
	evPromptDone
	// evMenuTimer: the menu's deadline, or the guard of a last prompt, may
	// have passed.
	evMenuTimer
	// evTerminate: the engine ends the call (binding ended or expired,
	// shutdown, media timeout, maximum duration). While the call is being
	// set up A is told code and B is cancelled; once up, both legs get BYE
	// with reason.
	evTerminate

	numEventKinds
)

var eventNames = [numEventKinds]string{
	evRouted:        "routed",
	evRouteFailed:   "route-failed",
	evBProvisional:  "b-provisional",
	evBAnswered:     "b-answered",
	evBRejected:     "b-rejected",
	evBTxEnded:      "b-tx-ended",
	evACancelled:    "a-cancelled",
	evAAck:          "a-ack",
	evA2xxDone:      "a-2xx-done",
	evABye:          "a-bye",
	evBBye:          "b-bye",
	evARequest:      "a-request",
	evBRequest:      "b-request",
	evOfferDone:     "offer-done",
	evAnswerTimeout: "answer-timeout",
	evCancelGuard:   "cancel-guard",
	evAckWait:       "ack-wait",
	evBByeGrace:     "b-bye-grace",
	evLegsClosed:    "legs-closed",
	evCollect:       "collect",
	evAnnounce:      "announce",
	evDigit:         "digit",
	evPromptDone:    "prompt-done",
	evMenuTimer:     "menu-timer",
	evTerminate:     "terminate",
}

func (k eventKind) String() string {
	if k < numEventKinds {
		return eventNames[k]
	}
	return "event?"
}

// event is one thing that happened to a call; which fields are set depends
// on kind.
type event struct {
	kind eventKind
	res  *sip.Response // evBProvisional, evBAnswered, evBRejected
	sdp  []byte        // evAAck
	err  error         // evBTxEnded, evACancelled (the cause), evA2xxDone
	// code is what A is told while the call is set up (evRouteFailed,
	// evTerminate); reason goes on the BYEs once it is up (evTerminate).
	code   int
	reason sip.Header
	// reply takes what the handler of an in-dialog request does with it
	// (evARequest, evBRequest); buffered, so the call never waits on it.
	reply chan<- verdict
	// offer and cseq: the request is an offer/answer exchange, and its
	// CSeq number (evARequest, evBRequest, evOfferDone); by is whose
	// (evOfferDone).
	offer bool
	cseq  uint32
	by    origin
	// digit is the key (evDigit); seq the play it ends (evPromptDone);
	// prompt what evAnnounce plays and dialled the extension digits the
	// dialled number already carried (evCollect).
	digit   byte
	seq     uint32
	prompt  ivr.Prompt
	dialled string
}

// verdict is what the handler of an in-dialog request does with it.
type verdict uint8

const (
	// verdictGone: 481, the call is not there (any more).
	verdictGone verdict = iota
	// verdictPending: 491, the call is not up yet, or is ending, or another
	// offer is in progress.
	verdictPending
	// verdictMirror: the request goes to the other leg.
	verdictMirror
	// verdictEngine: the engine is A's other end and answers the request
	// itself (A's keys in an INFO while it collects them).
	verdictEngine
)

// bResponse is the event a response to B's INVITE is.
func bResponse(res *sip.Response) event {
	switch {
	case res.IsProvisional():
		return event{kind: evBProvisional, res: res}
	case res.IsSuccess():
		return event{kind: evBAnswered, res: res}
	}
	return event{kind: evBRejected, res: res}
}
