package b2bua

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/routing"
)

// onInvite serves a new INVITE for X: the A leg of a call. The handler
// goroutine owns the A leg's INVITE transaction until A has a final answer
// (sipgo ends the transaction when the handler returns).
func (e *Engine) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		e.onReInvite(req, tx)
		return
	}
	if !e.admit(req, tx) {
		return
	}
	admitted := true // until the call table holds the call; finish releases it then
	defer func() {
		if admitted {
			e.releaseAdmission()
		}
	}()
	log := e.log.With().Str("call_id", callID(req)).Logger()

	if req.Contact() == nil || req.CSeq() == nil || req.From() == nil || req.To() == nil {
		e.reply(req, tx, 400, "Missing Contact, CSeq, From or To")
		return
	}
	maxfwd := 70
	if mf := req.MaxForwards(); mf != nil {
		maxfwd = int(mf.Val())
	}
	if maxfwd <= 1 {
		e.reply(req, tx, 483, "")
		return
	}

	dec := e.router.Route(context.Background(), routing.Call{
		Caller:   callerFrom(req),
		Asserted: assertedCaller(req),
		Dialled:  dialledNumber(req),
		Source:   sourceAddr(req),
	})
	log = log.With().Str("binding_id", dec.Binding.ID).Logger()
	if dec.Action != routing.Bridge {
		if ok, suppressed := e.rejectLog.allow(rejectedLinesPerSecond); ok {
			log.Info().Int("code", dec.Code).Str("reason", dec.Reason).Int64("lines_suppressed", suppressed).Msg("call rejected")
		}
		e.reply(req, tx, dec.Code, "")
		return
	}
	sess := e.relay.NewSession(log)
	offer := req.Body()
	var bOffer []byte
	if len(offer) > 0 {
		var err error
		if bOffer, err = sess.Rewrite(media.SideA, offer); err != nil {
			sess.Close()
			code := 488
			if errors.Is(err, media.ErrPortsExhausted) {
				code = 503 // our capacity, not the caller's SDP
			}
			log.Warn().Err(err).Int("code", code).Msg("sdp offer not relayed")
			e.reply(req, tx, code, "")
			return
		}
		bOffer = scrubNumbers(bOffer, dec.Caller, dec.Callee)
	}

	dua := sipgo.DialogUA{Client: e.client(req.Transport()), ContactHDR: *e.contact(req.Transport()), RewriteContact: true}
	aSess, err := dua.ReadInvite(req, tx)
	if err != nil {
		sess.Close()
		log.Warn().Err(err).Msg("read invite")
		e.reply(req, tx, 400, "")
		return
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
	if err := aSess.Respond(100, "Trying", nil); err != nil {
		sess.Close()
		log.Debug().Err(err).Msg("a leg gone before 100 Trying")
		return
	}

	inv := e.bLegInvite(dec.Dialled, dec.Callee, bOffer, maxfwd-1)
	c := &call{
		e:         e,
		aCallID:   callID(req),
		bCallID:   callID(inv),
		bindingID: dec.Binding.ID,
		a:         aSess,
		b:         &outboundLeg{client: e.client(e.trunkTP), invite: inv},
		media:     sess,
		started:   time.Now(),
		stop:      make(chan struct{}),
		aAck:      make(chan []byte, 1),
		aFinal:    make(chan struct{}),
	}
	c.sent[media.SideB] = bOffer
	c.log = log.With().Str("b_call_id", c.bCallID).Logger()
	if !e.calls.add(c) {
		// A copy of an INVITE already being served (a retransmission that
		// escaped the transaction layer, e.g. with a new branch).
		sess.Close()
		return
	}
	admitted = false
	// The binding may have ended between routing and now, before the call
	// was in the table to hear of it: look once more.
	if _, err := e.store.GetBinding(context.Background(), dec.Binding.ID); err != nil {
		c.log.Info().Err(err).Msg("binding ended while the call was routed")
		c.failSetup(480)
		return
	}
	c.log.Info().Str("x", dec.Dialled).Msg("call bridging")

	c.setup()
}

