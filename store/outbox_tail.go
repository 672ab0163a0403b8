package store

import (
	"cmp"
	"slices"
	"sync"
)

// outboxTail is what the last flushes added to the outbox, kept in memory
// after their commit so that the dispatcher takes the events from here
// instead of reading back and decoding what was just written: under load
// it reads every entry once, right after the flush that committed it.
// Reading them back was 1.2% of the engine's CPU with a webhook at 1,200
// calls/s (perf, docs/PERFORMANCE.md, issue 7).
//
// The invariant that makes it safe: the tail covers a range of Seqs, lo to
// hi, and holds exactly the committed entries in that range. The flush is
// the only writer that extends it: its entries have consecutive Seqs, it
// extends the tail after its commit and before it rings the outbox signal,
// and it removes what its commit deleted. Any other write that adds to the
// outbox (an SMS's events, a dead event retried) empties the tail first,
// so an entry that commits out of the flush's order is read from the disk;
// one that moves to the dead letters leaves it. A reader whose position is
// before the tail, or finds it empty, reads the disk as before.
//
// The commits happen in one order and their changes to the tail after them,
// each in its own goroutine, in any order: a flush's extend could come after
// the reset of a later commit, and the tail would then claim the flush's
// entries were the last while the later commit's sat on the disk unread. So
// each change carries its transaction's ID, and an extend older than the
// newest reset empties the tail instead.
type outboxTail struct {
	mu sync.Mutex
	// covered says lo and hi mean something; entries are in Seq order.
	covered bool
	lo, hi  uint64
	entries []OutboxEntry
	// lastTx is the transaction of the newest extend or reset applied.
	lastTx uint64
}

// maxOutboxTail bounds the entries held: a few seconds of a loaded
// engine's events. A dispatcher further behind reads the disk.
const maxOutboxTail = 8192

// extend adds the entries a flush committed in transaction tx (consecutive
// Seqs) and forgets those its commit removed (removed in ascending order).
func (t *outboxTail) extend(es []OutboxEntry, removed []uint64, tx uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(removed)
	if tx < t.lastTx {
		// A later commit added entries the flush does not know of.
		t.covered, t.entries = false, nil
		return
	}
	t.lastTx = tx
	if len(es) == 0 {
		return
	}
	first, last := es[0].Seq, es[len(es)-1].Seq
	if !t.covered || t.hi+1 != first {
		// A gap: what is before it is on the disk only.
		t.covered, t.lo, t.entries = true, first, nil
	}
	t.hi = last
	t.entries = append(t.entries, es...)
	if over := len(t.entries) - maxOutboxTail; over > 0 {
		t.entries = append([]OutboxEntry(nil), t.entries[over:]...)
		t.lo = t.entries[0].Seq
	}
}

// remove forgets entries no longer in the outbox (dead; seqs in
// ascending order).
func (t *outboxTail) remove(seqs ...uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(seqs)
}

func (t *outboxTail) removeLocked(seqs []uint64) {
	if !t.covered || len(seqs) == 0 || len(t.entries) == 0 {
		return
	}
	t.entries = slices.DeleteFunc(t.entries, func(e OutboxEntry) bool {
		_, gone := slices.BinarySearch(seqs, e.Seq)
		return gone
	})
}

// reset empties the tail: transaction tx committed an entry outside the
// flush.
func (t *outboxTail) reset(tx uint64) {
	t.mu.Lock()
	t.covered, t.entries = false, nil
	t.lastTx = max(t.lastTx, tx)
	t.mu.Unlock()
}

// after returns up to limit entries with a Seq greater than after, and
// true, when the tail holds all of them there are; false sends the reader
// to the disk. The entries at or before after are dropped: the one reader
// has them (another reader goes to the disk).
func (t *outboxTail) after(after uint64, limit int) ([]OutboxEntry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.covered || after+1 < t.lo {
		return nil, false
	}
	i, _ := slices.BinarySearchFunc(t.entries, after+1, func(e OutboxEntry, seq uint64) int { return cmp.Compare(e.Seq, seq) })
	t.entries = t.entries[i:]
	t.lo = min(after+1, t.hi+1)
	n := min(limit, len(t.entries))
	return append([]OutboxEntry(nil), t.entries[:n]...), true
}
