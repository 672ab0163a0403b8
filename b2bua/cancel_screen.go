package b2bua

import (
	"net/netip"
	"slices"
)

// cancelAllowed is the engine's word on a CANCEL (UDP or TCP) before sipgo
// matches it to A's pending INVITE (sipedge.WithCancelScreen): a CANCEL
// naming a call's A leg must come from that leg's peer, like every other
// request of the leg (dialogOf). Anything else, a CANCEL for no call of
// ours among them, goes on to sipgo as it is.
func (e *Engine) cancelAllowed(callID string, src netip.Addr) bool {
	c := e.calls.get(callID)
	if c == nil || callID != c.aCallID || c.a.peer.from(src) {
		return true
	}
	if ok, suppressed := e.strayLog.allow(strayLinesPerSecond); ok {
		c.log.Info().Str("method", "CANCEL").Str("leg", byA.String()).Str("source", src.String()).
			Str("mismatch", mismatchSource).Int64("lines_suppressed", suppressed).Msg("in-dialog request not the dialog's")
	}
	return false
}

// from reports whether src is one of the leg's peers; a leg with none
// known admits any.
func (p *legPeer) from(src netip.Addr) bool {
	return len(p.peers) == 0 || slices.Contains(p.peers, src)
}
