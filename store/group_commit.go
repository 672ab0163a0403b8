package store

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// groupCommit runs the writes that wait for bbolt's writer lock at the same
// time in one transaction, so they share its page writes and its fsync.
//
// It replaces bbolt's Batch for one reason. Batch closes a batch
// MaxBatchDelay after its first call whether or not the writer lock is free,
// so while a commit holds the lock the batches behind it close one by one
// and queue up. The writers split into groups that take turns and never
// merge: at 1,000,000 bindings a commit costs 10–15 ms, and 128 concurrent
// creators shared a commit 30 at a time (docs/PERFORMANCE.md, "the store at
// scale, fourth sitting"). Here the batch stays open while the previous
// commit runs, and for delay after it, so the writers that commit just
// released can join the next one too.
//
// The writer at the head of the queue leads: it waits out the window, takes
// the queue, runs it, answers every call and hands the lead to the next one
// waiting. It closes the window early once every write in flight is
// queued: nobody else can join, and waiting would only delay them all. No
// goroutine outlives a write, so Close has nothing to stop.
type groupCommit struct {
	bolt  *bolt.DB
	delay time.Duration
	max   int
	// inFlight counts the writes between their start and their return,
	// queued or not (DB.writers); nil means unknown, and the leader waits
	// out the whole window.
	inFlight *atomic.Int32
	// moved is poked when a write starts or ends, for a leader that waits
	// for the rest of those in flight to queue.
	moved chan struct{}

	mu      sync.Mutex
	queue   []*groupCall
	leading bool
}

// groupCall is one write waiting in the queue. done receives errLead when
// the call is to lead the next batch, errTrySolo when its fn failed in a
// batch, or else the outcome of the commit that held it.
type groupCall struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// maxGroup bounds one transaction, as bbolt's MaxBatchSize does: past it a
// commit's dirty pages and its callers' wait grow for little more gain.
const maxGroup = 1000

var (
	errLead    = errors.New("store: lead the next batch")
	errTrySolo = errors.New("store: run alone")
)

// write runs fn in a transaction shared with the writes queued beside it.
// fn may run more than once: when another call in its batch fails, the
// batch runs again without it; when fn itself fails, it runs once more
// alone, so its error is its own and none of its writes stay.
func (g *groupCommit) write(fn func(*bolt.Tx) error) error {
	c := &groupCall{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()

	if !lead {
		if err := <-c.done; err != errLead {
			return g.outcome(c, err)
		}
	}
	g.lead()
	return g.outcome(c, <-c.done)
}

func (g *groupCommit) outcome(c *groupCall, err error) error {
	if err == errTrySolo {
		return g.bolt.Update(c.fn)
	}
	return err
}

// lead gathers a batch, commits it and passes the lead on. The caller's
// own call is at the head of the queue, so the batch answers it too.
func (g *groupCommit) lead() {
	g.gather()
	g.mu.Lock()
	n := min(len(g.queue), g.max)
	batch := make([]*groupCall, n)
	copy(batch, g.queue)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	g.mu.Unlock()

	g.run(batch)

	g.mu.Lock()
	if len(g.queue) == 0 {
		g.leading = false
		g.mu.Unlock()
		return
	}
	next := g.queue[0]
	g.mu.Unlock()
	next.done <- errLead
}

// gather waits out the batch window, or less when the batch is full or
// every write in flight has queued.
func (g *groupCommit) gather() {
	if g.delay <= 0 || g.ready() {
		return
	}
	window := time.NewTimer(g.delay)
	defer window.Stop()
	for {
		select {
		case <-window.C:
			return
		case <-g.moved:
			if g.ready() {
				return
			}
		}
	}
}

func (g *groupCommit) ready() bool {
	g.mu.Lock()
	queued := len(g.queue)
	g.mu.Unlock()
	return queued >= g.max || g.inFlight != nil && queued >= int(g.inFlight.Load())
}

// started and ended keep inFlight, and wake a leader waiting on it.
func (g *groupCommit) started() int32 {
	n := g.inFlight.Add(1)
	g.poke()
	return n
}

func (g *groupCommit) ended() {
	g.inFlight.Add(-1)
	g.poke()
}

func (g *groupCommit) poke() {
	select {
	case g.moved <- struct{}{}:
	default:
	}
}

// run commits batch, taking out and sending off to run alone each call
// whose fn fails, and answers the rest with the commit's outcome.
func (g *groupCommit) run(batch []*groupCall) {
	for len(batch) > 0 {
		failed := -1
		err := g.bolt.Update(func(tx *bolt.Tx) error {
			for i, c := range batch {
				if err := callSafely(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range batch {
				c.done <- err
			}
			return
		}
		batch[failed].done <- errTrySolo
		batch = append(batch[:failed], batch[failed+1:]...)
	}
}

// callSafely turns a panic in fn into an error, so one caller's panic
// fails its batch but not the leader's goroutine; run alone, fn panics in
// its own caller's goroutine.
func callSafely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	return fn(tx)
}
