package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func testEvent(t testing.TB, stream, typ string, at time.Time) Event {
	t.Helper()
	id, err := NewEventID(at)
	if err != nil {
		t.Fatal(err)
	}
	return Event{ID: id, Type: typ, Stream: stream, Pool: "p1", BindingID: "b1", At: at.UTC(), Body: []byte(`{"type":"` + typ + `"}`)}
}

func testRecord(t testing.TB, at time.Time, binding, order, x string) CallRecord {
	t.Helper()
	id, err := NewRecordID(at)
	if err != nil {
		t.Fatal(err)
	}
	return CallRecord{
		ID: id, BindingID: binding, Model: ModelAXB, OrderID: order, Pool: "p1", X: x,
		Caller: "13800000001", CallerRole: "A", Callee: "13900000002", CalleeRole: "B", Display: x,
		ACallID: "a-" + id, BCallID: "b-" + id,
		InvitedAt: at.UTC(), BSentAt: at.Add(time.Millisecond).UTC(), ReleasedAt: at.Add(time.Second).UTC(),
		ReleasedBy: "caller", Status: 200, Q850: 16, Outcome: "answered",
	}
}

// A call's active record, its call record and its events commit in one
// transaction, and the events come out of the outbox in the order queued.
func TestQueueCallCommitsTogether(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{now: epoch}
	db := openTest(t, WithClock(clock.Now))
	active := testActiveCall("c1")
	rec := testRecord(t, epoch, "b1", "o1", "17000000001")
	evs := []Event{testEvent(t, rec.ID, "call.initiated", epoch), testEvent(t, rec.ID, "call.answered", epoch)}
	before := db.active.commits.Load()
	if err := db.QueueCall(ctx, CallChange{Active: &active, Events: evs[:1]}); err != nil {
		t.Fatal(err)
	}
	if err := db.QueueCall(ctx, CallChange{Record: &rec, Events: evs[1:]}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.OutboxAfter(ctx, 0, 10); len(got) != 0 {
		t.Fatalf("outbox before the flush: %d entries; only committed events may be read", len(got))
	}
	signal := db.OutboxSignal()
	if err := db.flushActive(); err != nil {
		t.Fatal(err)
	}
	if n := db.active.commits.Load() - before; n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
	select {
	case <-signal:
	default:
		t.Error("the outbox signal did not ring at the commit")
	}
	got, err := db.OutboxAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != evs[0].ID || got[1].ID != evs[1].ID || got[0].Seq >= got[1].Seq {
		t.Fatalf("outbox = %+v, want the two events in order", got)
	}
	if !reflect.DeepEqual(got[1].Event, evs[1]) || !got[0].Since.Equal(epoch) {
		t.Errorf("entry = %+v since %v, want %+v since %v", got[1].Event, got[0].Since, evs[1], epoch)
	}
	back, err := db.Record(ctx, rec.ID)
	if err != nil || !reflect.DeepEqual(back, rec) {
		t.Errorf("Record = %+v, %v; want %+v", back, err, rec)
	}
	calls, err := db.ActiveCalls(ctx)
	if err != nil || len(calls) != 1 || calls[0].ID != "c1" {
		t.Errorf("ActiveCalls = %v, %v", calls, err)
	}
	if rest, _ := db.OutboxAfter(ctx, got[0].Seq, 10); len(rest) != 1 || rest[0].ID != evs[1].ID {
		t.Errorf("OutboxAfter(first) = %+v", rest)
	}
}

func TestQueueCallRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	good := testRecord(t, epoch, "b1", "", "17000000001")
	active := testActiveCall("c1")
	tests := map[string]CallChange{
		"record without id":    {Record: &CallRecord{X: "1", InvitedAt: epoch, ReleasedAt: epoch}},
		"record with bad id":   {Record: &CallRecord{ID: "nope", X: "1", InvitedAt: epoch, ReleasedAt: epoch}},
		"record without times": {Record: &CallRecord{ID: good.ID, X: "1"}},
		"event without type":   {Record: &good, Events: []Event{{ID: "e1", At: epoch}}},
		"put and end":          {Active: &active, EndActive: "c1"},
		"nul in a field": {Record: func() *CallRecord {
			r := good
			r.UserData = "a\x00b"
			return &r
		}()},
	}
	for name, ch := range tests {
		t.Run(name, func(t *testing.T) {
			if err := db.QueueCall(ctx, ch); !errors.Is(err, ErrInvalid) {
				t.Errorf("QueueCall = %v, want ErrInvalid", err)
			}
		})
	}
	if err := db.flushActive(); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.OutboxAfter(ctx, 0, 10); len(got) != 0 {
		t.Errorf("outbox holds %d entries after refused changes", len(got))
	}
	if calls, _ := db.ActiveCalls(ctx); len(calls) != 0 {
		t.Errorf("active calls after refused changes: %v", calls)
	}
}

