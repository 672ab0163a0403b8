package b2bua

import (
	"cmp"
	"errors"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// lateOfferStreams is how many streams' relay ports a call without SDP in
// its INVITE reserves before B is called: its offer is not known yet, and
// one audio stream is what nearly every such call brings. Streams beyond it
// get ports at B's answer if any are free, else are rejected (port 0).
const lateOfferStreams = 1

// onInvite serves a new INVITE for X: the A leg of a call. The handler's
// goroutine becomes the call's (call.run): it owns the A leg's INVITE
// transaction until A has a final answer (sipgo ends the transaction when
// the handler returns) and runs the call until it has ended.
func (e *Engine) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		e.onReInvite(req, tx)
		return
	}
	if !e.admit(req, tx) {
		return
	}
	// The slot is the call's once the call table holds it; until then it
	// is given back before any final answer goes out (refuse), so that
	// the next INVITE of a caller who got one finds it free.
	admitted := true
	defer func() {
		if admitted {
			e.releaseAdmission()
		}
	}()
	refuse := func() {
		if admitted {
			admitted = false
			e.releaseAdmission()
		}
	}
	invited := time.Now()
	log := e.log.With().Str("call_id", sipedge.CallID(req)).Logger()

	maxfwd, err := sipedge.NewCallForwards(req)
	if err != nil {
		refuse()
		e.edge.Refuse(req, tx, err)
		return
	}

	ctx, cancel := e.storeContext()
	rc := routing.Call{
		Caller:        sipedge.CallerFrom(req),
		Asserted:      sipedge.AssertedCaller(req),
		Dialled:       sipedge.DialledNumber(req),
		DialledParams: sipedge.DialledParams(req),
		Source:        sipedge.SourceAddr(req),
	}
	dec := e.router.Route(ctx, rc)
	cancel()
	log = log.With().Str("binding_id", dec.Binding.ID).Logger()
	track := e.beginRecord(sipedge.CallID(req), cmp.Or(dec.Dialled, rc.Dialled), cmp.Or(dec.Caller, rc.Caller), invited)
	if dec.Action == routing.Collect || dec.Action == routing.Announce {
		if e.prompts != nil {
			if e.answerByEngine(req, tx, dec, rc, maxfwd, log, refuse, track) {
				admitted = false // the call table holds the call
			}
			return
		}
		// Without prompts the engine cannot answer: an extension call is
		// refused as temporarily unavailable, an announcement with its
		// reject code.
		dec = unanswered(dec)
	}
	if dec.Action != routing.Bridge {
		if ok, suppressed := e.rejectLog.allow(rejectedLinesPerSecond); ok {
			log.Info().Int("code", dec.Code).Str("reason", dec.Reason).Int64("lines_suppressed", suppressed).Msg("call rejected")
		}
		refuse()
		e.edge.Reply(req, tx, dec.Code, "")
		e.recordBlocked(track, dec, dec.Outcome, dec.Code)
		return
	}
	sess := e.relay.NewSession(log)
	offer := req.Body()
	var bOffer []byte
	if len(offer) > 0 {
		bOffer, err = sess.Rewrite(media.SideA, offer)
	} else {
		// A late offer: B's 2xx brings the offer, and its ports must not
		// be looked for only then, when B has picked up. One audio
		// stream's worth covers the common call (see Session.Reserve).
		err = sess.Reserve(lateOfferStreams)
	}
	if err != nil {
		sess.Close()
		code := sip.StatusNotAcceptableHere
		var headers []sip.Header
		if errors.Is(err, media.ErrPortsExhausted) {
			// Our capacity, not the caller's SDP: an overload refusal like
			// admission's, so the carrier is told when to try again (pairs
			// freed now are reusable about a second later, once quiet).
			code = sip.StatusServiceUnavailable
			headers = append(headers, sip.NewHeader("Retry-After", "1"))
		}
		log.Warn().Err(err).Int("code", code).Msg("sdp offer not relayed")
		refuse()
		e.edge.Reply(req, tx, code, "", headers...)
		outcome := store.OutcomeMediaRefused
		if code == sip.StatusServiceUnavailable {
			outcome = store.OutcomeOverload
		}
		e.recordBlocked(track, dec, outcome, code)
		return
	}
	if len(bOffer) > 0 {
		bOffer = sipedge.ScrubNumbers(bOffer, dec.Caller, dec.Callee)
	}

	aSess := e.acceptALeg(req, tx, log, refuse)
	if aSess == nil {
		sess.Close()
		return
	}

	inv := e.edge.BLegInvite(dec.Display, dec.Callee, bOffer, maxfwd)
	c := &call{
		e:             e,
		aCallID:       sipedge.CallID(req),
		bCallID:       sipedge.CallID(inv),
		bindingID:     dec.Binding.ID,
		a:             newInboundLeg(aSess),
		b:             sipedge.NewOutboundLeg(e.edge.Client(e.edge.TrunkTransport()), inv),
		media:         sess,
		answerTimeout: e.cfg.AnswerTimeout,
		started:       time.Now(),
		x:             dec.Dialled,
		numbers:       [2]string{dec.Caller, dec.Callee},
		offerless:     len(bOffer) == 0,
		events:        make(chan event, callEvents),
		stopped:       make(chan struct{}),
	}
	c.io = &sipIO{c: c, e: e}
	c.track, c.route = track, routeOf(dec)
	c.limit, c.warnBefore = callLimits(dec.Binding.Policy)
	c.bindingRecords = dec.Binding.Policy.Record
	c.pool, c.expires = dec.Binding.Pool, dec.Binding.ExpiresAt
	c.sent[media.SideB] = bOffer
	c.log = log.With().Str("b_call_id", c.bCallID).Logger()
	if len(offer) > 0 {
		c.noteSDP(media.SideA)
	}
	if !e.calls.add(c) {
		// A copy of an INVITE already being served (a retransmission that
		// escaped the transaction layer, e.g. with a new branch).
		sess.Close()
		return
	}
	admitted = false
	// The binding may have ended between routing and now, before the call
	// was in the table to hear of it: look once more.
	first := event{kind: evRouted}
	if err := e.bindingLive(dec.Binding.ID); err != nil {
		c.log.Info().Err(err).Msg("binding ended while the call was routed")
		first = event{kind: evRouteFailed, code: sipedge.StatusOf(err, sip.StatusTemporarilyUnavailable)}
	} else {
		c.log.Info().Str("x", dec.Dialled).Msg("call bridging")
	}
	c.run(first)
}

