package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The outbox holds the events of the calls, committed in the transaction
// that commits the call change they report (QueueCall, written behind with
// the active-call records: one fsync per flush interval however many calls
// change). The dispatcher reads it in order (OutboxAfter), removes what it
// delivered (OutboxDone, written behind too: a crash before that commit
// delivers those events again, which receivers deduplicate by ID), and
// moves what it gives up on to the dead letters (OutboxDead), from where an
// operator may send it again (RetryDead).

var (
	bucketOutbox = []byte("outbox")      // be64 seq -> event
	bucketDead   = []byte("dead_events") // event id -> dead event
)

// maxQueuedEvents bounds the events waiting for their commit. A flush
// commits everything queued every interval; the queue reaches this only
// when the disk fails or stalls for many seconds, and then a call change is
// refused (ErrOutboxFull) rather than held in memory without end.
const maxQueuedEvents = 1 << 18

// queuedRecord is a call record encoded at queue time, with its index keys.
type queuedRecord struct {
	id, bindingID, orderID, x string
	value                     []byte
}

// QueueCall implements Store: it queues every part of ch under one lock, so
// that they commit in one transaction, and returns at once (the crash window
// of PutActiveCall applies to all of it).
func (db *DB) QueueCall(ctx context.Context, ch CallChange) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ch.Active != nil && ch.EndActive != "" {
		return invalidf("a call change puts or removes an active call, not both")
	}
	var active []byte
	if ch.Active != nil {
		if err := checkActiveCall(*ch.Active); err != nil {
			return err
		}
		active = encodeActiveCall(*ch.Active)
	}
	var rec *queuedRecord
	if ch.Record != nil {
		r := *ch.Record
		if err := checkCallRecord(r); err != nil {
			return err
		}
		v, err := encodeCallRecord(r)
		if err != nil {
			return err
		}
		rec = &queuedRecord{id: r.ID, bindingID: r.BindingID, orderID: r.OrderID, x: r.X, value: v}
	}
	for _, ev := range ch.Events {
		if err := checkEvent(ev); err != nil {
			return err
		}
	}
	q := db.active
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return errActiveClosed
	}
	if len(q.events)+len(ch.Events) > maxQueuedEvents {
		return ErrOutboxFull
	}
	switch {
	case ch.Active != nil:
		q.queueLocked(ch.Active.ID, active)
	case ch.EndActive != "":
		q.queueLocked(ch.EndActive, nil)
	}
	if rec != nil {
		q.queueRecordLocked(*rec)
	}
	q.events = append(q.events, ch.Events...)
	if rec != nil || len(ch.Events) > 0 {
		q.kickLocked()
	}
	return nil
}

// writeOutbox appends events in order, numbered from first on, and
// removes the delivered entries (done, in ascending order); delta is how
// many entries the outbox gained (less what it lost).
func writeOutbox(tx *bolt.Tx, events []Event, done []uint64, now time.Time) (first uint64, delta int, err error) {
	b := tx.Bucket(bucketOutbox)
	if len(events) > 0 {
		b.FillPercent = appendFill
		// One buffer for every value: bbolt keeps them until the commit.
		size := 0
		for i := range events {
			size += encodedEventSize(&events[i])
		}
		buf := make([]byte, 0, size)
		for i := range events {
			ev := &events[i]
			seq, err := b.NextSequence()
			if err != nil {
				return 0, 0, fmt.Errorf("outbox: %w", err)
			}
			if i == 0 {
				first = seq
			}
			start := len(buf)
			buf = encodeEvent(buf, *ev, now)
			if err := b.Put(seqKey(seq), buf[start:len(buf):len(buf)]); err != nil {
				return 0, 0, fmt.Errorf("outbox: event %s: %w", ev.ID, err)
			}
			delta++
		}
	}
	if len(done) > 0 {
		// In key order through one cursor: a seek each, not a Get and a
		// Delete's own seek.
		c := b.Cursor()
		for i, seq := range done {
			if i > 0 && seq == done[i-1] {
				continue
			}
			k := seqKey(seq)
			if got, _ := c.Seek(k); got == nil || !bytes.Equal(got, k) {
				continue // moved to the dead letters meanwhile
			}
			if err := c.Delete(); err != nil {
				return 0, 0, fmt.Errorf("outbox: remove %d: %w", seq, err)
			}
			delta--
		}
	}
	return first, delta, nil
}

// OutboxDepth is how many events wait in the outbox (committed, not yet
// delivered or dead) and when the oldest of them was made (zero with
// none). The count is kept as the outbox changes; the oldest is one
// cursor read.
func (db *DB) OutboxDepth(ctx context.Context) (n int, oldest time.Time, err error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, err
	}
	err = db.bolt.View(func(tx *bolt.Tx) error {
		_, v := tx.Bucket(bucketOutbox).Cursor().First()
		if v == nil {
			return nil
		}
		ev, _, _, derr := decodeEvent(v)
		if derr == nil {
			oldest = ev.At
		}
		return nil
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: outbox: %w", err)
	}
	return int(db.outboxLen.Load()), oldest, nil
}

