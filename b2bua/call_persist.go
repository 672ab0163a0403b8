package b2bua

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/store"
)

// An answered call is recorded in the store with what ending it takes (the
// dialog state of both legs, RFC 3261 12.1), and forgotten when it ends, so
// that an engine killed in between can end it after its restart
// (restart.go). The store writes these records behind, batched: recording
// costs the call path no fsync, and a call shorter than the store's flush
// interval never reaches the disk.

// recordTimeout bounds one store call on the call path; the bbolt store
// only queues, a networked one must not hold a call up for long.
const recordTimeout = 2 * time.Second

// record puts (or refreshes: a CSeq moved on) the call's record, unless the
// call has already been forgotten.
func (c *call) record() {
	w := &c.watch
	w.recMu.Lock()
	defer w.recMu.Unlock()
	if w.forgotten {
		return
	}
	ctx, cancel := context.WithTimeout(c.e.ctx, recordTimeout)
	defer cancel()
	ac := c.activeCall()
	var err error
	if w.recorded || c.track == nil {
		err = c.e.store.PutActiveCall(ctx, ac)
	} else {
		// The answer: its event goes in the same transaction.
		_, err = c.recordAnswered(ac)
	}
	if err != nil {
		c.log.Warn().Err(err).Msg("call not recorded; a crash now would leave it open")
		return
	}
	w.recorded = true
}

// forget removes the call's record; after it, record does nothing.
func (c *call) forget() {
	w := &c.watch
	w.recMu.Lock()
	defer w.recMu.Unlock()
	w.forgotten = true
	end := ""
	if w.recorded {
		end = c.bCallID
	}
	if written, err := c.recordReleased(end); written {
		if err != nil {
			c.log.Warn().Err(err).Msg("call record not written; a restart will send its legs a BYE")
		}
		return
	}
	if !w.recorded {
		return
	}
	ctx, cancel := context.WithTimeout(c.e.ctx, recordTimeout)
	defer cancel()
	if err := c.e.store.DeleteActiveCall(ctx, c.bCallID); err != nil {
		c.log.Warn().Err(err).Msg("call record not removed; a restart will send its legs a BYE")
	}
}

// activeCall is the call's record: legs in media.Side order, A then B.
func (c *call) activeCall() store.ActiveCall {
	answered := c.e.now()
	if up := c.upSince.Load(); up != 0 {
		answered = time.Unix(0, up)
	}
	return store.ActiveCall{
		ID:         c.bCallID,
		BindingID:  c.bindingID,
		Legs:       [2]store.DialogLeg{c.aDialog(), c.bDialog()},
		AnsweredAt: answered,
	}
}

// aDialog is the A leg, where the engine is the UAS: local is A's To,
// remote its From, the route set the INVITE's Record-Route in order
// (RFC 3261 12.1.1). It goes where sipgo sends the live dialog's requests:
// the first route, else (UDP) the INVITE's source address, which a caller
// behind NAT is reachable at; over TCP the connection is gone after a
// restart, so the remote target is resolved afresh.
func (c *call) aDialog() store.DialogLeg {
	inv := c.a.InviteRequest
	leg := store.DialogLeg{CallID: c.aCallID, NextCSeq: c.a.CSEQ() + 1, Transport: inv.Transport()}
	leg.LocalURI, leg.LocalTag = inv.To().Address.String(), tagOf(inv.To().Params)
	leg.RemoteURI, leg.RemoteTag = inv.From().Address.String(), tagOf(inv.From().Params)
	if ct := inv.Contact(); ct != nil {
		leg.RemoteTarget = ct.Address.String()
	}
	var routes []sip.Uri
	for _, h := range inv.GetHeaders("Record-Route") {
		var u sip.Uri
		if _, err := sip.ParseAddressValue(h.Value(), &u, nil); err == nil {
			routes = append(routes, u)
		}
	}
	setRoutes(&leg, routes)
	if len(routes) == 0 && sip.NetworkToLower(inv.Transport()) == "udp" {
		leg.Destination = inv.Source()
	}
	return leg
}

// bDialog is the B leg, where the engine is the UAC: local is its INVITE's
// From, remote the To of B's 2xx, the route set the 2xx's Record-Route
// reversed (RFC 3261 12.1.2), as sipedge.OutboundLeg keeps them. Without routes the
// live dialog's requests go where their Request-URI resolves, and so will
// the restart's.
func (c *call) bDialog() store.DialogLeg {
	inv, answer, target, routes, cseq := c.b.DialogState()
	to := inv.To()
	if answer != nil && answer.To() != nil {
		to = answer.To()
	}
	leg := store.DialogLeg{CallID: c.bCallID, NextCSeq: cseq + 1, Transport: inv.Transport(), RemoteTarget: target.String()}
	leg.LocalURI, leg.LocalTag = inv.From().Address.String(), tagOf(inv.From().Params)
	leg.RemoteURI, leg.RemoteTag = to.Address.String(), tagOf(to.Params)
	setRoutes(&leg, routes)
	return leg
}

func tagOf(p sip.HeaderParams) string {
	tag, _ := p.Get("tag")
	return tag
}

// setRoutes records a route set; its first hop is where requests go.
func setRoutes(leg *store.DialogLeg, routes []sip.Uri) {
	for _, r := range routes {
		leg.RouteSet = append(leg.RouteSet, r.String())
	}
	if len(routes) > 0 {
		leg.Destination = uriHostPort(routes[0])
	}
}

// uriHostPort is where a URI's requests go, with the default port when the
// URI names none (sip.Uri.HostPort would say ":0").
func uriHostPort(u sip.Uri) string {
	port := u.Port
	if port == 0 {
		port = 5060
		if u.Scheme == "sips" {
			port = 5061
		}
	}
	return net.JoinHostPort(strings.Trim(u.Host, "[]"), strconv.Itoa(port))
}
