package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// An accepted SMS and a binding in its grace period outlive the process:
// after a reopen the message is still due, the binding still relays, and
// the indexes agree (check).
func TestMessagesSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "xbridge.db")
	clock := &testClock{now: epoch}
	db, err := Open(path, WithClock(clock.Now), WithSweepInterval(5*time.Millisecond), WithSMSGrace(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, db, "p", "1700000001")
	b, _, err := db.CreateBinding(ctx, NewBinding{Pool: "p", A: "13800000001", B: "13900000001", ExpiresAt: epoch.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := NewMessageID(epoch)
	m := Message{ID: id, BindingID: b.ID, X: b.X, Sender: b.A, Receiver: b.B, Body: []byte("1234"),
		ReceivedAt: epoch, NextAt: epoch, GiveUpAt: epoch.Add(time.Hour)}
	if err := db.AcceptMessage(ctx, m, []Event{testEvent(t, id, "sms.received", epoch)}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	waitFor(t, 10*time.Second, "binding swept into grace", func() bool {
		_, _, err := db.GraceBinding(ctx, b.ID)
		return err == nil
	})
	if err := db.check(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, WithClock(clock.Now), WithSMSGrace(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	due, _, err := db.DueMessages(ctx, clock.Now(), 10)
	if err != nil || len(due) != 1 || due[0].ID != id || string(due[0].Body) != "1234" {
		t.Fatalf("due after reopen = %+v, %v", due, err)
	}
	res, err := db.ResolveMessage(ctx, b.X, b.B)
	if err != nil || !res.Grace || res.Binding.ID != b.ID {
		t.Fatalf("resolve after reopen = %+v, %v", res, err)
	}
	if _, err := db.Lookup(ctx, b.X, b.B); !errors.Is(err, ErrEnded) {
		t.Fatalf("a call in grace after reopen: %v, want ErrEnded", err)
	}
	if n, _, _ := db.OutboxDepth(ctx); n != 1 {
		t.Fatalf("outbox after reopen = %d, want the sms.received", n)
	}
	if err := db.check(); err != nil {
		t.Fatal(err)
	}
}
