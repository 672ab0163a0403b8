package b2bua

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/sipedge"
)

func (e *Engine) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c, by := e.dialogOf(req, tx)
	if c == nil {
		return // ACK of a call long gone, or not the dialog's
	}
	if by == byB {
		// The ACK of an offerless re-INVITE we answered locally.
		if len(req.Body()) > 0 && isSDPBody(req) {
			c.learnAnswer(media.SideB, req.Body())
		}
		c.endOffer(byB, req.CSeq().SeqNo)
		return
	}
	if c.a.ReadAck(req, tx) == nil {
		c.post(event{kind: evAAck, sdp: req.Body()})
		return
	}
	// A mismatched CSeq is the ACK of a later re-INVITE: it carries an answer
	// only when we answered an offerless re-INVITE locally.
	if len(req.Body()) > 0 && isSDPBody(req) {
		c.learnAnswer(media.SideA, req.Body())
	}
	c.endOffer(byA, req.CSeq().SeqNo)
}

// learnAnswer takes the SDP answer in the ACK of an offerless re-INVITE the
// engine answered itself: the relay learns the party's (new) addresses; the
// other party's session is unchanged, so nothing is sent on.
func (c *call) learnAnswer(from media.Side, sdp []byte) {
	if _, err := c.media.Rewrite(from, sdp); err != nil {
		c.log.Warn().Err(err).Msg("unusable sdp answer in ack")
		return
	}
	c.noteSDP(from)
}

func (e *Engine) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c, by := e.dialogOf(req, tx)
	if c == nil {
		return
	}
	if by == byA {
		// What sipgo's ReadBye refuses, refused before the call hears of it.
		if req.CSeq().SeqNo < c.a.InviteRequest.CSeq().SeqNo {
			e.edge.Reply(req, tx, sip.StatusBadRequest, "")
			return
		}
		// Posted before ReadBye ends A's dialog: a 200 to A still waiting
		// for its ACK gives up once the dialog ends, and the call must know
		// by then that A hung up (its BYE overtook its ACK), not that A
		// never acknowledged.
		c.post(event{kind: evABye})
		if err := c.a.ReadBye(req, tx); err != nil {
			c.log.Debug().Err(err).Msg("read bye")
		}
	} else {
		c.b.MarkEnded()
		e.edge.Reply(req, tx, sip.StatusOK, "")
		c.post(event{kind: evBBye})
	}
	c.log.Info().Str("by", by.String()).Msg("bye received")
}

// onInDialog mirrors INFO (e.g. DTMF) and UPDATE to the other leg.
func (e *Engine) onInDialog(req *sip.Request, tx sip.ServerTransaction) {
	c, by := e.establishedCall(req, tx)
	if c == nil {
		return
	}
	if offers(req) {
		tx = c.offerTx(tx, by, req.CSeq().SeqNo)
	}
	c.mirror(req, tx)
}

// dialogOf finds the call and leg an in-dialog request belongs to. A
// request that is not the leg's (no call has its Call-ID, or its tags or
// source are not the dialog's: dialog_match.go) gets 481, an ACK is
// dropped, and the call never hears of it.
func (e *Engine) dialogOf(req *sip.Request, tx sip.ServerTransaction) (*call, origin) {
	c := e.calls.get(sipedge.CallID(req))
	if c == nil {
		if !req.IsAck() {
			e.edge.Reply(req, tx, sip.StatusCallTransactionDoesNotExists, "")
		}
		return nil, byEngine
	}
	by := c.legOf(req)
	why := c.admits(by, req)
	if why == "" {
		return c, by
	}
	// Whoever sends these can send many: the log gets a few a second.
	if ok, suppressed := e.strayLog.allow(strayLinesPerSecond); ok {
		c.log.Info().Str("method", string(req.Method)).Str("leg", by.String()).Str("source", req.Source()).
			Str("mismatch", why).Int64("lines_suppressed", suppressed).Msg("in-dialog request not the dialog's")
	}
	if !req.IsAck() {
		e.edge.Reply(req, tx, sip.StatusCallTransactionDoesNotExists, "")
	}
	return nil, by
}

// strayLinesPerSecond bounds the log lines of requests refused by dialogOf.
const strayLinesPerSecond = 10

