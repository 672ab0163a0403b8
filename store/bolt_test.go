package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// bbolt's flock is per open file, so a second Open in this process
	// contends like a second process would.
	second, err := Open(path)
	if err == nil {
		second.Close()
		t.Fatal("second Open of a held file succeeded")
	}
	if !strings.Contains(err.Error(), "locked") {
		t.Fatalf("error %q does not say the file is locked", err)
	}
}

func TestOpenBadOptions(t *testing.T) {
	tests := map[string]Option{
		"negative quarantine": WithQuarantine(-time.Second),
		"zero sweep interval": WithSweepInterval(0),
		"negative batch":      WithBatchDelay(-time.Millisecond),
		"nil clock":           WithClock(nil),
	}
	for name, opt := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			if db, err := Open(path, opt); !errors.Is(err, ErrInvalid) {
				if db != nil {
					db.Close()
				}
				t.Fatalf("Open = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{now: epoch}
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(path, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, db, "p", "1700000001")
	b, _, err := db.CreateBinding(ctx, NewBinding{Pool: "p", A: "13800000001", B: "13900000001", OrderID: "o1", ExpiresAt: epoch.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	gone, _, err := db.CreateBinding(ctx, NewBinding{Pool: "p", A: "13800000002", B: "13900000002", ExpiresAt: epoch.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteBinding(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	db, err = Open(path, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, err := db.Lookup(ctx, b.X, b.B); err != nil || got != b {
		t.Fatalf("Lookup after reopen = %+v, %v; want %+v", got, err, b)
	}
	if _, err := db.Lookup(ctx, gone.X, gone.A); !errors.Is(err, ErrEnded) {
		t.Fatalf("quarantine lost on reopen: %v", err)
	}
	if again, created, err := db.CreateBinding(ctx, NewBinding{Pool: "p", A: b.A, B: b.B, OrderID: "o1", ExpiresAt: epoch.Add(time.Hour)}); err != nil || created || again != b {
		t.Fatalf("order retry after reopen = %+v, %v, %v", again, created, err)
	}
	if err := db.check(); err != nil {
		t.Fatal(err)
	}
}

// TestSweepBacklog lets more bindings expire at once than one sweep chunk
// holds: all must end, each published once.
func TestSweepBacklog(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{now: epoch}
	db := openTest(t, WithClock(clock.Now), WithSweepInterval(5*time.Millisecond), WithQuarantine(time.Minute), WithSMSGrace(0))
	mustAdd(t, db, "p", "1700000001", "1700000002")
	events, stop := db.Subscribe()
	defer stop()
	const n = 2*sweepChunk + 37
	want := createMany(t, db, n, epoch.Add(time.Minute))
	clock.Advance(time.Minute)
	got := map[string]int{}
	deadline := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case ev := <-events:
			if ev.Reason != EndExpired {
				t.Fatalf("Ended %+v, want expired", ev)
			}
			got[ev.Binding.ID]++
		case <-deadline:
			t.Fatalf("%d of %d expiries published", len(got), n)
		}
	}
	for id := range want {
		if got[id] != 1 {
			t.Fatalf("binding %s published %d times", id, got[id])
		}
	}
	if info, _ := db.Pool(ctx, "p"); info.Bindings != 0 || info.InUse != 0 {
		t.Fatalf("Pool after sweep = %+v", info)
	}
	// The quarantine ends the same way, and frees every pair.
	clock.Advance(time.Minute)
	waitFor(t, 30*time.Second, "quarantine purge", func() bool {
		var left int
		_ = db.bolt.View(func(tx *bolt.Tx) error { left = tx.Bucket(bucketQuarantine).Stats().KeyN; return nil })
		return left == 0
	})
}

// createMany creates n bindings with distinct parties in parallel.
func createMany(t testing.TB, db *DB, n int, expires time.Time) map[string]bool {
	t.Helper()
	ids := make(chan string, n)
	errs := make(chan error, n)
	const workers = 16
	for w := range workers {
		go func() {
			for i := w; i < n; i += workers {
				b, _, err := db.CreateBinding(context.Background(), NewBinding{
					Pool: "p", A: fmt.Sprintf("130%08d", i), B: fmt.Sprintf("131%08d", i), ExpiresAt: expires,
				})
				if err != nil {
					errs <- err
					continue
				}
				ids <- b.ID
			}
		}()
	}
	out := map[string]bool{}
	for range n {
		select {
		case id := <-ids:
			out[id] = true
		case err := <-errs:
			t.Fatal(err)
		}
	}
	return out
}

// TestStalledSubscriber: a subscriber that stops reading holds the sweeper
// (nothing is dropped) until it cancels; then the sweep goes on.
func TestStalledSubscriber(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{now: epoch}
	db := openTest(t, WithClock(clock.Now), WithSweepInterval(5*time.Millisecond), WithSMSGrace(0))
	mustAdd(t, db, "p", "1700000001")
	stalled, cancel := db.Subscribe()
	reader, stopReader := db.Subscribe()
	defer stopReader()
	// The reader keeps up from the start. Were it left unread too, the
	// sweeper could block on it first, since chunks (cut by sweepSlice) need
	// not fill both buffers at once.
	var read atomic.Int64
	go func() {
		for range reader {
			read.Add(1)
		}
	}()
	const n = 2*subscriberBuffer + 50
	createMany(t, db, n, epoch.Add(time.Minute))
	clock.Advance(time.Minute)

	// While the stalled subscriber is full the sweeper waits on it, so
	// bindings are still in the store.
	waitFor(t, 30*time.Second, "stalled subscriber's buffer fills", func() bool { return len(stalled) == cap(stalled) })
	if info, _ := db.Pool(ctx, "p"); info.Bindings == 0 {
		t.Fatal("every binding ended while a subscriber could not take the events")
	}
	cancel()
	// Cancel closes the channel after the buffered events.
	if left := drain(t, stalled, 30*time.Second); left != subscriberBuffer {
		t.Fatalf("stalled subscriber kept %d events, want %d", left, subscriberBuffer)
	}
	waitFor(t, 30*time.Second, "the reader gets every event after the stalled subscriber left", func() bool { return read.Load() == n })
	waitFor(t, 30*time.Second, "all bindings swept", func() bool {
		info, _ := db.Pool(ctx, "p")
		return info.Bindings == 0
	})
}

// TestCloseWithStalledSubscriber: Close must not hang on a subscriber that
// never reads, and closes its channel.
func TestCloseWithStalledSubscriber(t *testing.T) {
	clock := &testClock{now: epoch}
	db, err := Open(filepath.Join(t.TempDir(), "x.db"), WithClock(clock.Now), WithSweepInterval(5*time.Millisecond), WithSMSGrace(0))
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, db, "p", "1700000001")
	stalled, _ := db.Subscribe()
	createMany(t, db, subscriberBuffer+10, epoch.Add(time.Minute))
	clock.Advance(time.Minute)
	waitFor(t, 30*time.Second, "buffer fills", func() bool { return len(stalled) == cap(stalled) })
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close hung on a stalled subscriber")
	}
	drain(t, stalled, 30*time.Second)
	if ch, _ := db.Subscribe(); ch != nil {
		if _, ok := <-ch; ok {
			t.Fatal("Subscribe after Close delivered an event")
		}
	}
}

// TestExpiryOnTheWallClock runs the default sweep interval against real time.
// The bound is generous (the machine is shared); the latency is logged.
func TestExpiryOnTheWallClock(t *testing.T) {
	db := openTest(t)
	mustAdd(t, db, "p", "1700000001")
	events, stop := db.Subscribe()
	defer stop()
	b, _, err := db.CreateBinding(context.Background(), NewBinding{Pool: "p", A: "13800000001", B: "13900000001", ExpiresAt: time.Now().Add(300 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Binding.ID != b.ID || ev.Reason != EndExpired {
			t.Fatalf("Ended %+v", ev)
		}
		if ev.At.Before(b.ExpiresAt) {
			t.Fatalf("ended at %v, before its expiry %v", ev.At, b.ExpiresAt)
		}
		t.Logf("expiry published %v after ExpiresAt (sweep interval %v)", time.Since(b.ExpiresAt), DefaultSweepInterval)
	case <-time.After(10 * time.Second):
		t.Fatal("no expiry within 10s")
	}
}

func TestContextCancelled(t *testing.T) {
	db := openTest(t)
	mustAdd(t, db, "p", "1700000001")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	nb := NewBinding{Pool: "p", A: "13800000001", B: "13900000001", ExpiresAt: time.Now().Add(time.Hour)}
	if _, _, err := db.CreateBinding(ctx, nb); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateBinding on a cancelled context: %v", err)
	}
	if _, err := db.Lookup(ctx, "1700000001", "13800000001"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lookup on a cancelled context: %v", err)
	}
	if all, _ := db.ListBindings(context.Background(), Filter{}); len(all) != 0 {
		t.Fatalf("cancelled create wrote %+v", all)
	}
}
