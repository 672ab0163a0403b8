package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Active-call records are written behind: PutActiveCall and DeleteActiveCall
// only queue the change, and one transaction commits everything queued every
// flush interval (joining the group commit of binding writes in flight). A
// Put whose Delete follows within the same interval never reaches the disk,
// so short calls cost no I/O at all, and a busy engine costs at most one
// fsync per interval however many calls it answers.
//
// The price is the crash window: a call answered within the last flush
// interval before a crash (plus the time its commit takes) may be missing
// after the restart, and a call that ended within it may still be there. The
// first leaves that call's legs to their own timers; the second makes the
// engine send a BYE its peers answer with 481. Neither stalls anything.

// bucketActiveCalls maps a call ID to its active-call record.
var bucketActiveCalls = []byte("active_calls")

// activeQueue is the queue of active-call changes not yet committed.
type activeQueue struct {
	mu sync.Mutex
	// pending maps a call ID to its encoded record, or to nil for a delete.
	pending map[string][]byte
	// written holds the IDs whose record is on disk or in a commit under
	// way: only their deletes must reach the disk.
	written map[string]struct{}
	// records and events are the call records and outbox events queued
	// with the changes (QueueCall), in the order queued; done are the
	// outbox entries delivered (OutboxDone).
	records []queuedRecord
	// recordAt is where each record ID is in records: a record queued
	// again (the open record of an answer, then the closed one) replaces
	// the earlier one, so a call shorter than the interval writes one.
	recordAt map[string]int
	events   []Event
	done     []uint64
	closed   bool
	kick     chan struct{} // capacity 1: a flush is due

	flushing sync.Mutex    // one flush at a time
	commits  atomic.Uint64 // transactions committed, for tests and benchmarks
}

func newActiveQueue() *activeQueue {
	return &activeQueue{
		pending: make(map[string][]byte),
		written: make(map[string]struct{}),
		kick:    make(chan struct{}, 1),
	}
}

var errActiveClosed = fmt.Errorf("store: active calls: %w", berrors.ErrDatabaseNotOpen)

// PutActiveCall implements Store. It queues the record and returns at once;
// see the crash window above.
func (db *DB) PutActiveCall(ctx context.Context, c ActiveCall) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkActiveCall(c); err != nil {
		return err
	}
	return db.active.queue(c.ID, encodeActiveCall(c))
}

// DeleteActiveCall implements Store. Deleting an ID that has no record is
// not an error.
func (db *DB) DeleteActiveCall(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if id == "" {
		return invalidf("active call id is required")
	}
	return db.active.queue(id, nil)
}

