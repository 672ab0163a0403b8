package store

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func tailEntries(seqs ...uint64) []OutboxEntry {
	out := make([]OutboxEntry, len(seqs))
	for i, s := range seqs {
		out[i] = OutboxEntry{Seq: s}
	}
	return out
}

func seqsOf(es []OutboxEntry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

// The tail answers only for the range it covers, and sends a reader to
// the disk after a gap, a reset, or from before its start.
func TestOutboxTail(t *testing.T) {
	var tl outboxTail
	if _, ok := tl.after(0, 10); ok {
		t.Fatal("an empty tail answered")
	}
	tl.extend(tailEntries(5, 6, 7), nil, 1)
	if _, ok := tl.after(3, 10); ok {
		t.Error("a reader at 3 was answered by a tail from 5: entry 4 is on the disk")
	}
	if got, ok := tl.after(4, 2); !ok || !slices.Equal(seqsOf(got), []uint64{5, 6}) {
		t.Errorf("after 4 limit 2 = %v %v, want [5 6]", seqsOf(got), ok)
	}
	tl.extend(tailEntries(8, 9), []uint64{7}, 2)
	if got, ok := tl.after(6, 10); !ok || !slices.Equal(seqsOf(got), []uint64{8, 9}) {
		t.Errorf("after 6 with 7 delivered = %v %v, want [8 9]", seqsOf(got), ok)
	}
	if _, ok := tl.after(4, 10); ok {
		t.Error("what the reader passed was answered again: another reader must read the disk")
	}
	tl.extend(tailEntries(11, 12), nil, 4) // 10 committed elsewhere, in 3
	if _, ok := tl.after(9, 10); ok {
		t.Error("answered across a gap: entry 10 is on the disk only")
	}
	if got, ok := tl.after(10, 10); !ok || !slices.Equal(seqsOf(got), []uint64{11, 12}) {
		t.Errorf("after 10 = %v %v, want [11 12]", seqsOf(got), ok)
	}
	tl.remove(12)
	if got, ok := tl.after(11, 10); !ok || len(got) != 0 {
		t.Errorf("after 11 with 12 dead = %v %v, want none", seqsOf(got), ok)
	}
	tl.reset(5)
	if _, ok := tl.after(12, 10); ok {
		t.Error("a reset tail answered")
	}
	for i := range maxOutboxTail + 10 {
		tl.extend(tailEntries(uint64(100+i)), nil, uint64(6+i))
	}
	if _, ok := tl.after(99, 1); ok {
		t.Error("a full tail answered for what it dropped")
	}
	if got, ok := tl.after(109, 1); !ok || seqsOf(got)[0] != 110 {
		t.Errorf("after 109 of a full tail = %v %v, want [110]", seqsOf(got), ok)
	}
}

// A flush's extend that comes after the reset of a later commit must not
// claim the flush's entries are the last: the later commit's entry is on
// the disk only. The goroutines that apply them after their commits can
// run in either order.
func TestOutboxTailExtendOlderThanReset(t *testing.T) {
	var tl outboxTail
	tl.extend(tailEntries(1, 2), nil, 10)
	// Transaction 11 (a flush) commits 3 and 4; transaction 12 (a retried
	// dead event) commits 5, and its reset is applied first.
	tl.reset(12)
	tl.extend(tailEntries(3, 4), nil, 11)
	if got, ok := tl.after(4, 10); ok {
		t.Fatalf("after 4 = %v from the tail: entry 5 is on the disk only", seqsOf(got))
	}
	if _, ok := tl.after(2, 10); ok {
		t.Fatal("the tail answered after a reset it saw out of order")
	}
	// The next flush, after both, starts it again.
	tl.extend(tailEntries(6), nil, 13)
	if got, ok := tl.after(5, 10); !ok || !slices.Equal(seqsOf(got), []uint64{6}) {
		t.Fatalf("after 5 = %v %v, want [6]", seqsOf(got), ok)
	}
}

// A reader of the outbox in order, as the dispatcher reads it, sees every
// committed entry once, in order, while flushes commit events, others move
// to the dead letters and come back with new numbers (written outside the
// flush), and delivered ones are removed: against the disk's own list at
// the end.
func TestOutboxTailReaderSeesEverything(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, WithCallFlush(time.Millisecond))
	const calls = 1500
	var wg sync.WaitGroup
	stop := make(chan struct{})
	seenCh := make(chan uint64, 64)
	producerDone := make(chan struct{})
	wg.Go(func() {
		defer close(producerDone)
		for i := range calls {
			ev := testEvent(t, "s", "call.test", time.Now())
			if err := db.QueueCall(ctx, CallChange{Events: []Event{ev}}); err != nil {
				t.Error(err)
				return
			}
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	})
	// Another writer: an entry the reader has seen goes dead and back.
	wg.Go(func() {
		r := rand.New(rand.NewPCG(3, 4))
		var seen []OutboxEntry
		for {
			select {
			case <-stop:
				return
			case s := <-seenCh:
				seen = append(seen, OutboxEntry{Seq: s})
			}
			if len(seen) < 20 || r.IntN(10) != 0 {
				continue
			}
			e := seen[r.IntN(len(seen))]
			if e.Seq%3 == 0 {
				// Delivered: the next flush removes it, maybe between
				// OutboxDead and RetryDead below.
				continue
			}
			all, err := db.outboxAll()
			if err != nil {
				t.Error(err)
				return
			}
			i := slices.IndexFunc(all, func(a OutboxEntry) bool { return a.Seq == e.Seq })
			if i < 0 {
				continue
			}
			if err := db.OutboxDead(ctx, e.Seq, 1, "test"); err != nil {
				t.Error(err)
				return
			}
			if _, err := db.RetryDead(ctx, all[i].ID); err != nil {
				t.Error(err)
				return
			}
			if r.IntN(2) == 0 {
				_ = db.OutboxDone(ctx, e.Seq) // already gone: nothing
			}
		}
	})
	var got []uint64
	var after uint64
	read := func() int {
		es, err := db.OutboxAfter(ctx, after, 64)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Seq <= after {
				t.Fatalf("entry %d read after %d", e.Seq, after)
			}
			after = e.Seq
			got = append(got, e.Seq)
			if e.Seq%3 == 0 {
				_ = db.OutboxDone(ctx, e.Seq)
			}
			select {
			case seenCh <- e.Seq:
			default:
			}
		}
		return len(es)
	}
	deadline := time.After(30 * time.Second)
reading:
	for {
		select {
		case <-producerDone:
			break reading
		case <-deadline:
			t.Fatal("the writers did not finish")
		default:
		}
		signal := db.OutboxSignal()
		if read() == 0 {
			select {
			case <-signal:
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	close(stop)
	wg.Wait()
	if err := db.flushActive(); err != nil {
		t.Fatal(err)
	}
	for read() > 0 {
	}
	all, err := db.outboxAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("nothing left in the outbox to check against")
	}
	for _, e := range all {
		if _, found := slices.BinarySearch(got, e.Seq); !found {
			t.Fatalf("entry %d is in the outbox but the reader never saw it", e.Seq)
		}
	}
}

// outboxAll reads the whole outbox from the disk.
func (db *DB) outboxAll() ([]OutboxEntry, error) {
	var out []OutboxEntry
	var after uint64
	for {
		es, err := db.diskOutboxAfter(after, 1000)
		if err != nil || len(es) == 0 {
			return out, err
		}
		out = append(out, es...)
		after = es[len(es)-1].Seq
	}
}
