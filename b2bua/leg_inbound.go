package b2bua

import (
	"context"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/sipedge"
)

// inboundLeg is the A leg: sipgo's dialog of the carrier's INVITE, and
// whether that INVITE has had its final response. A BYE to A waits for it:
// sipgo's WriteBye needs the 2xx in place, and a hangup racing the answer
// (B's BYE right behind its 200) must not reach A before it.
type inboundLeg struct {
	*sipgo.DialogServerSession
	// peer is what A's in-dialog requests must carry and where they must
	// come from (dialog_match.go); fixed by A's INVITE.
	peer *legPeer

	final    chan struct{} // closed by settle
	answered bool          // written before final is closed
}

func newInboundLeg(d *sipgo.DialogServerSession) *inboundLeg {
	return &inboundLeg{DialogServerSession: d, peer: aPeer(d.InviteRequest), final: make(chan struct{})}
}

// settle records that the INVITE's final response has been sent, and
// whether it was a 2xx. The call sends exactly one final response.
func (l *inboundLeg) settle(answered bool) {
	l.answered = answered
	close(l.final)
}

// bye sends BYE on the leg once its INVITE has its final response; an A
// that got a failure instead has no dialog to end.
func (l *inboundLeg) bye(ctx context.Context, edge *sipedge.Edge, headers ...sip.Header) error {
	select {
	case <-l.final:
	case <-ctx.Done():
		return ctx.Err()
	}
	if !l.answered {
		return nil
	}
	inv := l.InviteRequest
	bye := sip.NewRequest(sip.BYE, inv.Contact().Address)
	bye.SetTransport(inv.Transport())
	edge.FromListener(bye)
	for _, h := range headers {
		bye.AppendHeader(h)
	}
	return l.WriteBye(ctx, bye)
}
