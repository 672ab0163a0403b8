package sipedge

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/emiago/sipgo/sip"
)

// A CANCEL for a pending INVITE never reaches a handler: sipgo's transaction
// layer matches it to the INVITE by the branch and sent-by of its Via (both
// written by the sender, RFC 3261 9.2), answers it 200 and the INVITE 487 by
// itself. The only place to hold it to the party whose INVITE it cancels is
// in front of sipgo: on the raw datagram over UDP, and over TCP in the
// stream guard, which hands sipgo only whole messages (guardedStreamConn).

// WithCancelScreen drops every CANCEL for which allowed(callID, source IP)
// is false before sipgo reads it, over UDP and TCP alike: no 200, no 487,
// the INVITE goes on. allowed runs on the reading goroutine, once per
// CANCEL: keep it to a lookup.
func WithCancelScreen(allowed func(callID string, src netip.Addr) bool) Option {
	return func(e *Edge) {
		e.cancelAllowed = allowed
		WithUDPFilter(func(c net.PacketConn) net.PacketConn {
			return &cancelScreen{PacketConn: c, allowed: allowed}
		})(e)
	}
}

type cancelScreen struct {
	net.PacketConn
	allowed func(string, netip.Addr) bool
}

var cancelStart = []byte("CANCEL ")

func (c *cancelScreen) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.stray(b[:n], from) {
			return n, from, err
		}
	}
}

// stray reports whether data is a CANCEL that allowed refuses. It is read
// with sipgo's own parser, so the Call-ID judged is the one the transaction
// layer will see, whatever line endings or folding the sender chose (a
// scanner of our own could be talked past); CANCELs are few, so the second
// parse costs nothing that matters. What does not parse, or has no
// Call-ID, is left to sipgo, which refuses it.
func (c *cancelScreen) stray(data []byte, from net.Addr) bool {
	if len(data) < len(cancelStart) || !bytes.EqualFold(data[:len(cancelStart)], cancelStart) {
		return false
	}
	udp, ok := from.(*net.UDPAddr)
	if !ok {
		return false
	}
	msg, err := sip.ParseMessage(data)
	if err != nil {
		return false
	}
	req, ok := msg.(*sip.Request)
	if !ok || !req.IsCancel() || req.CallID() == nil {
		return false
	}
	return !c.allowed(req.CallID().Value(), udp.AddrPort().Addr().Unmap())
}
