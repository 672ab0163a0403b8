package events

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xbridge/xbridge/store"
)

// The events of the SMS relay.
const (
	TypeSMSReceived  = "sms.received"  // accepted (202) and queued for delivery
	TypeSMSDelivered = "sms.delivered" // the receiver's side took it (2xx)
	TypeSMSFailed    = "sms.failed"    // refused for good, or retried past sms_retry
	TypeSMSBlocked   = "sms.blocked"   // refused by routing or policy; never queued
)

// MessagePayload is one SMS event as a webhook receives it.
type MessagePayload struct {
	ID      string      `json:"id"`
	Type    string      `json:"type"`
	At      Time        `json:"at"`
	Message MessageView `json:"message"`
}

// MessageView is an SMS as its events carry it: who sent it to whom
// through X, its size, and where its delivery stands. The text is there
// only where the pool keeps bodies.
type MessageView struct {
	MessageID    string `json:"message_id"`
	BindingID    string `json:"binding_id,omitempty"`
	Model        string `json:"model,omitempty"`
	OrderID      string `json:"order_id,omitempty"`
	UserData     string `json:"user_data,omitempty"`
	Pool         string `json:"pool,omitempty"`
	X            string `json:"x"`
	Sender       string `json:"sender"`
	SenderRole   string `json:"sender_role,omitempty"`
	Receiver     string `json:"receiver,omitempty"`
	ReceiverRole string `json:"receiver_role,omitempty"`
	// Grace: the binding's calls had expired; its SMS grace relayed it.
	Grace       bool   `json:"grace,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	// Length is the text's length in characters (bytes for a body that is
	// not text); Bytes its size.
	Length     int    `json:"length"`
	Bytes      int    `json:"bytes"`
	ReceivedAt Time   `json:"received_at"`
	Attempts   int    `json:"attempts,omitempty"`
	Status     int    `json:"status,omitempty"` // the SIP status of the last attempt, or of the refusal
	Reason     string `json:"reason,omitempty"`
	Outcome    string `json:"outcome,omitempty"` // a refusal's, in a call record's terms
	Text       string `json:"text,omitempty"`
}

// MessageViewOf is m as its events show it: with its text where
// m.KeepBody says so.
func MessageViewOf(m store.Message) MessageView {
	v := MessageView{
		MessageID: m.ID, BindingID: m.BindingID, Model: string(m.Model), OrderID: m.OrderID,
		UserData: m.UserData, Pool: m.Pool, X: m.X, Sender: m.Sender, SenderRole: m.SenderRole,
		Receiver: m.Receiver, ReceiverRole: m.ReceiverRole, Grace: m.Grace, ContentType: m.ContentType,
		Length: len(m.Body), Bytes: len(m.Body), ReceivedAt: Time(m.ReceivedAt), Attempts: m.Attempts,
	}
	if IsText(m.ContentType) && utf8.Valid(m.Body) {
		v.Length = utf8.RuneCount(m.Body)
		if m.KeepBody {
			v.Text = string(m.Body)
		}
	}
	return v
}

// IsText reports whether a Content-Type is text (text/plain and kin),
// whose body can be read for an extension and counted in characters. No
// type at all is text too (RFC 3428 senders that leave it out send text).
func IsText(contentType string) bool {
	t, _, _ := strings.Cut(contentType, ";")
	t = strings.ToLower(strings.TrimSpace(t))
	return t == "" || strings.HasPrefix(t, "text/")
}

// MessageEvent is the event typ of the SMS v, at at, for the binding's
// own webhook ("" the pool's). Its stream is the message: its events are
// delivered in order.
func MessageEvent(typ string, v MessageView, webhook string, at time.Time) (store.Event, error) {
	id, err := store.NewEventID(at)
	if err != nil {
		return store.Event{}, err
	}
	body, err := json.Marshal(MessagePayload{ID: id, Type: typ, At: Time(at), Message: v})
	if err != nil {
		return store.Event{}, err
	}
	return store.Event{ID: id, Type: typ, Stream: v.MessageID, Pool: v.Pool, BindingID: v.BindingID, Webhook: webhook, At: at, Body: body}, nil
}

// TypeLookup is a waybill lookup (GET /v1/lookup): every access, found
// or not, allowed or not.
const TypeLookup = "lookup.performed"

// LookupPayload is a lookup event as a webhook receives it.
type LookupPayload struct {
	ID     string     `json:"id"`
	Type   string     `json:"type"`
	At     Time       `json:"at"`
	Lookup LookupView `json:"lookup"`
}

// LookupView is one lookup: which token asked for which tracking number,
// what came of it (found, not_found, rate_limited, forbidden), and whether
// A was shown in full.
type LookupView struct {
	Token     string `json:"token"`
	TrackNo   string `json:"track_no"`
	Result    string `json:"result"`
	BindingID string `json:"binding_id,omitempty"`
	Pool      string `json:"pool,omitempty"`
	X         string `json:"x,omitempty"`
	Full      bool   `json:"full,omitempty"`
}

// LookupEvent is the event of the lookup v at at; its stream is the
// tracking number.
func LookupEvent(v LookupView, at time.Time) (store.Event, error) {
	id, err := store.NewEventID(at)
	if err != nil {
		return store.Event{}, err
	}
	body, err := json.Marshal(LookupPayload{ID: id, Type: TypeLookup, At: Time(at), Lookup: v})
	if err != nil {
		return store.Event{}, err
	}
	return store.Event{ID: id, Type: TypeLookup, Stream: "lookup:" + v.TrackNo, Pool: v.Pool, BindingID: v.BindingID, At: at, Body: body}, nil
}