// setup runs the B leg until it is answered, fails, or the call is stopped.
func (c *call) setup() {
	e := c.e
	if err := c.b.start(context.Background()); err != nil {
		c.log.Warn().Err(err).Msg("b leg invite not sent")
		c.failSetup(503)
		return
	}

	answerTimer := time.NewTimer(e.cfg.AnswerTimeout)
	defer answerTimer.Stop()
	aCancelled := c.a.Context().Done()
	stopped := c.stop
	var (
		provisional bool // B sent a 1xx other than 100: CANCEL is allowed
		stopping    bool
		cancelSent  bool
		stopCode    int
		guard       <-chan time.Time // bounds the wait for B's 487
	)
	startStopping := func(code int) {
		stopping, stopCode = true, code
		if provisional && !cancelSent {
			cancelSent = true
			go c.cancelB()
		}
		if provisional {
			guard = time.After(64 * sip.T1) // the 487 follows the CANCEL
		} else {
			// A silent trunk gets a short grace for a provisional we could
			// CANCEL; past it the transaction is abandoned.
			guard = time.After(4 * time.Second)
		}
	}

	for {
		select {
		case res := <-c.b.tx.Responses():
			switch {
			case res.StatusCode == 100:
			case res.IsProvisional():
				provisional = true
				if stopping {
					if !cancelSent {
						cancelSent = true
						go c.cancelB()
					}
					continue
				}
				c.relayProvisional(res)
			case res.IsSuccess():
				c.answeredByB(res, stopping, stopCode)
				return
			default:
				if !stopping {
					code, _ := relayedStatus(res.StatusCode)
					c.log.Info().Int("b_status", res.StatusCode).Int("code", code).Msg("b leg failed")
					c.failSetup(code)
					return
				}
				c.failSetup(stopCode)
				return
			}

		case <-aCancelled:
			aCancelled = nil
			if errors.Is(context.Cause(c.a.Context()), sip.ErrTransactionCanceled) {
				c.log.Info().Msg("a leg cancelled")
			}
			// A already has its 487 from the transaction layer.
			startStopping(0)

		case <-stopped:
			stopped = nil
			c.mu.Lock()
			code := c.stopCode
			c.mu.Unlock()
			c.log.Info().Int("code", code).Msg("call stopped during setup")
			c.replyA(code)
			startStopping(0)

		case <-answerTimer.C:
			c.log.Info().Dur("after", e.cfg.AnswerTimeout).Msg("no answer from b leg")
			c.replyA(408)
			startStopping(0)

		case <-c.b.tx.Done():
			if !stopping {
				c.log.Info().Err(c.b.tx.Err()).Msg("b leg transaction ended without answer")
				c.failSetup(408)
				return
			}
			c.failSetup(0)
			return

		case <-guard:
			c.log.Warn().Msg("b leg never answered the cancel")
			c.b.tx.Terminate()
			c.failSetup(0)
			return
		}
	}
}