// establishedCall finds the call an in-dialog request belongs to and asks
// it whether the request may cross, answering 481 for no call (or a request
// not the dialog's) and 491 for one not up, or an offer while another is in
// progress.
func (e *Engine) establishedCall(req *sip.Request, tx sip.ServerTransaction) (*call, origin) {
	c, by := e.dialogOf(req, tx)
	if c == nil {
		return nil, by
	}
	var v verdict
	if offers(req) {
		v = c.askOffer(by, req.CSeq().SeqNo)
	} else {
		v = c.ask(by)
	}
	switch v {
	case verdictMirror:
		if c.ivr != nil && by == byA && req.Method == sip.INFO {
			// A caller the engine answered keyed for the engine's menu: its
			// INFO keys (a trailing # after the extension's last digit, keys
			// pressed on into A's ringing) are the engine's, never A's.
			e.engineAnswers(c, req, tx)
			return nil, by
		}
		return c, by
	case verdictEngine:
		e.engineAnswers(c, req, tx)
	case verdictPending:
		e.edge.Reply(req, tx, sip.StatusRequestPending, "")
	default:
		e.edge.Reply(req, tx, sip.StatusCallTransactionDoesNotExists, "")
	}
	return nil, by
}

// offers reports whether an in-dialog request takes part in offer/answer:
// a re-INVITE, with an offer or asking for one, and an UPDATE with a body.
// INFO never does, nor an UPDATE that only refreshes the session.
func offers(req *sip.Request) bool {
	return req.IsInvite() || req.Method == sip.UPDATE && len(req.Body()) > 0
}

// onReInvite mirrors a re-INVITE (hold, resume, codec change) to the other
// leg with its SDP rewritten, and the answer back. The offer it makes is in
// progress until its final response is relayed; an offerless re-INVITE's,
// which the engine answers itself, until its ACK.
func (e *Engine) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c, by := e.establishedCall(req, tx)
	if c == nil {
		return
	}
	seq := req.CSeq().SeqNo
	if len(req.Body()) == 0 {
		if !c.answerOfferless(req, tx) {
			c.endOffer(by, seq)
			return
		}
		// The ACK ends it (onAck); one that never comes, its retransmission
		// window.
		time.AfterFunc(64*sip.T1, func() { c.endOffer(by, seq) })
		return
	}
	c.mirror(req, c.offerTx(tx, by, seq))
}

// endOffer tells the call that the offer/answer exchange of by's request
// seq is over (one that holds no offer changes nothing).
func (c *call) endOffer(by origin, seq uint32) {
	c.post(event{kind: evOfferDone, by: by, cseq: seq})
}

// offerTx is the transaction of a mirrored offer: the exchange ends just
// before its final response goes, so that the call has heard of it before
// the offerer, who may send its next offer the moment the response is in.
type offerTx struct {
	sip.ServerTransaction
	end func()
}

func (c *call) offerTx(tx sip.ServerTransaction, by origin, seq uint32) *offerTx {
	return &offerTx{ServerTransaction: tx, end: sync.OnceFunc(func() { c.endOffer(by, seq) })}
}

func (t *offerTx) Respond(res *sip.Response) error {
	if res.StatusCode >= 200 {
		t.end()
	}
	return t.ServerTransaction.Respond(res)
}

