package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var groupBucket = []byte("group")

// openGroup opens a bare bbolt file with one bucket and a group commit on it.
func openGroup(t *testing.T, delay time.Duration) (*groupCommit, *bolt.DB) {
	t.Helper()
	bdb, err := bolt.Open(filepath.Join(t.TempDir(), "group.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bdb.Close() })
	if err := bdb.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(groupBucket)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return &groupCommit{bolt: bdb, delay: delay, max: maxGroup}, bdb
}

// countWrites makes g count the writes in flight, as DB.write does, so
// its leader can close a batch before the window ends.
func countWrites(g *groupCommit) {
	g.inFlight = new(atomic.Int32)
	g.moved = make(chan struct{}, 1)
}

// countedWrite is DB.write's path into the group.
func countedWrite(g *groupCommit, fn func(*bolt.Tx) error) error {
	g.started()
	defer g.ended()
	return g.write(fn)
}

// waitDone fails the test unless done yields within 10 s, far less than
// the hour-long windows of the tests that use it.
func waitDone(t *testing.T, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not answered after 10 s: the leader waited out its window", what)
	}
}

// holdLead starts a write that keeps its transaction open until the
// returned release is called, so that every write after it queues.
func holdLead(t *testing.T, g *groupCommit) (release func()) {
	t.Helper()
	entered, held := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- g.write(func(tx *bolt.Tx) error {
			close(entered)
			<-held
			return nil
		})
	}()
	<-entered
	return func() {
		close(held)
		if err := <-done; err != nil {
			t.Errorf("held write: %v", err)
		}
	}
}

// waitQueued waits until n writes wait in g's queue.
func waitQueued(t *testing.T, g *groupCommit, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		got := len(g.queue)
		g.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued after 10 s, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// putKey is a write of key -> value that notes the transaction it ran in.
func putKey(key string, txID *int) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		*txID = tx.ID()
		return tx.Bucket(groupBucket).Put([]byte(key), []byte("v"))
	}
}