// acceptALeg reads A's INVITE into its dialog and sends 100 Trying; nil
// when A is gone or its INVITE cannot be read (then answered 400, its
// admission slot given back first by refuse).
func (e *Engine) acceptALeg(req *sip.Request, tx sip.ServerTransaction, log zerolog.Logger, refuse func()) *sipgo.DialogServerSession {
	dua := sipgo.DialogUA{Client: e.edge.Client(req.Transport()), ContactHDR: *e.edge.Contact(req.Transport()), RewriteContact: true}
	aSess, err := dua.ReadInvite(req, tx)
	if err != nil {
		log.Warn().Err(err).Msg("read invite")
		refuse()
		e.edge.Reply(req, tx, sip.StatusBadRequest, "")
		return nil
	}
	// sipgo answers a CANCEL with a 487 built from the transaction's own copy
	// of the INVITE, which lacks the To-tag the dialog chose, so A would see
	// a 487 with a tag other than its 180's (RFC 3261 8.2.6.2). Give the
	// transaction's copy the dialog's tag now, then send 100 Trying at once:
	// Respond takes the transaction's lock, which orders this write before
	// every later read by the transaction, and stops sipgo's own 100 timer,
	// which would read the INVITE unordered.
	if tag, ok := aSess.InviteRequest.To().Params.Get("tag"); ok {
		req.To().Params.Add("tag", tag)
	}
	if err := aSess.Respond(sip.StatusTrying, "Trying", nil); err != nil {
		log.Debug().Err(err).Msg("a leg gone before 100 Trying")
		return nil
	}
	return aSess
}

// bindingLive asks the store whether a binding still exists, within the
// store deadline; a call without one (a routing hook's) has nothing to ask. A binding that is gone is a 480; a store that cannot say
// in time is a 503 (our trouble, not the caller's).
func (e *Engine) bindingLive(id string) error {
	if id == "" {
		return nil // routed by the pool's routing hook: no binding to end
	}
	ctx, cancel := e.storeContext()
	defer cancel()
	_, err := e.store.GetBinding(ctx, id)
	if err != nil && ctx.Err() != nil {
		return &sipedge.StatusError{Code: sip.StatusServiceUnavailable, Err: err}
	}
	return err
}

// unanswered turns a decision that needs the call answered (Collect,
// Announce) into a Reject an engine without prompts can send.
func unanswered(dec routing.Decision) routing.Decision {
	if dec.Action == routing.Collect {
		dec.Code, dec.Reason = sip.StatusTemporarilyUnavailable, "extension calls need the ivr"
	}
	if dec.Code == 0 {
		dec.Code = sip.StatusTemporarilyUnavailable
	}
	dec.Action = routing.Reject
	return dec
}
