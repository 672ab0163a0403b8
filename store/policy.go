package store

import "time"

// The binding models besides AXB (see Binding).
const (
	// ModelAXN binds A to X's "any caller" slot: A dialling X reaches B (if
	// set), anyone else dialling X reaches A. One AXN per X.
	ModelAXN Model = "AXN"
	// ModelAXE binds A to an extension on X: anyone dialling X and keying
	// the extension reaches A; A dialling X calls back the last caller.
	ModelAXE Model = "AXE"
)

// Direction says which party of an AXB binding may call the other.
type Direction string

const (
	DirectionBoth Direction = "both" // the default
	DirectionAToB Direction = "a_to_b"
	DirectionBToA Direction = "b_to_a"
)

// CallerDisplay is the number the callee is shown.
type CallerDisplay string

const (
	DisplayX    CallerDisplay = "x"    // the default: the middle number
	DisplayReal CallerDisplay = "real" // the caller's own number, where the pool allows it
)

// Policy is what a binding's calls may do. The zero value is the default:
// both directions, no per-binding call limit, X shown, no recording.
type Policy struct {
	Direction      Direction     `json:"direction,omitempty"`
	MaxCallSeconds int           `json:"max_call_seconds,omitempty"`
	WarnSeconds    int           `json:"warn_seconds,omitempty"`
	CallerDisplay  CallerDisplay `json:"caller_display,omitempty"`
	Record         bool          `json:"record,omitempty"`
	UserData       string        `json:"user_data,omitempty"`
	// SMSGraceSeconds overrides the pool's SMS grace period for this
	// binding: 0 keeps the pool's, NoSMSGrace gives none.
	SMSGraceSeconds int `json:"sms_grace_seconds,omitempty"`
	// Webhook is where the binding's events go instead of its pool's
	// webhook (signed with the pool's secret), where the pool's config
	// allows it; "" for the pool's.
	Webhook string `json:"webhook_url,omitempty"`
}

// NoSMSGrace as Policy.SMSGraceSeconds: the binding's SMS end with its
// calls.
const NoSMSGrace = -1

// AreaMatch says what allocation does when no number of the requested area
// fits.
type AreaMatch string

const (
	AreaStrict AreaMatch = "strict" // fail with ErrNoNumber
	AreaLoose  AreaMatch = "loose"  // fall back to any area of the pool
)

// UnknownCallerAction is what a pool does with a call to X that no binding
// answers.
type UnknownCallerAction string

const (
	UnknownReject   UnknownCallerAction = "reject"   // a SIP status (UnknownCaller.Code)
	UnknownAnnounce UnknownCallerAction = "announce" // answer, play a prompt, hang up
)

// ExpiryMode is what happens to calls up when their binding expires.
type ExpiryMode string

const (
	ExpiryTeardown ExpiryMode = "teardown" // BYE at expiry (after a warning tone)
	ExpiryFinish   ExpiryMode = "finish"   // calls up run on; new calls are refused
)

// PoolSettings are a pool's operator settings. A zero field means the
// default (DefaultPoolSettings).
type PoolSettings struct {
	// ExtensionLength is the digits of an AXE extension, 1-6 (default 4).
	ExtensionLength int `json:"extension_length,omitempty"`
	// Quarantine is the cool-down of a released (X, party) or (X,
	// extension) pair; nil is the store's (--quarantine).
	Quarantine *time.Duration `json:"quarantine,omitempty"`
	// UnknownCaller is the policy for calls no binding answers.
	UnknownCaller UnknownCaller `json:"unknown_caller,omitzero"`
	// Expiry is the policy for calls up at a binding's expiry.
	Expiry ExpiryPolicy `json:"expiry,omitzero"`
	// CallbackWindow is how long A can call back an AXE caller (default 24 h).
	CallbackWindow time.Duration `json:"callback_window,omitempty"`
	// AllowRealDisplay lets bindings of the pool set caller_display "real".
	AllowRealDisplay bool `json:"allow_real_display,omitempty"`
	// Prompts overrides the default prompts by name (file paths).
	Prompts map[string]string `json:"prompts,omitempty"`
	// SMS is the pool's SMS relay policy.
	SMS SMSPolicy `json:"sms,omitzero"`
	// RoutingHook is asked where a call goes that no binding on X answers.
	RoutingHook RoutingHook `json:"routing_hook,omitzero"`
	// RecordCalls records every answered call of the pool, as a binding's
	// record does for its own.
	RecordCalls bool `json:"record_calls,omitempty"`
	// RecordNotice plays the call-recorded prompt to both parties of a
	// recorded call before they hear each other.
	RecordNotice bool `json:"record_notice,omitempty"`
}

// RoutingHook is a platform's routing hook (Huawei's "X mode", Twilio's
// out-of-session callback): a URL asked where a call to one of the pool's
// numbers goes when no binding answers it. A slow or failing hook is the
// pool's unknown-caller policy.
type RoutingHook struct {
	URL string `json:"url,omitempty"`
	// Timeout bounds the hook's answer (default 800 ms).
	Timeout time.Duration `json:"timeout,omitempty"`
}

// SMSPolicy is how a pool relays SMS (SIP MESSAGE).
type SMSPolicy struct {
	// Grace is how long after a binding expires SMS between its parties
	// are still relayed (calls are refused, and the pairs stay out of
	// reuse until it ends); nil is the store's (WithSMSGrace, 72 h).
	Grace *time.Duration `json:"grace,omitempty"`
	// Retry is how long delivery of one SMS is retried (default 24 h).
	Retry time.Duration `json:"retry,omitempty"`
	// KeepBodies lets events carry the text and keeps it for the
	// binding's inbox; by default bodies are held only until delivered.
	KeepBodies bool `json:"keep_bodies,omitempty"`
}

// UnknownCaller is a pool's policy for calls to X that no binding answers.
type UnknownCaller struct {
	Action UnknownCallerAction `json:"action,omitempty"` // default reject
	Code   int                 `json:"code,omitempty"`   // for reject; default 404
	Prompt string              `json:"prompt,omitempty"` // for announce: a prompt name
}

// ExpiryPolicy is a pool's policy for calls up when their binding expires.
type ExpiryPolicy struct {
	Mode        ExpiryMode `json:"mode,omitempty"`         // default teardown
	WarnSeconds int        `json:"warn_seconds,omitempty"` // teardown: a tone this long before
}
