package api

import (
	"time"

	"github.com/xbridge/xbridge/number"
	"github.com/xbridge/xbridge/store"
)

// bindingView is a binding as the API shows it: the policy fields sit
// beside the parties, as POST takes them, so that a PATCH body (a JSON
// merge patch, RFC 7396) is a patch of exactly this document. Defaults are
// spelled out ("direction": "both", "caller_display": "x").
type bindingView struct {
	ID             string              `json:"id"`
	Model          store.Model         `json:"model"`
	Pool           string              `json:"pool"`
	X              string              `json:"x"`
	A              string              `json:"a"`
	B              string              `json:"b,omitempty"`
	Extension      string              `json:"extension,omitempty"`
	Dial           *dialForms          `json:"dial,omitempty"`
	Area           string              `json:"area,omitempty"`
	OrderID        string              `json:"order_id,omitempty"`
	Direction      store.Direction     `json:"direction"`
	MaxCallSeconds int                 `json:"max_call_seconds"`
	WarnSeconds    int                 `json:"warn_seconds"`
	CallerDisplay  store.CallerDisplay `json:"caller_display"`
	Record         bool                `json:"record"`
	UserData       string              `json:"user_data,omitempty"`
	// SMSGraceSeconds is the binding's own grace period (0: none); absent,
	// the pool's.
	SMSGraceSeconds *int      `json:"sms_grace_seconds,omitempty"`
	WebhookURL      string    `json:"webhook_url,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	ExpiresAt       time.Time `json:"expires_at"`
	// State is "live"; "grace" once its calls have expired and its SMS
	// are still relayed, until GraceUntil; "ended" in the answer to the
	// DELETE that ended it.
	State      string     `json:"state"`
	GraceUntil *time.Time `json:"grace_until,omitempty"`
	// TrackNos are its tracking numbers (shown by GET and POST of one
	// binding).
	TrackNos []string `json:"track_nos,omitempty"`
}

// Binding states as the API shows them.
const (
	stateLive  = "live"
	stateGrace = "grace"
	stateEnded = "ended"
)

// dialForms are what a person or a phone dials to reach an AXE binding's A:
// Pause is the form a mobile phone dials by itself (the ',' pauses, then
// the phone keys the extension as DTMF once the call is answered); Print is
// the form printed on a parcel.
type dialForms struct {
	Pause string `json:"pause"`
	Print string `json:"print"`
}

// extensionMark separates X and the extension in print: 转 ("transfer"),
// what Chinese parcels and phone books write.
const extensionMark = "转"

func (s *server) view(b store.Binding) bindingView {
	v := bindingView{
		ID: b.ID, Model: b.Model, Pool: b.Pool, X: b.X, A: b.A, B: b.B, Extension: b.Extension,
		Area: b.Area, OrderID: b.OrderID,
		Direction: b.Policy.Direction, MaxCallSeconds: b.Policy.MaxCallSeconds, WarnSeconds: b.Policy.WarnSeconds,
		CallerDisplay: b.Policy.CallerDisplay, Record: b.Policy.Record, UserData: b.Policy.UserData,
		CreatedAt: b.CreatedAt, ExpiresAt: b.ExpiresAt, State: stateLive, WebhookURL: b.Policy.Webhook,
	}
	if v.Direction == "" {
		v.Direction = store.DirectionBoth
	}
	switch g := b.Policy.SMSGraceSeconds; {
	case g == store.NoSMSGrace:
		v.SMSGraceSeconds = new(int)
	case g > 0:
		v.SMSGraceSeconds = &g
	}
	if v.CallerDisplay == "" {
		v.CallerDisplay = store.DisplayX
	}
	if b.Model == store.ModelAXE && b.Extension != "" {
		// Dialled from a phone of the pool's country: the national form.
		x := number.Format(b.X, number.National, s.country)
		v.Dial = &dialForms{Pause: x + "," + b.Extension, Print: x + extensionMark + b.Extension}
	}
	return v
}

func (s *server) views(bs []store.Binding) []bindingView {
	out := make([]bindingView, len(bs))
	for i, b := range bs {
		out[i] = s.view(b)
	}
	return out
}