// answerOfferless answers a re-INVITE without SDP (a session refresh, or a
// party asking for the session again) locally, offering the SDP that side
// last got from us; its answer comes in the ACK (see onAck); false when no
// 200 went (nothing to offer, or the response failed). Mirroring it
// would need the other party's offer and an ACK carrying our answer on both
// legs at once, for a session that has not changed.
func (c *call) answerOfferless(req *sip.Request, tx sip.ServerTransaction) bool {
	side := media.SideA
	if c.legOf(req) == byB {
		side = media.SideB
	}
	offer := c.lastSent(side)
	if len(offer) == 0 {
		c.e.edge.Reply(req, tx, sip.StatusNotAcceptableHere, "")
		return false
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", offer)
	res.AppendHeader(c.e.edge.Contact(req.Transport()))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Allow", sipedge.AllowedMethods))
	if err := tx.Respond(res); err != nil {
		c.log.Debug().Err(err).Msg("answer offerless re-invite")
		return false
	}
	return true
}

// mirrorTimeout bounds the wait for the other leg's answer to a mirrored
// request: 64*T1, a transaction's life.
const mirrorTimeout = 32 * time.Second

// mirror forwards an in-dialog request to the other leg and its final
// response back. Only the method, the (rewritten) SDP or the DTMF body and
// its bare media type cross over (see sipedge.CrossingBody); a body of any other
// type is refused with 415 rather than passed on or silently dropped.
func (c *call) mirror(req *sip.Request, tx sip.ServerTransaction) {
	from := c.legOf(req)
	fromSide, toSide := media.SideA, media.SideB
	if from == byB {
		fromSide, toSide = media.SideB, media.SideA
	}
	var reqType string
	if h := req.GetHeader("Content-Type"); h != nil {
		reqType = h.Value()
	}
	contentType, body, ok := sipedge.CrossingBody(reqType, req.Body())
	if !ok {
		c.log.Info().Str("method", string(req.Method)).Str("content_type", sipedge.MediaType(reqType)).Msg("refusing to mirror body")
		res := sip.NewResponseFromRequest(req, sip.StatusUnsupportedMediaType, sipedge.ReasonPhrase(sip.StatusUnsupportedMediaType), nil)
		res.AppendHeader(sip.NewHeader("Accept", sipedge.AcceptedBodies))
		if err := tx.Respond(res); err != nil {
			c.log.Debug().Err(err).Msg("respond 415")
		}
		return
	}
	if contentType == "application/sdp" {
		var err error
		if body, err = c.rewrite(fromSide, body); err != nil {
			c.log.Warn().Err(err).Str("method", string(req.Method)).Msg("unusable sdp in mirrored request")
			c.e.edge.Reply(req, tx, sip.StatusNotAcceptableHere, "")
			return
		}
	}

	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.e.ctx), mirrorTimeout)
	defer cancel()
	res, err := c.sendOn(ctx, toSide, req.Method, body, contentType)
	if err != nil {
		c.log.Warn().Err(err).Str("method", string(req.Method)).Msg("mirror request")
		c.e.edge.Reply(req, tx, sip.StatusInternalServerError, "")
		return
	}
	code := res.StatusCode
	if code >= 300 {
		code, _ = sipedge.RelayedStatus(code)
	}
	var answer []byte
	if res.IsSuccess() && isSDPBody(res) && len(res.Body()) > 0 {
		if answer, err = c.rewriteAnswer(toSide, res.Body()); err != nil {
			// A 2xx without the answer its offer needs would be a lie: the
			// offerer hears 488, the relay keeps the session it had.
			c.log.Warn().Err(err).Str("method", string(req.Method)).Msg("unusable sdp answer to mirrored request")
			code = sip.StatusNotAcceptableHere
		}
	}
	out := sip.NewResponseFromRequest(req, code, sipedge.ReasonPhrase(code), nil)
	if answer != nil {
		out.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		out.SetBody(answer)
	}
	if code < 300 && req.IsInvite() {
		out.AppendHeader(c.e.edge.Contact(req.Transport()))
	}
	if err := tx.Respond(out); err != nil {
		c.log.Debug().Err(err).Msg("respond mirrored request")
	}
}

// sendOn sends a request on one leg of an established call and returns its
// final response; a 2xx to an INVITE is acknowledged here.
func (c *call) sendOn(ctx context.Context, side media.Side, method sip.RequestMethod, body []byte, contentType string) (*sip.Response, error) {
	var out *sip.Request
	if side == media.SideB {
		out = c.b.InDialogRequest(method, c.b.NextCSeq())
		if out == nil {
			return nil, fmt.Errorf("b leg has no dialog")
		}
		if method == sip.INVITE {
			out.AppendHeader(c.e.edge.Contact(c.b.Invite().Transport()))
		}
	} else {
		inv := c.a.InviteRequest
		out = sip.NewRequest(method, inv.Contact().Address)
		out.SetTransport(inv.Transport())
		c.e.edge.FromListener(out)
	}
	if contentType != "" && len(body) > 0 {
		out.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	out.SetBody(body)

	var (
		res *sip.Response
		err error
	)
	if side == media.SideB {
		res, err = c.b.Do(ctx, out)
	} else {
		res, err = c.a.Do(ctx, out)
	}
	if err != nil {
		return nil, err
	}
	c.record() // the leg's CSeq moved on
	if method == sip.INVITE && res.IsSuccess() {
		if side == media.SideB {
			ack := c.b.InDialogRequest(sip.ACK, out.CSeq().SeqNo)
			err = c.b.WriteRequest(ack)
		} else {
			ack := sip.NewRequest(sip.ACK, c.a.InviteRequest.Contact().Address)
			ack.SetTransport(c.a.InviteRequest.Transport())
			err = c.a.WriteRequest(ack)
		}
		if err != nil {
			return nil, fmt.Errorf("ack mirrored invite: %w", err)
		}
	}
	return res, nil
}

func isSDPBody(m sip.Message) bool {
	ct := m.GetHeaders("Content-Type")
	return len(ct) > 0 && equalFoldPrefix(ct[0].Value(), "application/sdp")
}

func equalFoldPrefix(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		a, b := s[i], prefix[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}
