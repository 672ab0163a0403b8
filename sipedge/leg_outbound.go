package sipedge

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// OutboundLeg is the B leg: the UAC dialog the engine places through the
// trunk. It is kept by hand rather than with sipgo's DialogClientSession,
// whose WaitAnswer gives up after ten provisional responses without sending
// CANCEL; the call reads the INVITE transaction's responses itself
// (Responses, Done) and drives the leg with Cancel, Ack and Bye.
type OutboundLeg struct {
	client *sipgo.Client
	invite *sip.Request
	tx     sip.ClientTransaction

	mu           sync.Mutex
	answer       *sip.Response // the 2xx that established the dialog
	remoteTarget sip.Uri
	routeSet     []sip.Uri // from the 2xx Record-Route, reversed
	cseq         uint32
	ended        bool
}

// NewOutboundLeg is a leg that sends invite (see Edge.BLegInvite) through
// client (see Edge.Client).
func NewOutboundLeg(client *sipgo.Client, invite *sip.Request) *OutboundLeg {
	return &OutboundLeg{client: client, invite: invite}
}

// Invite is the leg's INVITE; it is read-only.
func (l *OutboundLeg) Invite() *sip.Request { return l.invite }

// Start sends the INVITE.
func (l *OutboundLeg) Start(ctx context.Context) error {
	tx, err := l.client.TransactionRequest(ctx, l.invite)
	if err != nil {
		return fmt.Errorf("send invite: %w", err)
	}
	l.tx = tx
	l.cseq = l.invite.CSeq().SeqNo
	return nil
}

// Responses delivers the INVITE's responses, provisional and final; nil
// before Start.
func (l *OutboundLeg) Responses() <-chan *sip.Response {
	if l.tx == nil {
		return nil
	}
	return l.tx.Responses()
}

// Done is closed when the INVITE transaction has ended; Err says why.
func (l *OutboundLeg) Done() <-chan struct{} {
	if l.tx == nil {
		return nil
	}
	return l.tx.Done()
}

// Err is why the INVITE transaction ended.
func (l *OutboundLeg) Err() error { return l.tx.Err() }

// Terminate abandons the INVITE transaction (a trunk that never answers a
// CANCEL).
func (l *OutboundLeg) Terminate() { l.tx.Terminate() }

// Cancel sends CANCEL for the INVITE (RFC 3261 9.1: same branch, same CSeq
// number) and waits for its 200. The INVITE's 487 arrives on Responses.
func (l *OutboundLeg) Cancel(ctx context.Context) error {
	inv := l.invite
	req := sip.NewRequest(sip.CANCEL, inv.Recipient)
	req.AppendHeader(sip.HeaderClone(inv.Via()))
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(inv.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxfwd)
	req.SetTransport(inv.Transport())
	req.SetDestination(inv.Destination())
	req.Laddr = inv.Laddr

	tx, err := l.client.TransactionRequest(ctx, req)
	if err != nil {
		return fmt.Errorf("send cancel: %w", err)
	}
	defer tx.Terminate()
	select {
	case res := <-tx.Responses():
		if res.StatusCode != sip.StatusOK {
			return fmt.Errorf("cancel answered %d", res.StatusCode)
		}
		return nil
	case <-tx.Done():
		return fmt.Errorf("cancel: %w", tx.Err())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Established records the dialog a 2xx created. The caller acknowledges it
// with Ack, at once or, for a late offer, once A's ACK brings the answer.
func (l *OutboundLeg) Established(res *sip.Response) {
	l.mu.Lock()
	l.answer = res
	if c := res.Contact(); c != nil {
		l.remoteTarget = c.Address
	} else {
		l.remoteTarget = l.invite.Recipient
	}
	rr := res.GetHeaders("Record-Route")
	l.routeSet = l.routeSet[:0]
	for i := len(rr) - 1; i >= 0; i-- {
		var u sip.Uri
		if _, err := sip.ParseAddressValue(rr[i].Value(), &u, nil); err == nil {
			l.routeSet = append(l.routeSet, u)
		}
	}
	l.mu.Unlock()
}

// Ack acknowledges the 2xx, carrying sdp when the INVITE had no offer. 2xx
// retransmissions (our ACK lost) are answered with the same ACK again.
func (l *OutboundLeg) Ack(sdp []byte) error {
	ack := l.InDialogRequest(sip.ACK, l.invite.CSeq().SeqNo)
	if ack == nil {
		return errors.New("no dialog for ack")
	}
	if len(sdp) > 0 {
		ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	ack.SetBody(sdp)
	template := ack.Clone()
	l.tx.OnRetransmission(func(r *sip.Response) {
		if r.IsSuccess() {
			_ = l.client.WriteRequest(template.Clone())
		}
	})
	if err := l.client.WriteRequest(ack); err != nil {
		return fmt.Errorf("send ack: %w", err)
	}
	return nil
}

// InDialogRequest builds a request inside the established dialog.
func (l *OutboundLeg) InDialogRequest(method sip.RequestMethod, seq uint32) *sip.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.answer == nil {
		return nil
	}
	req := sip.NewRequest(method, l.remoteTarget)
	req.AppendHeader(sip.HeaderClone(l.invite.From()))
	req.AppendHeader(sip.HeaderClone(l.answer.To()))
	req.AppendHeader(sip.HeaderClone(l.invite.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxfwd)
	for i := range l.routeSet {
		req.AppendHeader(&sip.RouteHeader{Address: l.routeSet[i]})
	}
	req.SetTransport(l.invite.Transport())
	if len(l.routeSet) > 0 {
		req.SetDestination(l.routeSet[0].HostPort())
	}
	return req
}

// Bye ends the established dialog. Extra headers (Reason) go on the BYE.
func (l *OutboundLeg) Bye(ctx context.Context, headers ...sip.Header) error {
	l.mu.Lock()
	if l.ended || l.answer == nil {
		l.mu.Unlock()
		return nil
	}
	l.ended = true
	l.cseq++
	seq := l.cseq
	l.mu.Unlock()

	req := l.InDialogRequest(sip.BYE, seq)
	for _, h := range headers {
		req.AppendHeader(h)
	}
	res, err := l.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("bye: %w", err)
	}
	if !res.IsSuccess() && res.StatusCode != sip.StatusCallTransactionDoesNotExists {
		return fmt.Errorf("bye answered %d", res.StatusCode)
	}
	return nil
}

// MarkEnded records that the far end ended the dialog (its BYE).
func (l *OutboundLeg) MarkEnded() {
	l.mu.Lock()
	l.ended = true
	l.mu.Unlock()
}

// Do sends an in-dialog request and waits for its final response.
func (l *OutboundLeg) Do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	tx, err := l.client.TransactionRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, tx.Err()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// WriteRequest sends a request that takes no response on the leg (the ACK
// of a re-INVITE).
func (l *OutboundLeg) WriteRequest(req *sip.Request) error { return l.client.WriteRequest(req) }

// NextCSeq reserves the next CSeq for a request the engine sends on B.
func (l *OutboundLeg) NextCSeq() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cseq++
	return l.cseq
}

// DialogState is what the leg's dialog holds, copied under its lock: what a
// restarted engine needs to end it (RFC 3261 12.1.2).
func (l *OutboundLeg) DialogState() (inv *sip.Request, answer *sip.Response, target sip.Uri, routes []sip.Uri, cseq uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.invite, l.answer, l.remoteTarget, append([]sip.Uri(nil), l.routeSet...), l.cseq
}
