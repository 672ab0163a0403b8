package events

import (
	"encoding/json"
	"time"

	"github.com/xbridge/xbridge/store"
)

// Time marshals as RFC 3339 in UTC with milliseconds, the form every time
// in an event and a record takes; the zero time marshals as null.
type Time time.Time

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func (t Time) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(time.Time(t).UTC().Format(timeLayout))
}

func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	*t = Time(v)
	return err
}

// Payload is one event as a webhook receives it.
type Payload struct {
	ID   string     `json:"id"`
	Type string     `json:"type"`
	At   Time       `json:"at"`
	Call RecordView `json:"call"`
}

// Batch is what a receiver configured for batches gets: events in outbox
// order.
type Batch struct {
	Events []json.RawMessage `json:"events"`
}

// RecordView is a call record as events carry it and GET /v1/records
// returns it: the record so far in an event, the whole of it once the
// call is over.
type RecordView struct {
	RecordID   string  `json:"record_id"`
	BindingID  string  `json:"binding_id,omitempty"`
	Model      string  `json:"model,omitempty"`
	OrderID    string  `json:"order_id,omitempty"`
	UserData   string  `json:"user_data,omitempty"`
	Pool       string  `json:"pool,omitempty"`
	X          string  `json:"x"`
	Extension  string  `json:"extension,omitempty"`
	Caller     string  `json:"caller"`
	CallerRole string  `json:"caller_role,omitempty"`
	Callee     string  `json:"callee,omitempty"`
	CalleeRole string  `json:"callee_role,omitempty"`
	Display    string  `json:"display,omitempty"`
	ACallID    string  `json:"a_call_id"`
	BCallID    string  `json:"b_call_id,omitempty"`
	InvitedAt  Time    `json:"invited_at"`
	BSentAt    Time    `json:"b_sent_at"`
	RingingAt  Time    `json:"ringing_at"`
	AnsweredAt Time    `json:"answered_at"`
	ReleasedAt Time    `json:"released_at"`
	RingSecs   float64 `json:"ring_seconds"`
	TalkSecs   float64 `json:"talk_seconds"`
	ReleasedBy string  `json:"released_by,omitempty"`
	Status     int     `json:"status,omitempty"`
	Q850       int     `json:"q850,omitempty"`
	ReasonText string  `json:"reason_text,omitempty"`
	Outcome    string  `json:"outcome,omitempty"`
	Hook       string  `json:"hook,omitempty"`
	// Recording says whether the call was recorded, and how it went
	// (GET /v1/records/{id}/recording serves the WAV).
	Recording     string `json:"recording,omitempty"`
	RecordingNote string `json:"recording_note,omitempty"`
}

// ViewOf is r as events and the API show it. Ring time runs from B's
// INVITE to the answer (or the release of a call never answered); talk
// time from the answer to the release. Both are in seconds to the
// millisecond.
func ViewOf(r store.CallRecord) RecordView {
	v := RecordView{
		RecordID: r.ID, BindingID: r.BindingID, Model: string(r.Model), OrderID: r.OrderID,
		UserData: r.UserData, Pool: r.Pool, X: r.X, Extension: r.Extension,
		Caller: r.Caller, CallerRole: r.CallerRole, Callee: r.Callee, CalleeRole: r.CalleeRole,
		Display: r.Display, ACallID: r.ACallID, BCallID: r.BCallID,
		InvitedAt: Time(r.InvitedAt), BSentAt: Time(r.BSentAt), RingingAt: Time(r.RingingAt),
		AnsweredAt: Time(r.AnsweredAt), ReleasedAt: Time(r.ReleasedAt),
		ReleasedBy: r.ReleasedBy, Status: r.Status, Q850: r.Q850, ReasonText: r.ReasonText, Outcome: r.Outcome,
		Hook: r.Hook, Recording: r.Recording, RecordingNote: r.RecordingNote,
	}
	ringEnd := r.AnsweredAt
	if ringEnd.IsZero() {
		ringEnd = r.ReleasedAt
	}
	if !r.BSentAt.IsZero() && !ringEnd.IsZero() {
		v.RingSecs = seconds(ringEnd.Sub(r.BSentAt))
	}
	if !r.AnsweredAt.IsZero() && !r.ReleasedAt.IsZero() {
		v.TalkSecs = seconds(r.ReleasedAt.Sub(r.AnsweredAt))
	}
	return v
}

func seconds(d time.Duration) float64 {
	if d < 0 {
		return 0
	}
	return float64(d.Milliseconds()) / 1000
}
