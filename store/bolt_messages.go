package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The store-and-forward queue of SMS: messages by ID, and their next
// attempt by time. An SMS is rare next to a call and carries its body, so
// its record is JSON and every change is durable (db.write: group commit
// under load), never written behind: a 202 the engine sent is a promise.
var (
	bucketMessages   = []byte("sms")     // id -> JSON Message
	bucketMessageDue = []byte("sms_due") // be64(next nanos) id -> ""
	bucketInbox      = []byte("inbox")   // binding id sep message id -> JSON InboxEntry
)

// Limits on one message. RFC 3428 keeps a MESSAGE under 1300 bytes
// where it may travel over UDP; concatenated SMS stay far below 16 KiB.
const (
	maxMessageBody = 16 << 10
	maxContentType = 256
)

func checkMessage(m Message) error {
	switch {
	case m.ID == "" || len(m.ID) > maxIDLen:
		return invalidf("message id must be 1 to %d bytes", maxIDLen)
	case m.BindingID == "" || len(m.BindingID) > maxIDLen:
		return invalidf("message %s: binding id must be 1 to %d bytes", m.ID, maxIDLen)
	case len(m.Body) > maxMessageBody:
		return invalidf("message %s: body longer than %d bytes", m.ID, maxMessageBody)
	case len(m.ContentType) > maxContentType:
		return invalidf("message %s: content type longer than %d bytes", m.ID, maxContentType)
	case m.ReceivedAt.IsZero() || m.NextAt.IsZero() || m.GiveUpAt.IsZero():
		return invalidf("message %s: received, next and give-up times are required", m.ID)
	}
	for _, n := range [...]struct{ field, v string }{{"x", m.X}, {"sender", m.Sender}, {"receiver", m.Receiver}} {
		if err := checkNumber(n.field, n.v, minParty, maxParty); err != nil {
			return err
		}
	}
	return nil
}

// putOutboxEvents appends events to the outbox in tx; the caller adds the
// returned count to outboxLen after the commit.
func putOutboxEvents(tx *bolt.Tx, events []Event, now time.Time) (int, error) {
	for _, ev := range events {
		if err := checkEvent(ev); err != nil {
			return 0, err
		}
	}
	_, n, err := writeOutbox(tx, events, nil, now)
	return n, err
}

// committedEvents publishes what a durable write other than the flush
// added to the outbox in transaction tx: its entries are not in the tail,
// so the dispatcher reads them from the disk.
func (db *DB) committedEvents(n int, tx uint64) {
	if n > 0 {
		db.outboxTail.reset(tx)
		db.outboxLen.Add(int64(n))
		db.outboxSignal.ring()
	}
}

// AcceptMessage implements Messages.
func (db *DB) AcceptMessage(ctx context.Context, m Message, events []Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: accept message: %w", err)
	}
	if err := checkMessage(m); err != nil {
		return err
	}
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("store: accept message %s: %w", m.ID, err)
	}
	now := db.now()
	var added int
	var txID uint64
	err = db.write(func(tx *bolt.Tx) error {
		added = 0
		msgs := tx.Bucket(bucketMessages)
		if msgs.Get([]byte(m.ID)) != nil {
			return invalidf("message %s already queued", m.ID)
		}
		if err := msgs.Put([]byte(m.ID), v); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMessageDue).Put(timeKey(m.NextAt, []byte(m.ID)), []byte{}); err != nil {
			return err
		}
		if m.KeepBody && m.ReceiverRole == "A" {
			if err := putInbox(tx, m); err != nil {
				return err
			}
		}
		added, err = putOutboxEvents(tx, events, now)
		txID = uint64(tx.ID())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: accept message %s: %w", m.ID, err)
	}
	db.committedEvents(added, txID)
	return nil
}