// answeredByB handles the B leg's 2xx: acknowledge it, then either complete
// the call towards A or, when the call is being stopped (CANCEL/200 glare,
// binding ended while ringing), hang B up again.
func (c *call) answeredByB(res *sip.Response, stopping bool, stopCode int) {
	c.b.established(res)
	// A late offer (INVITE without SDP) puts the offer in B's 2xx and the
	// answer in A's ACK, so B's ACK waits for A's. Every path below ACKs B
	// exactly once, before any BYE.
	lateOffer := len(c.b.invite.Body()) == 0 && len(res.Body()) > 0
	acked := false
	ackB := func(sdp []byte) {
		if acked {
			return
		}
		acked = true
		if err := c.b.ack(sdp); err != nil {
			c.log.Warn().Err(err).Msg("ack b leg")
		}
	}
	if !lateOffer {
		ackB(nil)
	}
	if stopping || !c.goUp() {
		c.log.Info().Msg("b answered a call already ending")
		ackB(nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.b.bye(ctx)
		c.failSetup(stopCode)
		return
	}

	var body []byte
	var headers []sip.Header
	if sdp := res.Body(); len(sdp) > 0 {
		var err error
		if body, err = c.rewrite(media.SideB, sdp); err != nil {
			c.log.Warn().Err(err).Msg("unusable sdp from b")
			ackB(nil)
			// A has no 2xx: it gets the failure as its final answer, and
			// only B, whose dialog is up, gets a BYE.
			c.replyA(488)
			c.aFinalSent(false)
			c.hangup(byEngine, sip.NewHeader("Reason", `SIP;cause=488;text="unusable SDP"`))
			return
		}
		headers = append(headers, sip.NewHeader("Content-Type", "application/sdp"))
	}
	headers = append(headers, sip.NewHeader("Allow", allowedMethods))
	c.log.Info().Dur("setup", time.Since(c.started)).Msg("call answered")
	// WriteResponse retransmits the 2xx until A's ACK arrives (onAck).
	err := c.a.Respond(200, "OK", body, headers...)
	c.aFinalSent(true)
	if err != nil {
		ackB(nil)
		if c.aBye.Load() {
			// A's BYE overtook its ACK (both sent at once, handled on
			// separate goroutines): onBye hangs up, nothing was lost. The
			// dialog state cannot tell: the late ACK sets it back to
			// confirmed.
			c.log.Debug().Err(err).Msg("a leg hung up before its ack was seen")
			return
		}
		c.log.Warn().Err(err).Msg("a leg never acknowledged the answer")
		c.hangup(byEngine, sip.NewHeader("Reason", `SIP;cause=408;text="no ACK"`))
		return
	}
	c.mu.Lock()
	bGone := c.bHungUp
	c.mu.Unlock()
	if bGone {
		ackB(nil)
		c.hangup(byB, nil)
		return
	}
	if !lateOffer {
		return
	}
	var answer []byte
	select {
	case sdp := <-c.aAck:
		var err error
		if answer, err = c.rewrite(media.SideA, sdp); err != nil {
			c.log.Warn().Err(err).Msg("unusable sdp answer in a's ack")
		}
	case <-time.After(time.Second):
		// ReadAck has confirmed the dialog; the body follows at once or never.
	}
	ackB(answer)
	if answer == nil {
		c.hangup(byEngine, sip.NewHeader("Reason", `SIP;cause=488;text="no SDP answer"`))
	}
}

// relayProvisional passes 180/183 to A, early-media SDP rewritten.
func (c *call) relayProvisional(res *sip.Response) {
	var body []byte
	var headers []sip.Header
	if sdp := res.Body(); len(sdp) > 0 {
		var err error
		if body, err = c.rewrite(media.SideB, sdp); err != nil {
			c.log.Warn().Err(err).Int("status", res.StatusCode).Msg("dropping unusable early-media sdp")
			body = nil
		} else {
			headers = append(headers, sip.NewHeader("Content-Type", "application/sdp"))
		}
	}
	if err := c.a.Respond(res.StatusCode, reasonPhrase(res.StatusCode), body, headers...); err != nil {
		c.log.Debug().Err(err).Msg("relay provisional")
	}
}

// replyA sends a final failure to A unless code is 0 (A already answered).
func (c *call) replyA(code int) {
	if code == 0 {
		return
	}
	if err := c.a.Respond(code, reasonPhrase(code), nil); err != nil {
		c.log.Debug().Err(err).Int("code", code).Msg("final response to a")
	}
}

// failSetup ends a call that never got up, telling A code (0: already told).
func (c *call) failSetup(code int) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.state = stateEnded
		c.mu.Unlock()
		c.replyA(code)
		c.finish("setup")
	})
}

// cancelB sends CANCEL on the B leg; its 487 ends the setup loop.
func (c *call) cancelB() {
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	defer cancel()
	if err := c.b.cancel(ctx); err != nil {
		c.log.Debug().Err(err).Msg("cancel b leg")
	}
}

// reply answers a request outside any dialog.
func (e *Engine) reply(req *sip.Request, tx sip.ServerTransaction, code int, reason string) {
	if reason == "" {
		reason = reasonPhrase(code)
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if code == 405 || code == 200 && req.Method == sip.OPTIONS {
		res.AppendHeader(sip.NewHeader("Allow", allowedMethods))
	}
	if err := tx.Respond(res); err != nil {
		e.log.Debug().Err(err).Str("call_id", callID(req)).Int("code", code).Msg("respond")
	}
}

func callID(m sip.Message) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// sourceAddr is the IP the request came from (not what its Via claims).
func sourceAddr(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
