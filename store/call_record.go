package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CallRecord is what the engine tells a platform about one call attempt,
// connected or not, once it is over: who called whom through which X, the
// times of each step, who released it and why. The store keeps it for the
// record retention (WithRecordRetention) and finds it by ID, binding, order
// ID, X and time (Records).
type CallRecord struct {
	// ID is the record's own ID (NewRecordID): it sorts by the time the
	// call began, which is the order Records pages in.
	ID        string `json:"id"`
	BindingID string `json:"binding_id,omitempty"`
	Model     Model  `json:"model,omitempty"`
	OrderID   string `json:"order_id,omitempty"`
	UserData  string `json:"user_data,omitempty"`
	Pool      string `json:"pool,omitempty"`
	X         string `json:"x"`
	Extension string `json:"extension,omitempty"`
	// Caller and Callee are the parties' real numbers and their roles in
	// the binding ("A", "B", "N"); Display is the number the callee was
	// shown.
	Caller     string `json:"caller"`
	CallerRole string `json:"caller_role,omitempty"`
	Callee     string `json:"callee,omitempty"`
	CalleeRole string `json:"callee_role,omitempty"`
	Display    string `json:"display,omitempty"`
	// ACallID and BCallID are the Call-IDs of the two legs (BCallID empty
	// when no B leg was placed).
	ACallID string `json:"a_call_id"`
	BCallID string `json:"b_call_id,omitempty"`
	// The times of the call's steps; zero for a step it never reached.
	InvitedAt  time.Time `json:"invited_at"`
	BSentAt    time.Time `json:"b_sent_at,omitzero"`
	RingingAt  time.Time `json:"ringing_at,omitzero"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	// ReleasedAt is zero while the call is up: an answered call's record
	// is written open with its answer, and closed at its release.
	ReleasedAt time.Time `json:"released_at,omitzero"`
	// ReleasedBy is "caller", "callee" or "engine".
	ReleasedBy string `json:"released_by"`
	// Status and Q850 are the release cause as a SIP status and its Q.850
	// cause (RFC 3326); ReasonText is the Reason header's text, if any.
	Status     int    `json:"status"`
	Q850       int    `json:"q850"`
	ReasonText string `json:"reason_text,omitempty"`
	// Outcome is "answered" for a call that connected, else why it did not
	// (no_binding, expired, direction, busy, no_answer, rejected,
	// trunk_failure, extension_not_found, cancelled, ...).
	Outcome string `json:"outcome"`
	// Hook is what the pool's routing hook did with a call no binding
	// answered: connect, reject, or why it was not followed (timeout,
	// failed, bad_answer); empty when none was asked.
	Hook string `json:"hook,omitempty"`
	// Recording is, for a recorded call, "recorded", "truncated" (the
	// writer fell behind and stopped) or "failed" (no WAV), with a note
	// (payloads kept raw, a write error); empty when not recorded.
	Recording     string `json:"recording,omitempty"`
	RecordingNote string `json:"recording_note,omitempty"`
}

// Outcomes of a call attempt (CallRecord.Outcome): OutcomeAnswered for one
// that connected, else why it did not. Routing says why it refused a call
// with these too.
const (
	OutcomeAnswered          = "answered"
	OutcomeNoBinding         = "no_binding"
	OutcomeExpired           = "expired"
	OutcomeDirection         = "direction"
	OutcomeBusy              = "busy"
	OutcomeNoAnswer          = "no_answer"
	OutcomeRejected          = "rejected"
	OutcomeTrunkFailure      = "trunk_failure"
	OutcomeExtensionNotFound = "extension_not_found"
	OutcomeCancelled         = "cancelled"
	// Refusals before routing found a binding or the callee was called.
	OutcomeUntrusted     = "untrusted"
	OutcomeInvalidNumber = "invalid_number"
	OutcomeNoCallback    = "no_callback"
	OutcomeStoreFailure  = "store_failure"
	OutcomeOverload      = "overload"
	OutcomeMediaRefused  = "media_refused"
	OutcomeEngineFailure = "engine_failure"
)

// Limits on a call record: every string in it comes from the engine, which
// copies numbers, IDs and a binding's user data (at most 2 KiB); a record
// near these limits is not one the engine writes.
const (
	maxRecordText = 4096
	maxRecordSize = 16 << 10
)

var errBadCallRecord = errors.New("store: malformed call record")

// checkCallRecord refuses a record the store could not index or give back,
// naming the field.
func checkCallRecord(r CallRecord) error {
	switch {
	case r.ID == "":
		return invalidf("call record id is required")
	case r.X == "":
		return invalidf("call record x is required")
	case r.InvitedAt.IsZero():
		return invalidf("call record invited_at is required")
	}
	if _, ok := timeOfID(r.ID); !ok {
		return invalidf("call record id %q is not a record id", r.ID)
	}
	for _, f := range [...]struct{ name, s string }{
		{"binding_id", r.BindingID}, {"order_id", r.OrderID}, {"user_data", r.UserData}, {"pool", r.Pool},
		{"x", r.X}, {"extension", r.Extension}, {"caller", r.Caller}, {"callee", r.Callee},
		{"display", r.Display}, {"a_call_id", r.ACallID}, {"b_call_id", r.BCallID},
		{"reason_text", r.ReasonText}, {"outcome", r.Outcome}, {"released_by", r.ReleasedBy},
	} {
		if len(f.s) > maxRecordText {
			return invalidf("call record %s longer than %d bytes", f.name, maxRecordText)
		}
		if strings.IndexByte(f.s, sep) >= 0 {
			return invalidf("call record %s holds a NUL byte", f.name)
		}
	}
	return nil
}

func encodeCallRecord(r CallRecord) ([]byte, error) {
	v, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("store: call record %s: %w", r.ID, err)
	}
	if len(v) > maxRecordSize {
		return nil, invalidf("call record %s is %d bytes, more than %d", r.ID, len(v), maxRecordSize)
	}
	return v, nil
}

func decodeCallRecord(v []byte) (CallRecord, error) {
	var r CallRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return CallRecord{}, fmt.Errorf("%w: %v", errBadCallRecord, err)
	}
	return r, nil
}

// NewRecordID returns a call record ID for a call that began at t: "r" and
// 26 base32 characters, sorting by t to the millisecond like binding IDs.
func NewRecordID(t time.Time) (string, error) { return newPrefixedID('r', t) }

// NewEventID returns an event ID ("e" and 26 base32 characters), unique and
// sorting by t to the millisecond: what receivers deduplicate on.
func NewEventID(t time.Time) (string, error) { return newPrefixedID('e', t) }
