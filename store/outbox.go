package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Event is one event for the platform (a call was initiated, answered,
// released...), queued in the outbox with the call change it reports and
// delivered from there by the events dispatcher. The store does not read
// Body: it is the payload as the receiver gets it.
type Event struct {
	// ID is stable across redeliveries (NewEventID): receivers deduplicate
	// on it.
	ID   string
	Type string
	// Stream orders delivery: the events of one stream (a call's record
	// ID) are delivered in the order they were queued.
	Stream string
	// Pool and BindingID choose where the event goes (the pool's webhook,
	// or the binding's override).
	Pool      string
	BindingID string
	// Webhook is the binding's own receiver (Policy.Webhook), "" for the
	// pool's: where the dispatcher sends the event if the pool's config
	// allows it.
	Webhook string
	At      time.Time
	Body    []byte
}

// OutboxEntry is an event waiting in the outbox, in the order of Seq.
type OutboxEntry struct {
	Seq uint64
	Event
	// Since is when the event's delivery window began: when it was
	// committed, or when it was retried from the dead letters.
	Since time.Time
}

// DeadEvent is an event whose delivery was given up (its window passed, or
// the receiver refused it for good), kept for GET /v1/events/dead until it
// is retried (RetryDead) or its record retention passes.
type DeadEvent struct {
	Event
	Attempts  int
	LastError string
	DeadAt    time.Time
}

// CallChange is what one step of a call changes in the store, committed in
// one transaction (QueueCall): its active-call record put or removed, its
// call record, and the events that report the step.
type CallChange struct {
	// Active is put (answered, or its dialog state moved on); EndActive
	// names a record to remove. At most one of them.
	Active    *ActiveCall
	EndActive string
	Record    *CallRecord
	Events    []Event
}

// ErrOutboxFull: the events queued and not yet committed passed the
// store's bound (the disk is failing or far too slow). The change was not
// queued.
var ErrOutboxFull = errors.New("store: outbox queue full")

var errBadOutboxEntry = errors.New("store: malformed outbox entry")

// Limits on one event: a type, IDs and a JSON body of a call's event (a
// few hundred bytes, a binding's user data at most 2 KiB).
const (
	maxEventText = 256
	maxEventBody = 64 << 10
	// maxWebhookURL bounds a binding's own webhook URL.
	maxWebhookURL = 1024
)

func checkEvent(ev Event) error {
	switch {
	case ev.ID == "":
		return invalidf("event id is required")
	case ev.Type == "":
		return invalidf("event type is required")
	case ev.At.IsZero():
		return invalidf("event %s: at is required", ev.ID)
	case len(ev.Body) > maxEventBody:
		return invalidf("event %s: body longer than %d bytes", ev.ID, maxEventBody)
	}
	for _, f := range [...]struct{ name, s string }{{"id", ev.ID}, {"type", ev.Type}, {"stream", ev.Stream}, {"pool", ev.Pool}, {"binding_id", ev.BindingID}} {
		if len(f.s) > maxEventText {
			return invalidf("event %s longer than %d bytes", f.name, maxEventText)
		}
	}
	if len(ev.Webhook) > maxWebhookURL {
		return invalidf("event webhook longer than %d bytes", maxWebhookURL)
	}
	return nil
}

// An outbox entry (and a dead event) is a version byte, be64 at and since
// unix nanos, uvarint-prefixed strings (id, type, stream, pool, binding;
// version 2 adds the binding's webhook) and the body; a dead event appends
// be64 dead-at nanos, uvarint attempts and the last error. Version 1
// entries, written before per-binding webhooks, still decode.
const (
	outboxV1      = 1
	outboxVersion = 2
)

// encodedEventSize is an upper bound of encodeEvent's length for ev.
func encodedEventSize(ev *Event) int {
	n := 1 + 16 + 7*binary.MaxVarintLen64 + len(ev.Body)
	for _, s := range [...]string{ev.ID, ev.Type, ev.Stream, ev.Pool, ev.BindingID, ev.Webhook} {
		n += len(s)
	}
	return n
}

func encodeEvent(buf []byte, ev Event, since time.Time) []byte {
	buf = append(buf, outboxVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(ev.At.UnixNano()))
	buf = binary.BigEndian.AppendUint64(buf, uint64(since.UnixNano()))
	for _, s := range [...]string{ev.ID, ev.Type, ev.Stream, ev.Pool, ev.BindingID, ev.Webhook} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	buf = binary.AppendUvarint(buf, uint64(len(ev.Body)))
	return append(buf, ev.Body...)
}

// decodeEvent copies out of v (bbolt's, valid for the transaction) and
// returns what follows the event.
func decodeEvent(v []byte) (Event, time.Time, []byte, error) {
	if len(v) < 17 || v[0] != outboxV1 && v[0] != outboxVersion {
		return Event{}, time.Time{}, nil, errBadOutboxEntry
	}
	ev := Event{At: unixNano(int64(binary.BigEndian.Uint64(v[1:])))}
	since := unixNano(int64(binary.BigEndian.Uint64(v[9:])))
	rest := v[17:]
	// The strings are sliced out of one copy (the dispatcher reads every
	// event once); the body gets its own.
	var spans [6][2]int
	n := len(spans)
	if v[0] == outboxV1 {
		n--
	}
	var text []byte
	for i := range n {
		l, k := binary.Uvarint(rest)
		if k <= 0 || l > uint64(len(rest)-k) {
			return Event{}, time.Time{}, nil, fmt.Errorf("%w: field %d", errBadOutboxEntry, i)
		}
		spans[i] = [2]int{len(text), len(text) + int(l)}
		text, rest = append(text, rest[k:k+int(l)]...), rest[k+int(l):]
	}
	l, k := binary.Uvarint(rest)
	if k <= 0 || l > uint64(len(rest)-k) {
		return Event{}, time.Time{}, nil, fmt.Errorf("%w: body", errBadOutboxEntry)
	}
	ev.Body, rest = append([]byte(nil), rest[k:k+int(l)]...), rest[k+int(l):]
	all := string(text)
	field := func(i int) string { return all[spans[i][0]:spans[i][1]] }
	ev.ID, ev.Type, ev.Stream, ev.Pool, ev.BindingID, ev.Webhook = field(0), field(1), field(2), field(3), field(4), field(5)
	return ev, since, rest, nil
}

func encodeDead(d DeadEvent) []byte {
	buf := encodeEvent(nil, d.Event, d.DeadAt)
	buf = binary.BigEndian.AppendUint64(buf, uint64(d.DeadAt.UnixNano()))
	buf = binary.AppendUvarint(buf, uint64(max(d.Attempts, 0)))
	buf = binary.AppendUvarint(buf, uint64(len(d.LastError)))
	return append(buf, d.LastError...)
}

func decodeDead(v []byte) (DeadEvent, error) {
	ev, _, rest, err := decodeEvent(v)
	if err != nil {
		return DeadEvent{}, err
	}
	if len(rest) < 8 {
		return DeadEvent{}, fmt.Errorf("%w: dead-at", errBadOutboxEntry)
	}
	d := DeadEvent{Event: ev, DeadAt: unixNano(int64(binary.BigEndian.Uint64(rest)))}
	rest = rest[8:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > 1<<31 {
		return DeadEvent{}, fmt.Errorf("%w: attempts", errBadOutboxEntry)
	}
	d.Attempts, rest = int(n), rest[k:]
	n, k = binary.Uvarint(rest)
	if k <= 0 || n != uint64(len(rest)-k) {
		return DeadEvent{}, fmt.Errorf("%w: last error", errBadOutboxEntry)
	}
	d.LastError = string(rest[k:])
	return d, nil
}