// Delivered entries go with the next flush; a dead one moves to the dead
// letters at once and comes back, last in the outbox, when retried.
func TestOutboxDoneDeadRetry(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{now: epoch}
	db := openTest(t, WithClock(clock.Now))
	var evs []Event
	for i := range 3 {
		evs = append(evs, testEvent(t, fmt.Sprint("s", i), "call.released", epoch))
	}
	if err := db.QueueCall(ctx, CallChange{Events: evs}); err != nil {
		t.Fatal(err)
	}
	if err := db.flushActive(); err != nil {
		t.Fatal(err)
	}
	got, _ := db.OutboxAfter(ctx, 0, 10)
	if len(got) != 3 {
		t.Fatalf("outbox = %d entries", len(got))
	}
	if err := db.OutboxDone(ctx, got[0].Seq); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if err := db.OutboxDead(ctx, got[1].Seq, 7, "receiver answered 500"); err != nil {
		t.Fatal(err)
	}
	if err := db.OutboxDead(ctx, got[1].Seq, 8, "again"); err != nil {
		t.Errorf("OutboxDead of an entry already moved = %v, want nil", err)
	}
	if err := db.flushActive(); err != nil {
		t.Fatal(err)
	}
	left, _ := db.OutboxAfter(ctx, 0, 10)
	if len(left) != 1 || left[0].ID != evs[2].ID {
		t.Fatalf("outbox after done and dead = %+v, want only the third", left)
	}
	if n, oldest, err := db.OutboxDepth(ctx); err != nil || n != 1 || !oldest.Equal(evs[2].At) {
		t.Errorf("OutboxDepth = %d, %v, %v; want 1 and the third's time", n, oldest, err)
	}
	dead, err := db.DeadEvents(ctx, "", 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("DeadEvents = %+v, %v", dead, err)
	}
	want := DeadEvent{Event: evs[1], Attempts: 7, LastError: "receiver answered 500", DeadAt: epoch.Add(time.Hour)}
	if !reflect.DeepEqual(dead[0], want) {
		t.Errorf("dead = %+v, want %+v", dead[0], want)
	}
	clock.Advance(time.Hour)
	back, err := db.RetryDead(ctx, evs[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if back.Seq <= left[0].Seq || !back.Since.Equal(epoch.Add(2*time.Hour)) || back.ID != evs[1].ID {
		t.Errorf("retried entry = %+v, want after seq %d since %v", back, left[0].Seq, epoch.Add(2*time.Hour))
	}
	if _, err := db.RetryDead(ctx, evs[1].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second RetryDead = %v, want ErrNotFound", err)
	}
	if dead, _ := db.DeadEvents(ctx, "", 10); len(dead) != 0 {
		t.Errorf("dead letters after the retry: %+v", dead)
	}
	if all, _ := db.OutboxAfter(ctx, 0, 10); len(all) != 2 || all[1].ID != evs[1].ID {
		t.Errorf("outbox after the retry = %+v", all)
	}
	// A delivered entry already gone (dead, then retried under a new seq)
	// is not counted off twice.
	if err := db.OutboxDone(ctx, got[1].Seq); err != nil {
		t.Fatal(err)
	}
	if err := db.flushActive(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := db.OutboxDepth(ctx); n != 2 {
		t.Errorf("OutboxDepth after the retry = %d, want 2", n)
	}
}

// The outbox outlives the process: what was committed is there after a
// reopen, in order.
func TestOutboxSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "xbridge.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 5 {
		ev := testEvent(t, "s", fmt.Sprint("call.", i), epoch)
		ids = append(ids, ev.ID)
		if err := db.QueueCall(ctx, CallChange{Events: []Event{ev}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil { // Close commits what is queued
		t.Fatal(err)
	}
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.OutboxAfter(ctx, 0, 100)
	if err != nil || len(got) != 5 {
		t.Fatalf("outbox after reopen = %d entries, %v", len(got), err)
	}
	if n, _, _ := db.OutboxDepth(ctx); n != 5 {
		t.Errorf("OutboxDepth after reopen = %d, want 5", n)
	}
	for i, e := range got {
		if e.ID != ids[i] {
			t.Errorf("entry %d = %s, want %s", i, e.ID, ids[i])
		}
	}
}

func TestRecordsFilterAndPage(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	var all []CallRecord
	for i := range 12 {
		at := epoch.Add(time.Duration(i) * time.Minute)
		r := testRecord(t, at, fmt.Sprint("b", i%3), fmt.Sprint("o", i%2), fmt.Sprint("1700000000", i%4))
		all = append(all, r)
		if err := db.QueueCall(ctx, CallChange{Record: &r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.flushActive(); err != nil {
		t.Fatal(err)
	}
	ids := func(rs []CallRecord) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	pick := func(keep func(i int, r CallRecord) bool) []string {
		out := []string{}
		for i, r := range all {
			if keep(i, r) {
				out = append(out, r.ID)
			}
		}
		return out
	}
	tests := map[string]struct {
		f    RecordFilter
		want []string
	}{
		"all":     {RecordFilter{}, pick(func(int, CallRecord) bool { return true })},
		"binding": {RecordFilter{BindingID: "b1"}, pick(func(i int, _ CallRecord) bool { return i%3 == 1 })},
		"order":   {RecordFilter{OrderID: "o0"}, pick(func(i int, _ CallRecord) bool { return i%2 == 0 })},
		"x":       {RecordFilter{X: "17000000002"}, pick(func(i int, _ CallRecord) bool { return i%4 == 2 })},
		"since and until": {RecordFilter{Since: epoch.Add(3 * time.Minute), Until: epoch.Add(7 * time.Minute)},
			pick(func(i int, _ CallRecord) bool { return i >= 3 && i < 7 })},
		"x since": {RecordFilter{X: "17000000000", Since: epoch.Add(time.Minute)},
			pick(func(i int, _ CallRecord) bool { return i%4 == 0 && i >= 1 })},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for _, limit := range []int{1, 5, 1000} {
				var got []string
				f := tc.f
				f.Limit = limit
				for pages := 0; ; pages++ {
					if pages > 20 {
						t.Fatal("paging does not end")
					}
					page, next, err := db.Records(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, ids(page)...)
					if next == "" {
						break
					}
					f.After = next
				}
				if got == nil {
					got = []string{}
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("limit %d: got %v, want %v", limit, got, tc.want)
				}
			}
		})
	}
	if _, _, err := db.Records(ctx, RecordFilter{BindingID: "b1", X: "1", Limit: 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("two index filters = %v, want ErrInvalid", err)
	}
	if _, _, err := db.Records(ctx, RecordFilter{Limit: MaxRecordPage + 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("limit over the maximum = %v, want ErrInvalid", err)
	}
	if _, err := db.Record(ctx, "r-nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown record = %v, want ErrNotFound", err)
	}
}

// The sweeper removes records and dead events past the retention, with
// their index entries (check at close verifies none dangles), and keeps
// the rest.
func TestRecordRetention(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{now: epoch}
	db := openTest(t, WithClock(clock.Now), WithRecordRetention(24*time.Hour))
	var keep []string
	for i := range 600 { // more than one chunk
		at := epoch.Add(time.Duration(i) * time.Second)
		if i >= 550 {
			at = epoch.Add(23 * time.Hour)
		}
		r := testRecord(t, at, "b1", "o1", "17000000001")
		if i >= 550 {
			keep = append(keep, r.ID)
		}
		if err := db.QueueCall(ctx, CallChange{Record: &r, Events: []Event{testEvent(t, r.ID, "call.released", at)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.flushActive(); err != nil {
		t.Fatal(err)
	}
	entries, _ := db.OutboxAfter(ctx, 0, 1000)
	for _, e := range entries[:3] {
		if err := db.OutboxDead(ctx, e.Seq, 1, "gone"); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(24*time.Hour + 20*time.Minute)
	waitFor(t, 10*time.Second, "old records pruned", func() bool {
		page, _, err := db.Records(ctx, RecordFilter{Limit: 1000})
		return err == nil && len(page) == len(keep)
	})
	page, _, _ := db.Records(ctx, RecordFilter{BindingID: "b1", Limit: 1000})
	kept := map[string]bool{}
	for _, id := range keep {
		kept[id] = true
	}
	for _, r := range page {
		if !kept[r.ID] {
			t.Errorf("record %s of %v survived the retention", r.ID, r.InvitedAt)
		}
	}
	if len(page) != len(keep) {
		t.Errorf("binding's records after pruning: %d, want %d", len(page), len(keep))
	}
	waitFor(t, 10*time.Second, "old dead events pruned", func() bool {
		dead, err := db.DeadEvents(ctx, "", 10)
		return err == nil && len(dead) == 0
	})
}

func TestRecordIDTime(t *testing.T) {
	for _, at := range []time.Time{epoch, time.UnixMilli(0), time.UnixMilli(1<<48 - 2), epoch.Add(999 * time.Microsecond)} {
		id, err := NewRecordID(at)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := timeOfID(id)
		if !ok || !got.Equal(at.Truncate(time.Millisecond)) {
			t.Errorf("timeOfID(%s) = %v, %v; want %v", id, got, ok, at.Truncate(time.Millisecond))
		}
		if floor := idFloor('r', at); floor > id || idFloor('r', at.Add(time.Millisecond)) <= id {
			t.Errorf("%s is not between the floors of %v and the next millisecond", id, at)
		}
	}
	for _, bad := range []string{"", "r", "r0000000000000000000000000!", "rzzzzzzzzzzzzzzzzzzzzzzzzzz"} {
		if _, ok := timeOfID(bad); ok {
			t.Errorf("timeOfID(%q) accepted", bad)
		}
	}
}

// A record queued twice within one interval (open at the answer, closed at
// the release) is written once, as its last version; queued across a
// commit, the last version replaces the first on disk.
func TestRecordQueuedAgainReplaces(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	open := testRecord(t, epoch, "b1", "o1", "17000000001")
	open.ReleasedAt, open.ReleasedBy, open.Outcome = time.Time{}, "", ""
	closed := testRecord(t, epoch, "b1", "o1", "17000000001")
	closed.ID = open.ID
	for _, r := range []CallRecord{open, closed} {
		if err := db.QueueCall(ctx, CallChange{Record: &r}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(db.active.records); n != 1 {
		t.Errorf("%d records queued, want 1", n)
	}
	if err := db.flushActive(); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Record(ctx, open.ID); err != nil || !reflect.DeepEqual(got, closed) {
		t.Errorf("Record = %+v, %v; want the closed one", got, err)
	}
	if err := db.QueueCall(ctx, CallChange{Record: &open}); err != nil {
		t.Fatal(err)
	}
	if err := db.flushActive(); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Record(ctx, open.ID); !got.ReleasedAt.IsZero() {
		t.Errorf("record not replaced across commits: %+v", got)
	}
	if page, _, _ := db.Records(ctx, RecordFilter{BindingID: "b1", Limit: 10}); len(page) != 1 {
		t.Errorf("binding index holds %d records, want 1", len(page))
	}
}

func TestAllPools(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mustAdd(t, db, "b-pool", "8617000000001", "8617000000002")
	mustAdd(t, db, "a-pool", "8617000000003")
	if _, _, err := db.CreateBinding(ctx, NewBinding{Pool: "b-pool", A: "8613800000001", B: "8613900000002", ExpiresAt: epoch.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	pools, err := db.AllPools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) != 2 || pools[0].Name != "a-pool" || pools[1].Name != "b-pool" {
		t.Fatalf("pools %+v", pools)
	}
	one, _ := db.Pool(ctx, "b-pool")
	if !reflect.DeepEqual(pools[1], one) || one.ByModel.AXB != 1 || one.Size != 2 || one.InUse != 1 {
		t.Errorf("AllPools %+v, Pool %+v", pools[1], one)
	}
}

// TestOutboxV1Decodes: an entry written before per-binding webhooks (five
// strings) reads with no webhook.
func TestOutboxV1Decodes(t *testing.T) {
	at := time.Unix(1700000000, 0).UTC()
	v := []byte{outboxV1}
	v = binary.BigEndian.AppendUint64(v, uint64(at.UnixNano()))
	v = binary.BigEndian.AppendUint64(v, uint64(at.UnixNano()))
	for _, s := range []string{"e1", "call.released", "r1", "p", "b1"} {
		v = binary.AppendUvarint(v, uint64(len(s)))
		v = append(v, s...)
	}
	v = binary.AppendUvarint(v, 2)
	v = append(v, "{}"...)
	ev, since, rest, err := decodeEvent(v)
	if err != nil || ev.ID != "e1" || ev.BindingID != "b1" || ev.Webhook != "" || string(ev.Body) != "{}" || !since.Equal(at) || len(rest) != 0 {
		t.Fatalf("decode v1 = %+v %v %q, %v", ev, since, rest, err)
	}
	back, _, _, err := decodeEvent(encodeEvent(nil, Event{ID: "e2", Type: "t", Webhook: "https://p.example/x", At: at, Body: []byte("b")}, at))
	if err != nil || back.Webhook != "https://p.example/x" {
		t.Fatalf("v2 round trip: %+v, %v", back, err)
	}
}
