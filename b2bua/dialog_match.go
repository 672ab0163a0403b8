package b2bua

import (
	"net/netip"
	"slices"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/sipedge"
)

// A request that names one of a call's dialogs is believed only when it is
// that dialog's: its Call-ID and both tags are the leg's (RFC 3261 12.2.2),
// and it comes from the leg's peer. The Call-ID alone is not enough: it is
// the one value of a dialog that travels in every message and every log,
// and a BYE that matched on it alone would end a stranger's call.
//
// The peer is an IP address, not an address and port: the IP the dialog was
// set up from (A's INVITE came from it; B's 2xx came from it, and the trunk
// is there), or the first hop of the leg's route set (the proxy that
// Record-Routed and will relay the party's requests). A carrier's SBC sends
// a dialog's requests from the signalling IP it set the dialog up from, but
// not always from the same port: over TCP a new connection has a new
// ephemeral port, and a caller behind NAT may come back through another
// mapping. A request from another IP of the same carrier, even one inside
// --trusted, is refused: --trusted says who may place calls, not who may end
// or change someone else's.

// legPeer is what a leg's requests must carry and where they must come
// from. A's is fixed when its INVITE is read; B's is known in two steps
// (B's own tag and the 2xx's source only with the 2xx), so it is replaced
// whole, never changed.
type legPeer struct {
	callID string
	// remote is the party's tag (its From-tag in its requests), local the
	// engine's (their To-tag). remote is empty on B until its 2xx is
	// handled: a BYE racing that 2xx has only the Call-ID, the engine's tag
	// and its source to show.
	remote, local string
	// peers are the IPs its requests may come from; none known (a trunk
	// given by name, before its 2xx) admits any.
	peers []netip.Addr
}

// Why a request is not its leg's, for the log.
const (
	mismatchTags   = "tags"
	mismatchSource = "source"
)

// admits returns "" when req is the leg's, or why it is not. It is a few
// string compares on every in-dialog request: no allocation, no lookup.
func (p *legPeer) admits(req *sip.Request) string {
	if p == nil || p.callID == "" {
		return mismatchTags // B's INVITE not sent yet: nobody can know its dialog
	}
	from, to := req.From(), req.To()
	if from == nil || to == nil {
		return mismatchTags
	}
	fromTag, _ := from.Params.Get("tag")
	toTag, _ := to.Params.Get("tag")
	if toTag != p.local || fromTag == "" || (p.remote != "" && fromTag != p.remote) {
		return mismatchTags
	}
	if p.from(sipedge.SourceAddr(req)) {
		return ""
	}
	return mismatchSource
}

// appendPeers adds the IP of each address given (host:port or a bare IP)
// that list lacks; names and unparsable values are left out: no DNS lookup
// on this path.
func appendPeers(out []netip.Addr, addrs ...string) []netip.Addr {
	for _, s := range addrs {
		a, ok := ipOf(s)
		if ok && a.IsValid() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func ipOf(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if len(s) > 1 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err == nil
}

// aPeer is A's leg as its INVITE set it up: A's tag, the tag the engine
// gave A, and A's peers: the INVITE's source and the first hop of the
// route set, the top Record-Route (RFC 3261 12.1.1).
func aPeer(inv *sip.Request) *legPeer {
	p := &legPeer{}
	if h := inv.CallID(); h != nil {
		p.callID = h.Value()
	}
	if f := inv.From(); f != nil {
		p.remote = tagOf(f.Params)
	}
	if to := inv.To(); to != nil {
		p.local = tagOf(to.Params)
	}
	firstHop := ""
	if rr := inv.GetHeader("Record-Route"); rr != nil {
		var u sip.Uri
		if _, err := sip.ParseAddressValue(rr.Value(), &u, nil); err == nil {
			firstHop = u.Host
		}
	}
	p.peers = appendPeers(nil, inv.Source(), firstHop)
	return p
}

// bPeerCalling is B's leg once its INVITE is out: the engine's Call-ID and
// tag, and the trunk's IP when the trunk is given as one.
func bPeerCalling(inv *sip.Request) *legPeer {
	p := &legPeer{callID: inv.CallID().Value(), local: tagOf(inv.From().Params)}
	p.peers = appendPeers(nil, inv.Recipient.Host)
	return p
}

// bPeerAnswered is B's leg once its 2xx is handled: B's tag (the 2xx's
// To-tag) joins it, and so do the 2xx's source and the first hop of the
// route set (the 2xx's last Record-Route, RFC 3261 12.1.2).
func bPeerAnswered(calling *legPeer, res *sip.Response, routes []sip.Uri) *legPeer {
	p := *calling
	if to := res.To(); to != nil {
		p.remote = tagOf(to.Params)
	}
	firstHop := ""
	if len(routes) > 0 {
		firstHop = routes[0].Host
	}
	p.peers = appendPeers(slices.Clone(calling.peers), res.Source(), firstHop)
	return &p
}

// admits returns "" when req, which carries one of c's Call-IDs (by says
// whose), is that leg's request, or why it is not.
func (c *call) admits(by origin, req *sip.Request) string {
	if by == byA {
		return c.a.peer.admits(req)
	}
	return c.bPeer.Load().admits(req)
}
