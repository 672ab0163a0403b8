package b2bua

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/sipedge"
)

// origin says who ended a call; the BYE goes to everyone else.
type origin int

const (
	byA origin = iota
	byB
	byEngine
)

func (o origin) String() string {
	switch o {
	case byA:
		return "a"
	case byB:
		return "b"
	}
	return "engine"
}

// call is one masked call: the A leg the carrier sent, the B leg the engine
// placed, and the relay session between them.
//
// One goroutine runs it (run: the goroutine of A's INVITE handler, which
// sipgo lets own the INVITE transaction for as long as it runs). SIP
// handlers, timers and the engine post events to it; it handles them one at
// a time through the transitions table (call_state.go), so the fields below
// the line are its own and need no lock.
type call struct {
	e         *Engine // for mirroring, which runs on the handlers' goroutines
	log       zerolog.Logger
	io        callIO
	aCallID   string
	bCallID   string
	bindingID string

	a     *inboundLeg
	b     *sipedge.OutboundLeg
	media *media.Session

	answerTimeout time.Duration
	started       time.Time
	x             string // the middle number dialled
	// limit and warnBefore are the binding's max_call_seconds and
	// warn_seconds (0: none), fixed before the call is answered; pool and
	// expires are its binding's, for the warning before the expiry.
	limit, warnBefore time.Duration
	pool              string
	expires           time.Time
	// numbers are the canonical numbers of the two parties (caller,
	// callee): what no SDP crossing the call may name.
	numbers [2]string
	// offerless: B's INVITE carried no SDP, so a 2xx with SDP is a late
	// offer whose answer comes in A's ACK.
	offerless bool

	events  chan event
	stopped chan struct{} // closed when the call has ended: posts stop here

	// sdpMu guards sent, which mirrored requests running on their handlers'
	// goroutines read and write.
	sdpMu sync.Mutex
	// sent is the SDP last sent to each side: what an offerless re-INVITE
	// from that side is offered again.
	sent [2][]byte

	// watch is the call's part in the media timeout and its record in the
	// store (call_watch.go, call_persist.go); upSince is when the call was
	// answered (unix nanoseconds), 0 before: what they read of the call
	// from other goroutines.
	watch   callWatch
	upSince atomic.Int64
	// bPeer is what B's in-dialog requests must carry and where they must
	// come from (dialog_match.go): set by the call's goroutine when B's
	// INVITE goes and again with its 2xx, read by the requests' handlers.
	bPeer atomic.Pointer[legPeer]

	// track is the call's record and events (call_record.go); nil without
	// WithEvents. route is what routing chose, for call.initiated.
	track *events.Call
	route events.Route
	// bindingRecords: the binding says record (its pool may too); rec is
	// the recording under way from the answer (call_recording.go).
	bindingRecords bool
	rec            *media.Recording

	// ---- owned by the call's goroutine ----
	// end is how a call that never connected ended; byeReason the Reason
	// of the engine's own BYE: what the record says of the release.
	end        callEnd
	byeReason  string
	state      state
	answered   time.Time
	endedBy    string
	cancelSent bool   // CANCEL sent on B
	bHungUp    bool   // B's BYE came before its 2xx was handled
	ackSDP     []byte // the body of an ACK A sent before its 200 settled
	// bAckPending: B's 2xx is not acknowledged yet (a late offer waiting
	// for A's answer).
	bAckPending bool
	// offer is the offer/answer exchange in progress between the legs.
	offer pendingOffer

	// A call the engine answers itself (call_ivr.go): its IO, its menu,
	// the play whose end is awaited; and, for every call, whether B has
	// rung.
	ivr     ivrIO
	menu    *ivr.Menu
	playSeq uint32
	bRang   bool
	// lateStart is what starts once A's ACK brings its answer to the
	// engine's offer (A's INVITE had no SDP); nil otherwise.
	lateStart *event
}

