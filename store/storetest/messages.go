package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

// runMessages runs the SMS relay's part of the suite: the grace period,
// who reached whom, and the store-and-forward queue.
func runMessages(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"SMSGraceAfterExpiry", testSMSGrace},
		{"SMSGraceNotOnDelete", testSMSGraceNotOnDelete},
		{"SMSGracePerBinding", testSMSGracePerBinding},
		{"SMSGraceAXNAndAXE", testSMSGraceModels},
		{"SMSSendersReached", testSMSSenders},
		{"SMSQueue", testSMSQueue},
		{"SMSInbox", testSMSInbox},
		{"TrackNos", testTrackNos},
		{"BadMessageWritesNothing", testBadMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newEnv(t, open, time.Minute, 10*time.Millisecond))
		})
	}
}

// graceful gives pool an SMS grace period of g.
func (e *env) graceful(g time.Duration) {
	e.t.Helper()
	if err := e.s.SetPoolSettings(e.ctx, pool, store.PoolSettings{SMS: store.SMSPolicy{Grace: &g}}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) resolveMessage(x, sender string, want store.Match, wantID string, wantErr error) store.MessageResolution {
	e.t.Helper()
	res, err := e.s.ResolveMessage(e.ctx, x, sender)
	if !errors.Is(err, wantErr) {
		e.t.Fatalf("ResolveMessage(%s, %s) error = %v, want %v", x, sender, err, wantErr)
	}
	if res.Match != want || res.Binding.ID != wantID {
		e.t.Fatalf("ResolveMessage(%s, %s) = match %d binding %q, want %d %q", x, sender, res.Match, res.Binding.ID, want, wantID)
	}
	return res
}

// expire moves the clock past b's expiry and waits for the sweep.
func (e *env) expire(b store.Binding) {
	e.t.Helper()
	e.clock.Set(b.ExpiresAt.Add(time.Second))
	e.waitUntil("binding swept", func() bool {
		_, err := e.s.GetBinding(e.ctx, b.ID)
		return errors.Is(err, store.ErrNotFound)
	})
}

func (e *env) waitUntil(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(waitBound)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not within %v", what, waitBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testSMSGrace: an expired binding's calls end, its SMS go on until the
// grace ends, its pairs stay out of reuse as long, and then it is gone.
func testSMSGrace(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	e.graceful(3 * time.Hour)
	nb := e.req("13800000001", "13900000001")
	nb.ExpiresAt = e.clock.Now().Add(time.Hour)
	b := e.create(nb)
	res := e.resolveMessage(x, b.A, store.MatchPair, b.ID, nil)
	if res.Grace {
		t.Fatal("a live binding is not in grace")
	}
	e.expire(b)

	if _, err := e.s.Lookup(e.ctx, x, b.A); !errors.Is(err, store.ErrEnded) {
		t.Fatalf("a call in grace: Lookup error = %v, want ErrEnded (480)", err)
	}
	res = e.resolveMessage(x, b.B, store.MatchPair, b.ID, nil)
	wantUntil := b.ExpiresAt.Add(3 * time.Hour)
	if !res.Grace || !res.GraceUntil.Equal(wantUntil) || res.Binding.A != b.A {
		t.Fatalf("in grace: %+v, want grace until %v", res, wantUntil)
	}
	got, until, err := e.s.GraceBinding(e.ctx, b.ID)
	if err != nil || got.ID != b.ID || !until.Equal(wantUntil) {
		t.Fatalf("GraceBinding = %+v, %v, %v", got, until, err)
	}
	// Past the pool's one-minute quarantine, the pair is still not free.
	e.clock.Advance(2 * time.Hour)
	time.Sleep(5 * e.cfg.SweepInterval)
	again := e.req(b.A, "13700000001")
	again.X = x
	if _, _, err := e.s.CreateBinding(e.ctx, again); !errors.Is(err, store.ErrPartyBusy) {
		t.Fatalf("binding A again on X in its grace: %v, want ErrPartyBusy", err)
	}
	e.resolveMessage(x, b.A, store.MatchPair, b.ID, nil)

	e.clock.Set(wantUntil.Add(time.Second))
	e.waitUntil("grace ended", func() bool {
		_, _, err := e.s.GraceBinding(e.ctx, b.ID)
		return errors.Is(err, store.ErrNotFound)
	})
	e.waitUntil("pair freed", func() bool {
		_, err := e.s.ResolveMessage(e.ctx, x, b.A)
		return errors.Is(err, store.ErrNotFound)
	})
	if _, _, err := e.s.CreateBinding(e.ctx, again); err != nil {
		t.Fatalf("binding A again on X after its grace: %v", err)
	}
}

// testSMSGraceNotOnDelete: a binding the platform deletes ends at once;
// a grace ended by EndGrace ends too.
func testSMSGraceNotOnDelete(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	e.graceful(3 * time.Hour)
	b := e.create(e.req("13800000001", "13900000001"))
	if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	e.resolveMessage(x, b.A, store.MatchNone, "", store.ErrEnded)
	if _, _, err := e.s.GraceBinding(e.ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted binding in grace: %v", err)
	}

	nb := e.req("13800000002", "13900000002")
	nb.ExpiresAt = e.clock.Now().Add(time.Hour)
	c := e.create(nb)
	e.expire(c)
	e.resolveMessage(x, c.A, store.MatchPair, c.ID, nil)
	if got, err := e.s.EndGrace(e.ctx, c.ID); err != nil || got.ID != c.ID {
		t.Fatalf("EndGrace = %+v, %v", got, err)
	}
	e.resolveMessage(x, c.A, store.MatchNone, "", store.ErrEnded)
	if _, err := e.s.EndGrace(e.ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("EndGrace twice: %v", err)
	}
}

// testSMSGracePerBinding: a binding's own grace replaces its pool's,
// none included.
func testSMSGracePerBinding(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	e.graceful(3 * time.Hour)
	none := e.req("13800000001", "13900000001")
	none.ExpiresAt, none.Policy.SMSGraceSeconds = e.clock.Now().Add(time.Hour), store.NoSMSGrace
	short := e.req("13800000002", "13900000002")
	short.ExpiresAt, short.Policy.SMSGraceSeconds = e.clock.Now().Add(time.Hour), 600
	bn, bs := e.create(none), e.create(short)
	if got, _ := e.s.GetBinding(e.ctx, bs.ID); got.Policy.SMSGraceSeconds != 600 {
		t.Fatalf("policy read back as %+v", got.Policy)
	}
	e.expire(bn)
	e.expire(bs)
	if _, _, err := e.s.GraceBinding(e.ctx, bn.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a binding without grace is in grace: %v", err)
	}
	_, until, err := e.s.GraceBinding(e.ctx, bs.ID)
	if want := bs.ExpiresAt.Add(10 * time.Minute); err != nil || !until.Equal(want) {
		t.Fatalf("own grace until %v (%v), want %v", until, err, want)
	}
	bad := e.req("13800000003", "13900000003")
	bad.Policy.SMSGraceSeconds = -2
	if _, _, err := e.s.CreateBinding(e.ctx, bad); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("sms grace -2: %v", err)
	}
}

// testSMSGraceModels: an AXN's any-caller slot and an AXE's extension
// relay SMS in grace too.
func testSMSGraceModels(t *testing.T, e *env) {
	const xn, xe = "1700000001", "1700000002"
	e.numbers(pool, xn, xe)
	e.graceful(3 * time.Hour)
	nb := e.axn("13800000001", "")
	nb.X, nb.ExpiresAt = xn, e.clock.Now().Add(time.Hour)
	n := e.create(nb)
	eb := e.axe("13800000002", "4321")
	eb.X, eb.ExpiresAt = xe, e.clock.Now().Add(time.Hour)
	a := e.create(eb)
	e.resolveMessage(xn, "13700000001", store.MatchAnyCaller, n.ID, nil)
	e.resolveMessage(xe, "13700000001", store.MatchExtensions, "", nil)
	e.expire(n)
	e.expire(a)
	if res := e.resolveMessage(xn, "13700000001", store.MatchAnyCaller, n.ID, nil); !res.Grace {
		t.Fatal("AXN in grace not marked")
	}
	e.resolveMessage(xn, n.A, store.MatchPair, n.ID, nil)
	e.resolveMessage(xe, "13700000001", store.MatchExtensions, "", nil)
	res, err := e.s.MessageExtension(e.ctx, xe, "4321")
	if err != nil || res.Binding.ID != a.ID || !res.Grace {
		t.Fatalf("MessageExtension in grace = %+v, %v", res, err)
	}
	if _, err := e.s.MessageExtension(e.ctx, xe, "9999"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown extension: %v", err)
	}
}

// testSMSSenders: who called an AXE's extension, or texted an AXE or AXN,
// is found again by X and sender, and A's reply goes to the last of them;
// all of it goes with the binding.
func testSMSSenders(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	eb := e.axe("13800000001", "1234")
	eb.X = x
	a := e.create(eb)
	const courier, other = "13700000001", "13700000002"
	e.resolveMessage(x, courier, store.MatchExtensions, "", nil)
	if err := e.s.NoteCaller(e.ctx, a.ID, courier, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.resolveMessage(x, courier, store.MatchReached, a.ID, nil)
	res := e.resolveMessage(x, a.A, store.MatchPair, a.ID, nil)
	if res.LastSender != courier {
		t.Fatalf("A's last sender %q, want the courier", res.LastSender)
	}
	e.clock.Advance(time.Minute)
	if err := e.s.NoteSender(e.ctx, a.ID, other, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	res = e.resolveMessage(x, a.A, store.MatchPair, a.ID, nil)
	if res.LastSender != other || !res.LastSenderAt.Equal(e.clock.Now()) {
		t.Fatalf("A's last sender %q at %v, want the other at %v", res.LastSender, res.LastSenderAt, e.clock.Now())
	}
	e.resolveMessage(x, courier, store.MatchReached, a.ID, nil)
	if err := e.s.NoteSender(e.ctx, a.ID, a.A, e.clock.Now()); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("A noted as its own sender: %v", err)
	}
	plain := e.create(e.req("13800000009", "13900000009"))
	if err := e.s.NoteSender(e.ctx, plain.ID, courier, e.clock.Now()); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a sender noted on an AXB: %v", err)
	}
	if _, err := e.s.DeleteBinding(e.ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	// The extension's next binding starts with nobody reached.
	next := e.axe("13800000003", "")
	next.X = x
	b := e.create(next)
	e.resolveMessage(x, courier, store.MatchExtensions, "", nil)
	if res := e.resolveMessage(x, b.A, store.MatchPair, b.ID, nil); res.LastSender != "" {
		t.Fatalf("a new binding inherited the last sender %q", res.LastSender)
	}
}

func (e *env) message(id string) store.Message {
	now := e.clock.Now()
	return store.Message{
		ID: id, Pool: pool, BindingID: "b1", Model: store.ModelAXB, X: "1700000001",
		Sender: "13800000001", Receiver: "13900000001", SenderRole: "A", ReceiverRole: "B",
		ContentType: "text/plain;charset=UTF-8", Body: []byte("取件码 1234"),
		ReceivedAt: now, NextAt: now, GiveUpAt: now.Add(24 * time.Hour),
	}
}

func (e *env) event(id, typ, stream string) store.Event {
	return store.Event{ID: id, Type: typ, Stream: stream, Pool: pool, At: e.clock.Now(), Body: []byte(`{"id":"` + id + `"}`)}
}

// testSMSQueue: accept, due, reschedule and finish, each with its events.
func testSMSQueue(t *testing.T, e *env) {
	now := e.clock.Now()
	m1, m2 := e.message("m1"), e.message("m2")
	m2.NextAt = now.Add(time.Minute)
	for _, m := range []store.Message{m1, m2} {
		if err := e.s.AcceptMessage(e.ctx, m, []store.Event{e.event("e-"+m.ID, "sms.received", m.ID)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.AcceptMessage(e.ctx, m1, nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("the same message twice: %v", err)
	}
	due, next, err := e.s.DueMessages(e.ctx, now, 10)
	if err != nil || len(due) != 1 || due[0].ID != "m1" || !next.Equal(m2.NextAt) {
		t.Fatalf("DueMessages = %v, next %v, %v", due, next, err)
	}
	if string(due[0].Body) != "取件码 1234" || due[0].ContentType != m1.ContentType || due[0].Receiver != m1.Receiver {
		t.Fatalf("message read back as %+v", due[0])
	}
	if err := e.s.RescheduleMessage(e.ctx, "m1", 1, now.Add(2*time.Minute), "408 timeout"); err != nil {
		t.Fatal(err)
	}
	if due, _, _ := e.s.DueMessages(e.ctx, now, 10); len(due) != 0 {
		t.Fatalf("a rescheduled message is due at once: %v", due)
	}
	due, _, _ = e.s.DueMessages(e.ctx, now.Add(2*time.Minute), 10)
	if len(due) != 2 || due[0].ID != "m2" || due[1].ID != "m1" || due[1].Attempts != 1 || due[1].LastError != "408 timeout" {
		t.Fatalf("DueMessages later = %+v", due)
	}
	if n, _, err := e.s.MessageQueue(e.ctx); n != 2 || err != nil {
		t.Fatalf("MessageQueue = %d, %v", n, err)
	}
	if err := e.s.FinishMessage(e.ctx, "m1", store.InboxDelivered, []store.Event{e.event("e-m1-done", "sms.delivered", "m1")}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.FinishMessage(e.ctx, "m1", store.InboxDelivered, []store.Event{e.event("e-m1-again", "sms.delivered", "m1")}); err != nil {
		t.Fatalf("finishing a finished message: %v", err)
	}
	if err := e.s.RescheduleMessage(e.ctx, "m1", 2, now, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rescheduling a finished message: %v", err)
	}
	entries, err := e.s.OutboxAfter(e.ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, en := range entries {
		ids = append(ids, en.ID)
	}
	if len(ids) != 3 || ids[0] != "e-m1" || ids[1] != "e-m2" || ids[2] != "e-m1-done" {
		t.Fatalf("outbox = %v, want the two received and m1's delivered", ids)
	}
}

// testSMSInbox: SMS to A of a pool that keeps bodies are kept in the
// binding's inbox with their delivery status, the last MaxInbox of them,
// until the binding is gone; SMS to B and bodies not kept are not.
func testSMSInbox(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	b := e.create(e.req("13800000001", "13900000001"))
	toA := func(id string, keep bool) store.Message {
		m := e.message(id)
		m.BindingID, m.X, m.Sender, m.Receiver, m.SenderRole, m.ReceiverRole, m.KeepBody = b.ID, x, b.B, b.A, "B", "A", keep
		return m
	}
	for _, m := range []store.Message{toA("m01", true), toA("m02", false), e.message("m03")} {
		if m.ID == "m03" {
			m.BindingID, m.KeepBody = b.ID, true // to B: not A's inbox
		}
		if err := e.s.AcceptMessage(e.ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	in, err := e.s.Inbox(e.ctx, b.ID)
	if err != nil || len(in) != 1 || in[0].MessageID != "m01" || string(in[0].Body) != "取件码 1234" || in[0].Sender != b.B || in[0].Status != store.InboxPending {
		t.Fatalf("inbox = %+v, %v", in, err)
	}
	if err := e.s.FinishMessage(e.ctx, "m01", store.InboxDelivered, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.s.FinishMessage(e.ctx, "m02", "lost", nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("outcome lost: %v", err)
	}
	if in, _ := e.s.Inbox(e.ctx, b.ID); len(in) != 1 || in[0].Status != store.InboxDelivered {
		t.Fatalf("inbox after delivery = %+v", in)
	}
	for i := range store.MaxInbox + 5 {
		if err := e.s.AcceptMessage(e.ctx, toA(fmt.Sprintf("m1%03d", i), true), nil); err != nil {
			t.Fatal(err)
		}
	}
	in, _ = e.s.Inbox(e.ctx, b.ID)
	if len(in) != store.MaxInbox || in[0].MessageID != "m1005" || in[len(in)-1].MessageID != fmt.Sprintf("m1%03d", store.MaxInbox+4) {
		t.Fatalf("a full inbox holds %d, first %s", len(in), in[0].MessageID)
	}
	if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if in, _ := e.s.Inbox(e.ctx, b.ID); len(in) != 0 {
		t.Fatalf("inbox outlived its binding: %d", len(in))
	}
}

// testTrackNos: tracking numbers name one binding, live or in grace, and
// go with it; a taken number or too many change nothing.
func testTrackNos(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	e.graceful(time.Hour)
	nb := e.req("13800000001", "13900000001")
	nb.ExpiresAt, nb.TrackNos = e.clock.Now().Add(time.Hour), []string{"SF1234567890", "YT-88"}
	b := e.create(nb)
	if got, grace, err := e.s.LookupTrackNo(e.ctx, "YT-88"); err != nil || got.ID != b.ID || grace {
		t.Fatalf("LookupTrackNo = %s %v %v", got.ID, grace, err)
	}
	other := e.req("13800000002", "13900000002")
	other.TrackNos = []string{"SF1234567890"}
	if _, _, err := e.s.CreateBinding(e.ctx, other); !errors.Is(err, store.ErrTrackNoTaken) {
		t.Fatalf("a taken tracking number at create: %v", err)
	}
	if bs, _ := e.s.ListBindings(e.ctx, store.Filter{Party: "13800000002"}); len(bs) != 0 {
		t.Fatalf("a refused create left %d bindings", len(bs))
	}
	got, err := e.s.AddTrackNos(e.ctx, b.ID, []string{"JD0001", "YT-88"})
	if err != nil || fmt.Sprint(got) != "[JD0001 SF1234567890 YT-88]" {
		t.Fatalf("AddTrackNos = %v, %v", got, err)
	}
	many := make([]string, store.MaxTrackNos)
	for i := range many {
		many[i] = fmt.Sprintf("ZZ%03d", i)
	}
	if _, err := e.s.AddTrackNos(e.ctx, b.ID, many); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("too many tracking numbers: %v", err)
	}
	if _, err := e.s.AddTrackNos(e.ctx, b.ID, []string{"bad no"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a bad tracking number: %v", err)
	}
	if got, _ := e.s.TrackNos(e.ctx, b.ID); len(got) != 3 {
		t.Fatalf("refused adds changed the numbers: %v", got)
	}
	if _, err := e.s.AddTrackNos(e.ctx, "b-nope", []string{"A1"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("tracking numbers on no binding: %v", err)
	}
	e.expire(b)
	if got, grace, err := e.s.LookupTrackNo(e.ctx, "JD0001"); err != nil || got.ID != b.ID || !grace {
		t.Fatalf("LookupTrackNo in grace = %s %v %v", got.ID, grace, err)
	}
	if _, err := e.s.EndGrace(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.LookupTrackNo(e.ctx, "JD0001"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a tracking number outlived its binding: %v", err)
	}
	other.X = ""
	if _, _, err := e.s.CreateBinding(e.ctx, other); err != nil {
		t.Fatalf("the number once its binding is gone: %v", err)
	}
}

// testBadMessage: a message the store refuses writes nothing, events
// included.
func testBadMessage(t *testing.T, e *env) {
	for name, mutate := range map[string]func(*store.Message){
		"no id":       func(m *store.Message) { m.ID = "" },
		"bad sender":  func(m *store.Message) { m.Sender = "alice" },
		"no receiver": func(m *store.Message) { m.Receiver = "" },
		"huge body":   func(m *store.Message) { m.Body = make([]byte, 1<<20) },
		"no times":    func(m *store.Message) { m.GiveUpAt = time.Time{} },
	} {
		m := e.message("m-" + name)
		mutate(&m)
		if err := e.s.AcceptMessage(e.ctx, m, []store.Event{e.event("e-"+name, "sms.received", m.ID)}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: AcceptMessage error = %v, want ErrInvalid", name, err)
		}
	}
	m := e.message("m-bad-event")
	if err := e.s.AcceptMessage(e.ctx, m, []store.Event{{ID: "e"}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad event: AcceptMessage error = %v, want ErrInvalid", err)
	}
	if n, _, _ := e.s.MessageQueue(e.ctx); n != 0 {
		t.Fatalf("%d messages queued by refused requests", n)
	}
	if entries, _ := e.s.OutboxAfter(e.ctx, 0, 10); len(entries) != 0 {
		t.Fatalf("outbox holds %d events of refused messages", len(entries))
	}
}