// countOutbox learns the outbox's length at open.
func (db *DB) countOutbox() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		n := 0
		_ = tx.Bucket(bucketOutbox).ForEach(func(_, _ []byte) error { n++; return nil })
		db.outboxLen.Store(int64(n))
		return nil
	})
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

// OutboxAfter implements Store: up to limit committed entries with a Seq
// greater than after, in order.
func (db *DB) OutboxAfter(ctx context.Context, after uint64, limit int) ([]OutboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, invalidf("limit must be positive")
	}
	if out, ok := db.outboxTail.after(after, limit); ok {
		return out, nil
	}
	return db.diskOutboxAfter(after, limit)
}

// diskOutboxAfter is OutboxAfter from the disk.
func (db *DB) diskOutboxAfter(after uint64, limit int) ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := db.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			ev, since, _, err := decodeEvent(v)
			if err != nil {
				db.log.Warn().Err(err).Uint64("seq", binary.BigEndian.Uint64(k)).Msg("skipping unreadable outbox entry")
				continue
			}
			out = append(out, OutboxEntry{Seq: binary.BigEndian.Uint64(k), Event: ev, Since: since})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: outbox: %w", err)
	}
	return out, nil
}

// OutboxSignal implements Store: a channel closed at the next commit that
// adds entries to the outbox (or at Close).
func (db *DB) OutboxSignal() <-chan struct{} { return db.outboxSignal.wait() }

// OutboxDone implements Store: the entries are removed with the next
// flush.
func (db *DB) OutboxDone(ctx context.Context, seqs ...uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q := db.active
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return errActiveClosed
	}
	q.done = append(q.done, seqs...)
	q.kickLocked()
	return nil
}

// OutboxDead implements Store: the entry moves to the dead letters, durably
// before it returns. An entry already gone (delivered, or moved before) is
// not an error.
func (db *DB) OutboxDead(ctx context.Context, seq uint64, attempts int, lastErr string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(lastErr) > maxRecordText {
		lastErr = lastErr[:maxRecordText]
	}
	now := db.opts.now()
	moved := false
	err := db.write(func(tx *bolt.Tx) error {
		moved = false // a batch may run this again
		b := tx.Bucket(bucketOutbox)
		v := b.Get(seqKey(seq))
		if v == nil {
			return nil
		}
		ev, _, _, err := decodeEvent(v)
		if err != nil {
			moved = true
			return b.Delete(seqKey(seq))
		}
		d := DeadEvent{Event: ev, Attempts: attempts, LastError: lastErr, DeadAt: now}
		if err := tx.Bucket(bucketDead).Put([]byte(ev.ID), encodeDead(d)); err != nil {
			return fmt.Errorf("store: dead event %s: %w", ev.ID, err)
		}
		moved = true
		return b.Delete(seqKey(seq))
	})
	if err == nil && moved {
		db.outboxTail.remove(seq)
		db.outboxLen.Add(-1)
	}
	return err
}

// DeadEvents implements Store: up to limit dead events with an ID after
// after, in ID order (the order the events were made).
func (db *DB) DeadEvents(ctx context.Context, after string, limit int) ([]DeadEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, invalidf("limit must be positive")
	}
	var out []DeadEvent
	err := db.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDead).Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			d, err := decodeDead(v)
			if err != nil {
				db.log.Warn().Err(err).Str("event", string(k)).Msg("skipping unreadable dead event")
				continue
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: dead events: %w", err)
	}
	return out, nil
}

// RetryDead implements Store: the dead event id goes back to the end of the
// outbox with a new delivery window, durably; ErrNotFound if there is none.
func (db *DB) RetryDead(ctx context.Context, id string) (OutboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return OutboxEntry{}, err
	}
	now := db.opts.now()
	var entry OutboxEntry
	var txID uint64
	err := db.write(func(tx *bolt.Tx) error {
		dead := tx.Bucket(bucketDead)
		v := dead.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("store: dead event %q: %w", id, ErrNotFound)
		}
		d, err := decodeDead(v)
		if err != nil {
			return fmt.Errorf("store: dead event %q: %w", id, err)
		}
		b := tx.Bucket(bucketOutbox)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(seq), encodeEvent(nil, d.Event, now)); err != nil {
			return err
		}
		entry = OutboxEntry{Seq: seq, Event: d.Event, Since: now}
		txID = uint64(tx.ID())
		return dead.Delete([]byte(id))
	})
	if err != nil {
		return OutboxEntry{}, err
	}
	db.committedEvents(1, txID)
	return entry, nil
}

// signal is a broadcast: wait returns a channel that ring closes.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) ring() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