// pendingOffer is an offer/answer exchange in progress in the call's
// dialogs: whose request holds it and its CSeq number, so that only its own
// end clears it.
type pendingOffer struct {
	held bool
	by   origin
	cseq uint32
}

// callEvents is how many events may wait for a call's goroutine; a poster
// beyond it waits until the call takes one or ends.
const callEvents = 8

// post hands the call an event; false when the call has ended.
func (c *call) post(ev event) bool {
	select {
	case <-c.stopped:
		return false
	default:
	}
	select {
	case c.events <- ev:
		return true
	case <-c.stopped:
		return false
	}
}

// terminate ends the call from the engine's side: during setup A gets code
// and B is cancelled; once up, both legs get BYE carrying reason. It is the
// entry point for every end the engine decides (binding ended, shutdown,
// media timeout, maximum duration) and returns at once.
func (c *call) terminate(reason sip.Header, code int) {
	c.post(event{kind: evTerminate, reason: reason, code: code})
}

// ask posts an in-dialog request of leg by that takes no part in
// offer/answer (INFO, an UPDATE without a body) and returns what its
// handler does with it.
func (c *call) ask(by origin) verdict { return c.request(by, false, 0) }

// askOffer is ask for a request that is an offer/answer exchange (a
// re-INVITE, an UPDATE with SDP) with CSeq number seq; while it is mirrored
// no other may be (evOfferDone ends it).
func (c *call) askOffer(by origin, seq uint32) verdict { return c.request(by, true, seq) }

func (c *call) request(by origin, offer bool, seq uint32) verdict {
	kind := evARequest
	if by == byB {
		kind = evBRequest
	}
	reply := make(chan verdict, 1)
	if !c.post(event{kind: kind, reply: reply, offer: offer, cseq: seq}) {
		return verdictGone
	}
	select {
	case v := <-reply:
		return v
	case <-c.stopped:
		select {
		case v := <-reply:
			return v
		default:
			return verdictGone
		}
	}
}

// run is the call's goroutine: it starts from the routing outcome first and
// handles events until the call has ended, then waits for the responses and
// requests it left in flight (A's final answer among them: A's INVITE
// handler must not return before it is sent).
func (c *call) run(first event) {
	defer c.io.wait()
	// What was posted while the call was routed is handled as routed.
	for c.state == stateRouting {
		select {
		case ev := <-c.events:
			c.handle(ev)
			continue
		case <-c.a.Context().Done():
			c.handle(event{kind: evACancelled, err: context.Cause(c.a.Context())})
			continue
		default:
		}
		c.handle(first)
	}
	aDone := c.a.Context().Done()
	for c.state != stateEnded {
		// B's INVITE and A's early dialog are watched only while they can
		// still change the setup.
		var (
			bRes  <-chan *sip.Response
			bDone <-chan struct{}
			aGone <-chan struct{}
		)
		switch c.state {
		case stateBCalling, stateBRinging:
			bRes, bDone, aGone = c.b.Responses(), c.b.Done(), aDone
		case stateCancelling, stateBCallingFromIVR:
			bRes, bDone = c.b.Responses(), c.b.Done()
		case stateEngineAnswered:
			if c.cancelSent { // a 2xx may cross the CANCEL: it must be hung up
				bRes = c.b.Responses()
			}
		}
		var ev event
		select {
		case ev = <-c.events:
		case res := <-bRes:
			if res.StatusCode == sip.StatusTrying {
				continue
			}
			ev = bResponse(res)
		case <-bDone:
			ev = event{kind: evBTxEnded, err: c.b.Err()}
		case <-aGone:
			aDone = nil
			ev = event{kind: evACancelled, err: context.Cause(c.a.Context())}
		}
		c.handle(ev)
	}
}

// legOf tells which leg of a call a request arrived on.
func (c *call) legOf(req *sip.Request) origin {
	if sipedge.CallID(req) == c.aCallID {
		return byA
	}
	return byB
}