// ActiveCalls implements Store: it commits what is queued, then reads every
// record. A record that does not decode cannot end any call: it is logged,
// left out and queued for deletion.
func (db *DB) ActiveCalls(ctx context.Context) ([]ActiveCall, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := db.flushActive(); err != nil {
		return nil, err
	}
	var (
		out []ActiveCall
		bad []string
	)
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketActiveCalls).ForEach(func(k, v []byte) error {
			c, err := decodeActiveCall(v)
			if err == nil && c.ID != string(k) {
				err = fmt.Errorf("%w: record of %q under key %q", errBadActiveCall, c.ID, k)
			}
			if err != nil {
				db.log.Warn().Err(err).Str("active_call", string(k)).Msg("dropping unreadable active-call record")
				bad = append(bad, string(k))
				return nil
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: active calls: %w", err)
	}
	for _, id := range bad {
		if err := db.active.drop(id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// queue records a put (v != nil) or a delete (v == nil) of id.
func (q *activeQueue) queue(id string, v []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return errActiveClosed
	}
	q.queueLocked(id, v)
	return nil
}

func (q *activeQueue) queueLocked(id string, v []byte) {
	prev, queued := q.pending[id]
	_, onDisk := q.written[id]
	switch {
	case v == nil && queued && prev != nil && !onDisk:
		// Put and delete in one interval: nothing ever reaches the disk.
		delete(q.pending, id)
		return
	case v == nil && !queued && !onDisk:
		return // nothing to delete
	}
	q.pending[id] = v
	q.kickLocked()
}

func (q *activeQueue) kickLocked() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// drop queues the delete of a record found on disk.
func (q *activeQueue) drop(id string) error {
	q.mu.Lock()
	q.written[id] = struct{}{}
	q.mu.Unlock()
	return q.queue(id, nil)
}

// flushActive commits every queued change in one transaction: active-call
// records, call records, outbox events (numbered in the order queued) and
// the removal of delivered ones.
func (db *DB) flushActive() error {
	q := db.active
	q.flushing.Lock()
	defer q.flushing.Unlock()

	q.mu.Lock()
	batch, records, events, done := q.pending, q.records, q.events, q.done
	if len(batch) == 0 && len(records) == 0 && len(events) == 0 && len(done) == 0 {
		q.mu.Unlock()
		return nil
	}
	q.pending = make(map[string][]byte, len(batch))
	q.records, q.recordAt, q.events, q.done = nil, nil, nil, nil
	for id, v := range batch {
		if v == nil {
			delete(q.written, id)
		} else {
			q.written[id] = struct{}{}
		}
	}
	q.mu.Unlock()

	// Sorted once: the commit removes them in key order, the tail
	// forgets them by search.
	slices.Sort(done)
	var (
		outboxDelta int
		firstSeq    uint64
		txID        uint64
	)
	now := db.opts.now()
	err := db.write(func(tx *bolt.Tx) error {
		outboxDelta = 0 // a batch may run this again
		b := tx.Bucket(bucketActiveCalls)
		for id, v := range batch {
			var err error
			if v == nil {
				err = b.Delete([]byte(id))
			} else {
				err = b.Put([]byte(id), v)
			}
			if err != nil {
				return fmt.Errorf("active call %q: %w", id, err)
			}
		}
		if err := putRecords(tx, records); err != nil {
			return err
		}
		var err error
		firstSeq, outboxDelta, err = writeOutbox(tx, events, done, now)
		txID = uint64(tx.ID())
		return err
	})
	if err != nil {
		// Queue the batch again before any newer change, and count every
		// ID as written so that no later delete is cancelled against a
		// record whose fate is unknown.
		q.mu.Lock()
		for id, v := range batch {
			if _, newer := q.pending[id]; !newer {
				q.pending[id] = v
			}
			q.written[id] = struct{}{}
		}
		q.requeueRecords(records)
		q.events = append(events, q.events...)
		q.done = append(done, q.done...)
		q.mu.Unlock()
		return fmt.Errorf("store: commit active calls: %w", err)
	}
	q.commits.Add(1)
	db.outboxLen.Add(int64(outboxDelta))
	// The tail before the signal: a dispatcher woken by it finds them.
	var committed []OutboxEntry
	if len(events) > 0 {
		committed = make([]OutboxEntry, len(events))
		for i, ev := range events {
			committed[i] = OutboxEntry{Seq: firstSeq + uint64(i), Event: ev, Since: now}
		}
	}
	db.outboxTail.extend(committed, done, txID)
	if len(events) > 0 {
		db.outboxSignal.ring()
	}
	return nil
}

// activeFlushLoop commits queued changes one flush interval after the first
// of them, until the store closes; then it commits what is left.
func (db *DB) activeFlushLoop() {
	defer db.swept.Done()
	q := db.active
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	// wait sleeps for d, false once the store is closing.
	wait := func(d time.Duration) bool {
		timer.Reset(d)
		select {
		case <-db.stop:
			timer.Stop()
			return false
		case <-timer.C:
			return true
		}
	}
	defer func() {
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		if err := db.flushActive(); err != nil {
			db.log.Error().Err(err).Msg("active calls lost at close")
		}
	}()
	for {
		select {
		case <-db.stop:
			return
		case <-q.kick:
		}
		if !wait(db.opts.callFlush) {
			return
		}
		if err := db.flushActive(); err != nil {
			// The batch is queued again; a failing disk is retried at a
			// pace that does not flood the log.
			db.log.Error().Err(err).Dur("retry_in", activeRetry).Msg("active calls not committed")
			if !wait(activeRetry) {
				return
			}
			select {
			case q.kick <- struct{}{}:
			default:
			}
		}
	}
}

// activeRetry is how long a failed commit of active calls waits to be tried
// again.
const activeRetry = time.Second

// loadWritten learns which records a previous run left on disk, so their
// deletes are written.
func (db *DB) loadWritten() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketActiveCalls).ForEach(func(k, _ []byte) error {
			db.active.written[string(k)] = struct{}{}
			return nil
		})
	})
}

// queueRecordLocked queues r, replacing a queued record with its ID.
func (q *activeQueue) queueRecordLocked(r queuedRecord) {
	if i, ok := q.recordAt[r.id]; ok {
		q.records[i] = r
		return
	}
	if q.recordAt == nil {
		q.recordAt = make(map[string]int)
	}
	q.recordAt[r.id] = len(q.records)
	q.records = append(q.records, r)
}

// requeueRecords puts the records of a failed commit back before any
// queued since, which are newer and win.
func (q *activeQueue) requeueRecords(failed []queuedRecord) {
	newer := q.records
	q.records, q.recordAt = nil, nil
	for _, r := range failed {
		q.queueRecordLocked(r)
	}
	for _, r := range newer {
		q.queueRecordLocked(r)
	}
}
