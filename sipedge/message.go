package sipedge

import (
	"context"
	"fmt"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// OnMessage sets the handler of MESSAGE requests (RFC 3428: SMS).
func (e *Edge) OnMessage(h sipgo.RequestHandler) { e.server.OnMessage(e.vetted(h)) }

// OutMessage builds the MESSAGE that carries an SMS to receiver through
// the trunk, from nothing but what the relay decided: From and
// P-Asserted-Identity are X, To and the Request-URI the receiver, and the
// body and its Content-Type are the sender's, untouched (RFC 3428 relays
// them end to end). Nothing else of the sender's request is copied: no
// header, no display name, no Call-ID. The relay gives every attempt at
// one SMS the same Call-ID (its own, naming no party) and the next CSeq,
// so the receiving side can tell a retry from a new SMS (RFC 3261 8.1.1.4).
func (e *Edge) OutMessage(callID string, cseq uint32, x, receiver, contentType string, body []byte) *sip.Request {
	req := sip.NewRequest(sip.MESSAGE, e.trunkURI(e.numbers.Callee(receiver), e.trunkHost, e.trunkPort))
	shown := e.trunkURI(e.numbers.Shown(x), e.host, 0)
	req.AppendHeader(&sip.FromHeader{Address: shown, Params: params("tag", sip.GenerateTagN(16))})
	req.AppendHeader(&sip.ToHeader{Address: e.trunkURI(e.numbers.Callee(receiver), e.trunkHost, 0), Params: sip.NewParams()})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.MESSAGE})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(sip.NewHeader("P-Asserted-Identity", "<"+shown.String()+">"))
	req.AppendHeader(sip.NewHeader("User-Agent", "xbridge"))
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	req.SetBody(body)
	req.SetTransport(e.trunkTP)
	return req
}

// SendRequest sends a request outside any dialog through the trunk (from
// the listening socket over UDP) and waits for its final response.
func (e *Edge) SendRequest(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	e.FromListener(req)
	res, err := e.Client(req.Transport()).Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("send %s: %w", req.Method, err)
	}
	return res, nil
}
