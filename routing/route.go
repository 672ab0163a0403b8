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
	// Collect: answer, ask for an extension of Decision.ExtensionLength
	// digits on Decision.Dialled (an X of Decision.Pool), then ask
	// Router.RouteExtension where the call goes.
	Collect
	// Announce: answer, play Decision.Prompt, hang up. Code is the status
	// for an engine that rejects instead.
	Announce
)

// Prompts an Announce decision names.
const (
	// PromptNoCallback: an AXE's A called X with nobody to call back.
	PromptNoCallback = "no_callback"
	// PromptUnknownNumber: nobody is bound for this caller on the pool's
	// number, and the pool announces rather than rejects.
	PromptUnknownNumber = "unknown_number"
)

// Call is what routing is told about a new call.
type Call struct {
	Caller string // user part of From, or a tel: URI
	// Asserted is the user part of the network-asserted identity
	// (P-Asserted-Identity, Remote-Party-ID), or empty. It replaces Caller
	// only when Source is trusted: anyone else can write anything there.
	Asserted string
	Dialled  string // user part of the Request-URI (X), or a tel: URI
	// DialledParams are the Request-URI's parameters (names in lower
	// case), where a carrier may put the extension a caller dialled after
	// X (ext, postd, isub; see ExtensionParam). Nil when there are none.
	DialledParams map[string]string
	Source        netip.Addr // where the INVITE came from
}

// Decision is routing's answer.
type Decision struct {
	Action Action
	// Code is the SIP-style status for Reject (403, 404, 480, 484, 500)
	// and Announce.
	Code   int
	Reason string // human text for logs and the response reason phrase
	// Outcome says why in a call record's terms (store.Outcome*) for a
	// Reject and an Announce.
	Outcome string

	Binding store.Binding // the binding that decided it (Bridge, and 480)
	Caller  string        // normalised caller
	Dialled string        // normalised X
	Callee  string        // normalised number to call (Bridge)
	Display string        // number shown to the callee: X, or the caller where the policy says real (Bridge)

	// Pool and ExtensionLength say what to collect (Collect); Prompt is
	// what to play (Announce). The binding's policy (max_call_seconds,
	// warn_seconds, record, user_data) is in Binding.Policy.
	Pool            string
	ExtensionLength int
	Prompt          string
	// Extension is, on a Collect, the digits dialled with X that name no
	// extension: the menu tries them first and then asks again.
	Extension string
	// Hook is what the pool's routing hook did (HookConnect, HookReject),
	// or why it was not followed (HookTimeout, HookFailed, HookBadAnswer);
	// empty when no hook was asked.
	Hook string

	// Err is the error behind a Reject, for logs; never sent to a party.
	// On a Bridge it is a failure that did not stop the call (recording
	// an AXE caller for the callback).
	Err error
}

// String names the action for logs.
func (a Action) String() string {
	switch a {
	case Reject:
		return "reject"
	case Bridge:
		return "bridge"
	case Collect:
		return "collect"
	case Announce:
		return "announce"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}
