package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testClock is a clock moved by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var epoch = time.Date(2031, 3, 14, 9, 26, 53, 0, time.UTC)

// openTest opens a store in t.TempDir that the test closes and then checks.
func openTest(t testing.TB, opts ...Option) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "xbridge.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.check(); err != nil {
			t.Errorf("check at close: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

func mustAdd(t testing.TB, db *DB, pool string, numbers ...string) {
	t.Helper()
	if _, err := db.AddNumbers(context.Background(), pool, numbers); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every few milliseconds for at most bound; the bound only
// stops a broken store from hanging the test.
func waitFor(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// drain reads ch until it is closed and returns how many values it held; it
// fails the test if ch is still open after bound.
func drain[T any](t testing.TB, ch <-chan T, bound time.Duration) int {
	t.Helper()
	deadline := time.After(bound)
	n := 0
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return n
			}
			n++
		case <-deadline:
			t.Fatalf("channel still open after %v (%d values read)", bound, n)
		}
	}
}