func keysIn(t *testing.T, bdb *bolt.DB) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	if err := bdb.View(func(tx *bolt.Tx) error {
		return tx.Bucket(groupBucket).ForEach(func(k, _ []byte) error {
			keys[string(k)] = true
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// Writes that queue while a commit runs share the next commit, however far
// apart they arrived. bbolt's Batch closes a batch MaxBatchDelay after its
// first call, so its two waves here would commit apart, and under load the
// writers split into groups that never merge.
func TestGroupCommitQueuedWritesShareOneCommit(t *testing.T) {
	const delay = 2 * time.Millisecond
	g, bdb := openGroup(t, delay)
	release := holdLead(t, g)

	const waves, perWave = 2, 40
	txIDs := make([]int, waves*perWave)
	var wg sync.WaitGroup
	for w := range waves {
		for i := range perWave {
			n := w*perWave + i
			wg.Go(func() {
				if err := g.write(putKey(fmt.Sprint(n), &txIDs[n])); err != nil {
					t.Errorf("write %d: %v", n, err)
				}
			})
		}
		waitQueued(t, g, (w+1)*perWave)
		time.Sleep(5 * delay) // the second wave comes well after the first's window
	}
	release()
	wg.Wait()

	for n, id := range txIDs {
		if id != txIDs[0] {
			t.Fatalf("write %d committed in transaction %d, write 0 in %d: the queue was split", n, id, txIDs[0])
		}
	}
	if got := len(keysIn(t, bdb)); got != waves*perWave {
		t.Fatalf("%d keys written, want %d", got, waves*perWave)
	}
}

// Once every write in flight has queued, nobody can join the batch, and
// the leader commits at once instead of waiting out the window (an hour
// here).
func TestGroupCommitClosesWhenEveryWriteQueued(t *testing.T) {
	g, bdb := openGroup(t, time.Hour)
	countWrites(g)
	const n = 8
	done := make(chan error, n)
	for i := range n {
		go func() {
			var id int
			done <- countedWrite(g, putKey(fmt.Sprint(i), &id))
		}()
	}
	for range n {
		waitDone(t, done, "write")
	}
	if got := len(keysIn(t, bdb)); got != n {
		t.Fatalf("%d keys, want %d", got, n)
	}
}

// A write in flight that has not queued yet (here one that started and
// has not reached the queue) holds the batch open for it, and its end
// closes the batch.
func TestGroupCommitWaitsForWritesInFlight(t *testing.T) {
	g, _ := openGroup(t, time.Hour)
	countWrites(g)
	g.started() // the write not yet queued
	g.started() // and one more, so the next goes to the group as in DB.write
	done := make(chan error, 1)
	go func() {
		var id int
		done <- g.write(putKey("queued", &id))
	}()
	waitQueued(t, g, 1)
	select {
	case err := <-done:
		t.Fatalf("the batch closed with a write in flight outside it (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.ended()
	waitDone(t, done, "queued write")
}

// A write whose fn fails gets its own error and leaves nothing behind; the
// writes batched with it commit together without it.
func TestGroupCommitFailedWriteRunsAlone(t *testing.T) {
	g, bdb := openGroup(t, time.Millisecond)
	release := holdLead(t, g)

	errRefused := errors.New("refused")
	const n, bad = 10, 4
	txIDs := make([]int, n)
	errs := make([]error, n)
	var badRuns int
	var wg sync.WaitGroup
	for i := range n {
		fn := putKey(fmt.Sprint(i), &txIDs[i])
		if i == bad {
			fn = func(tx *bolt.Tx) error {
				badRuns++
				if err := tx.Bucket(groupBucket).Put([]byte("bad"), []byte("v")); err != nil {
					return err
				}
				return errRefused
			}
		}
		wg.Go(func() { errs[i] = g.write(fn) })
		waitQueued(t, g, i+1)
	}
	release()
	wg.Wait()

	keys := keysIn(t, bdb)
	var shared int
	for i, err := range errs {
		if i == bad {
			if !errors.Is(err, errRefused) {
				t.Fatalf("failing write: got %v, want its own error", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if !keys[fmt.Sprint(i)] {
			t.Fatalf("write %d's key is missing", i)
		}
		if shared == 0 {
			shared = txIDs[i]
		}
		if txIDs[i] != shared {
			t.Fatalf("write %d committed in transaction %d, the others in %d", i, txIDs[i], shared)
		}
	}
	if keys["bad"] {
		t.Fatal("the failing write's key was committed")
	}
	if badRuns != 2 {
		t.Fatalf("the failing fn ran %d times, want 2 (in the batch, then alone)", badRuns)
	}
}

// A panic in one write's fn reaches its own caller, not the writer leading
// the batch, and the rest of the batch commits.
func TestGroupCommitPanicReachesItsCaller(t *testing.T) {
	g, bdb := openGroup(t, time.Millisecond)
	release := holdLead(t, g)

	var ok [2]int
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := g.write(putKey("first", &ok[0])); err != nil {
			t.Errorf("first: %v", err)
		}
	})
	waitQueued(t, g, 1)
	panicked := make(chan any, 1)
	wg.Go(func() {
		defer func() { panicked <- recover() }()
		_ = g.write(func(tx *bolt.Tx) error { panic("boom") })
	})
	waitQueued(t, g, 2)
	wg.Go(func() {
		if err := g.write(putKey("last", &ok[1])); err != nil {
			t.Errorf("last: %v", err)
		}
	})
	waitQueued(t, g, 3)
	release()
	wg.Wait()

	if p := <-panicked; p != "boom" {
		t.Fatalf("the panicking caller recovered %v, want its panic", p)
	}
	if keys := keysIn(t, bdb); !keys["first"] || !keys["last"] {
		t.Fatalf("keys %v, want first and last committed", keys)
	}
}

// Many writers with the lead passed on and given up all the time: every
// write is answered once and lands.
func TestGroupCommitConcurrentWriters(t *testing.T) {
	g, bdb := openGroup(t, 100*time.Microsecond)
	const writers, each = 32, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			var id int
			for i := range each {
				if err := g.write(putKey(fmt.Sprintf("%d/%d", w, i), &id)); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := len(keysIn(t, bdb)); got != writers*each {
		t.Fatalf("%d keys, want %d", got, writers*each)
	}
	if g.leading || len(g.queue) != 0 {
		t.Fatalf("idle group still leading=%v with %d queued", g.leading, len(g.queue))
	}
}