// DueMessages implements Messages.
func (db *DB) DueMessages(ctx context.Context, now time.Time, limit int) ([]Message, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("store: due messages: %w", err)
	}
	if limit <= 0 {
		return nil, time.Time{}, invalidf("limit must be positive")
	}
	var (
		out  []Message
		next time.Time
	)
	err := db.bolt.View(func(tx *bolt.Tx) error {
		msgs := tx.Bucket(bucketMessages)
		c := tx.Bucket(bucketMessageDue).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			at, ok := timeOfKey(k)
			if !ok {
				continue
			}
			if at.After(now) || len(out) == limit {
				next = at
				return nil
			}
			v := msgs.Get(k[8:])
			if v == nil {
				continue // check reports a due key without its message
			}
			var m Message
			if err := json.Unmarshal(v, &m); err != nil {
				db.log.Warn().Err(err).Str("message", string(k[8:])).Msg("skipping unreadable message")
				continue
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: due messages: %w", err)
	}
	return out, next, nil
}

// RescheduleMessage implements Messages.
func (db *DB) RescheduleMessage(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: reschedule message: %w", err)
	}
	if len(lastErr) > maxRecordText {
		lastErr = lastErr[:maxRecordText]
	}
	err := db.write(func(tx *bolt.Tx) error {
		msgs := tx.Bucket(bucketMessages)
		v := msgs.Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		var m Message
		if err := json.Unmarshal(v, &m); err != nil {
			return err
		}
		due := tx.Bucket(bucketMessageDue)
		if err := due.Delete(timeKey(m.NextAt, []byte(id))); err != nil {
			return err
		}
		m.Attempts, m.NextAt, m.LastError = attempts, next, lastErr
		nv, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if err := msgs.Put([]byte(id), nv); err != nil {
			return err
		}
		return due.Put(timeKey(next, []byte(id)), []byte{})
	})
	if err != nil {
		return fmt.Errorf("store: reschedule message %s: %w", id, err)
	}
	return nil
}

// FinishMessage implements Messages.
func (db *DB) FinishMessage(ctx context.Context, id, outcome string, events []Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: finish message: %w", err)
	}
	if outcome != InboxDelivered && outcome != InboxFailed {
		return invalidf("message outcome %q is not %s or %s", outcome, InboxDelivered, InboxFailed)
	}
	now := db.now()
	var added int
	var txID uint64
	err := db.write(func(tx *bolt.Tx) error {
		added = 0
		msgs := tx.Bucket(bucketMessages)
		v := msgs.Get([]byte(id))
		if v == nil {
			return nil
		}
		var m Message
		if err := json.Unmarshal(v, &m); err == nil {
			if err := tx.Bucket(bucketMessageDue).Delete(timeKey(m.NextAt, []byte(id))); err != nil {
				return err
			}
			if err := setInboxStatus(tx, m, outcome); err != nil {
				return err
			}
		}
		if err := msgs.Delete([]byte(id)); err != nil {
			return err
		}
		var err error
		added, err = putOutboxEvents(tx, events, now)
		txID = uint64(tx.ID())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: finish message %s: %w", id, err)
	}
	db.committedEvents(added, txID)
	return nil
}

// MessageQueue implements Messages. Message IDs sort by time, so the
// first is the oldest.
func (db *DB) MessageQueue(ctx context.Context) (int, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, err
	}
	var (
		n      int
		oldest time.Time
	)
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMessages)
		n = b.Stats().KeyN
		if k, _ := b.Cursor().First(); k != nil {
			if t, ok := timeOfID(string(k)); ok {
				oldest = t
			}
		}
		return nil
	})
	return n, oldest, err
}

// putInbox keeps m in its binding's inbox, dropping the oldest past
// MaxInbox.
func putInbox(tx *bolt.Tx, m Message) error {
	b := tx.Bucket(bucketInbox)
	v, err := json.Marshal(InboxEntry{MessageID: m.ID, At: m.ReceivedAt, Sender: m.Sender,
		ContentType: m.ContentType, Body: m.Body, Status: InboxPending})
	if err != nil {
		return err
	}
	if err := b.Put(pairKey(nil, m.BindingID, m.ID), v); err != nil {
		return err
	}
	prefix := prefixKey(m.BindingID)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for len(keys) > MaxInbox { // message IDs sort by time: the first is the oldest
		if err := b.Delete(keys[0]); err != nil {
			return err
		}
		keys = keys[1:]
	}
	return nil
}

func setInboxStatus(tx *bolt.Tx, m Message, status string) error {
	b := tx.Bucket(bucketInbox)
	k := pairKey(nil, m.BindingID, m.ID)
	v := b.Get(k)
	if v == nil {
		return nil
	}
	var e InboxEntry
	if err := json.Unmarshal(v, &e); err != nil {
		return b.Delete(k)
	}
	e.Status = status
	nv, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put(k, nv)
}

// dropInbox forgets a binding's inbox, with the binding.
func dropInbox(tx *bolt.Tx, bindingID string) error {
	b := tx.Bucket(bucketInbox)
	prefix := prefixKey(bindingID)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Inbox implements Messages.
func (db *DB) Inbox(ctx context.Context, bindingID string) ([]InboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []InboxEntry
	err := db.bolt.View(func(tx *bolt.Tx) error {
		prefix := prefixKey(bindingID)
		c := tx.Bucket(bucketInbox).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var e InboxEntry
			if err := json.Unmarshal(v, &e); err != nil {
				db.log.Warn().Err(err).Bytes("key", k).Msg("skipping unreadable inbox entry")
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: inbox %s: %w", bindingID, err)
	}
	return out, nil
}
