// Package routing makes the pure decisions of a call: who the caller is, who
// they dialled, and what to do about it. It knows nothing of SIP; callers pass
// the user part of a URI (or a tel: URI) and get back a Decision with a
// status code that the SIP layer maps onto a response.
package routing

import (
	"net/netip"
	"strconv"

	"github.com/xbridge/xbridge/store"
)

// Action is what the engine does with a call.
type Action int

const (
	// Reject the call with Decision.Code.
	Reject Action = iota
	// Bridge the call to Decision.Callee showing Decision.Display as caller.
	Bridge
)

// Call is what routing is told about a new call.
type Call struct {
	Caller string // user part of From, or a tel: URI
	// Asserted is the user part of the network-asserted identity
	// (P-Asserted-Identity, Remote-Party-ID), or empty. It replaces Caller
	// only when Source is trusted: anyone else can write anything there.
	Asserted string
	Dialled  string     // user part of the Request-URI (X), or a tel: URI
	Source   netip.Addr // where the INVITE came from
}

// Decision is routing's answer.
type Decision struct {
	Action Action
	// Code is the SIP-style status for Reject (403, 404, 480, 484, 500).
	Code   int
	Reason string // human text for logs and the response reason phrase

	Binding store.Binding // the binding that decided it (Bridge, and 480)
	Caller  string        // normalised caller
	Dialled string        // normalised X
	Callee  string        // normalised number to call (Bridge)
	Display string        // number shown to the callee: X (Bridge)

	// Err is the error behind a Reject, for logs; never sent to a party.
	Err error
}

// String names the action for logs.
func (a Action) String() string {
	switch a {
	case Reject:
		return "reject"
	case Bridge:
		return "bridge"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}
