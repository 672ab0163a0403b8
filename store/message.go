package store

import (
	"context"
	"time"
)

// Message is an SMS (a SIP MESSAGE to X) the engine accepted and holds
// until the receiver's phone takes it: store and forward. Body and
// ContentType are the sender's, passed on untouched.
type Message struct {
	ID        string `json:"id"` // NewMessageID
	Pool      string `json:"pool,omitempty"`
	BindingID string `json:"binding_id"`
	Model     Model  `json:"model,omitempty"`
	X         string `json:"x"`
	Sender    string `json:"sender"`
	Receiver  string `json:"receiver"`
	// SenderRole and ReceiverRole are A, B or N (anyone else).
	SenderRole   string `json:"sender_role,omitempty"`
	ReceiverRole string `json:"receiver_role,omitempty"`
	// OrderID and UserData are the binding's, for the message's events.
	OrderID  string `json:"order_id,omitempty"`
	UserData string `json:"user_data,omitempty"`
	// Grace: accepted in the binding's SMS grace period.
	Grace bool `json:"grace,omitempty"`
	// KeepBody: the pool keeps bodies (events carry the text).
	KeepBody bool `json:"keep_body,omitempty"`
	// Webhook is the binding's own receiver of its events (Policy.Webhook).
	Webhook     string    `json:"webhook,omitempty"`
	ContentType string    `json:"content_type,omitempty"`
	Body        []byte    `json:"body"`
	ReceivedAt  time.Time `json:"received_at"`
	// Attempts is how many deliveries were tried; NextAt is when the next
	// one is due and GiveUpAt when the message fails if none succeeded.
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"next_at"`
	GiveUpAt  time.Time `json:"give_up_at"`
	LastError string    `json:"last_error,omitempty"`
}

// MessageResolution is what ResolveMessage knows about an SMS from a
// sender to X, read in one transaction.
type MessageResolution struct {
	// Match is MatchPair (the sender is a party on X), MatchAnyCaller (X
	// has an AXN), MatchReached (the sender last reached this AXE's A) or
	// MatchExtensions (X carries AXE extensions the text may name).
	Match   Match
	Binding Binding
	// Grace: Binding's calls have expired; its SMS are relayed until
	// GraceUntil.
	Grace      bool
	GraceUntil time.Time
	// Pool is X's pool ("" when X is in none) and Settings its settings.
	Pool     string
	Settings PoolSettings
	// LastSender is who last reached an AXE or AXN binding's A through X,
	// by a call or an SMS, and when: where A's own SMS to X go.
	LastSender   string
	LastSenderAt time.Time
}

// Messages is the part of Store the SMS relay uses: routing an SMS
// (bindings live or in their grace period, and who reached whom), and the
// store-and-forward queue, whose changes commit with the events that
// report them.
type Messages interface {
	// ResolveMessage answers an SMS from sender to x: the binding keyed by
	// (x, sender) live, else in grace; else X's AXN (live, else in
	// grace); else the AXE binding the sender last reached through x;
	// else whether x carries AXE extensions; else ErrEnded for a
	// quarantined pair and ErrNotFound for the rest.
	ResolveMessage(ctx context.Context, x, sender string) (MessageResolution, error)
	// MessageExtension resolves the AXE extension ext on x, live or in
	// grace (Match is MatchPair); ErrNotFound when there is none.
	MessageExtension(ctx context.Context, x, ext string) (MessageResolution, error)
	// NoteSender records sender as the last one who reached the AXE or
	// AXN binding id's A (live or in grace), at at.
	NoteSender(ctx context.Context, id, sender string, at time.Time) error
	// GraceBinding returns a binding in its SMS grace period and when the
	// grace ends; ErrNotFound for any other ID.
	GraceBinding(ctx context.Context, id string) (Binding, time.Time, error)
	// EndGrace ends a binding's grace period now (its pairs stay in
	// quarantine); ErrNotFound when it is not in one.
	EndGrace(ctx context.Context, id string) (Binding, error)

	// AcceptMessage commits m, and events with it, durably before it
	// returns: what the engine's 202 promises.
	AcceptMessage(ctx context.Context, m Message, events []Event) error
	// DueMessages returns up to limit messages whose NextAt has come, in
	// NextAt order, and when the next one not returned is due (zero: none
	// waits).
	DueMessages(ctx context.Context, now time.Time, limit int) ([]Message, time.Time, error)
	// RescheduleMessage records a failed attempt: attempts, the error and
	// when to try again. ErrNotFound if the message is gone.
	RescheduleMessage(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error
	// FinishMessage removes a message delivered or given up (outcome
	// InboxDelivered or InboxFailed, which its inbox entry then shows) and
	// commits events with the removal, durably. A message already gone is
	// not an error (its events are not written again).
	FinishMessage(ctx context.Context, id, outcome string, events []Event) error
	// MessageQueue is how many messages wait and when the oldest was
	// received.
	MessageQueue(ctx context.Context) (n int, oldest time.Time, err error)
	// Inbox returns what was relayed to the binding's A, oldest first, for
	// a pool that keeps bodies (Message.KeepBody): the last MaxInbox SMS
	// while the binding is live or in grace.
	Inbox(ctx context.Context, bindingID string) ([]InboxEntry, error)
}

// MaxInbox is how many SMS a binding's inbox keeps: the oldest goes when
// one more arrives.
const MaxInbox = 100

// InboxEntry is one SMS relayed to a binding's A, kept where the pool
// keeps bodies so the platform's app can show a pickup code the phone
// missed.
type InboxEntry struct {
	MessageID   string    `json:"message_id"`
	At          time.Time `json:"at"`
	Sender      string    `json:"sender"`
	ContentType string    `json:"content_type,omitempty"`
	Body        []byte    `json:"body"`
	// Status is where its delivery stands: pending, delivered or failed.
	Status string `json:"status"`
}

// Inbox statuses, and the outcomes FinishMessage records.
const (
	InboxPending   = "pending"
	InboxDelivered = "delivered"
	InboxFailed    = "failed"
)

// NewMessageID returns a new message ID: "m" and 26 base32 characters,
// time-sortable like every ID of the store.
func NewMessageID(now time.Time) (string, error) { return newPrefixedID('m', now) }
