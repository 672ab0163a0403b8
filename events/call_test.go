package events_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/store"
)

// flushed reads the whole outbox once the store has committed it.
func flushed(t *testing.T, db *store.DB, n int) []store.OutboxEntry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := db.OutboxAfter(context.Background(), 0, 100)
		if err == nil && len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox holds %d entries, want %d", len(got), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestCallLifecycle(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, "")
	t0 := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	c, err := events.Begin(ctx, db, events.Start{ACallID: "a1@carrier", X: "17000000001", Caller: "13800000001", At: t0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	route := events.Route{BindingID: "b1", Model: store.ModelAXB, OrderID: "o1", UserData: "u", Pool: "p1",
		CallerRole: "A", Callee: "13900000002", CalleeRole: "B", Display: "17000000001"}
	active := store.ActiveCall{ID: "b1@xb", BindingID: "b1", AnsweredAt: t0.Add(3 * time.Second),
		Legs: [2]store.DialogLeg{{CallID: "a1@carrier", Transport: "UDP"}, {CallID: "b1@xb", Transport: "UDP"}}}
	steps := []func() error{
		func() error { return c.Routed(route, "b1@xb", t0.Add(10*time.Millisecond)) },
		func() error { return c.Ringing(t0.Add(time.Second)) },
		func() error { return c.Ringing(t0.Add(2 * time.Second)) }, // a second 18x: no event
		func() error { return c.Answered(t0.Add(3*time.Second), &active) },
		func() error {
			return c.Released(t0.Add(63*time.Second), events.Release{By: events.ByCallee, Status: 200, Outcome: store.OutcomeAnswered}, active.ID)
		},
		func() error { return c.Released(t0.Add(99*time.Second), events.Release{}, "") }, // once only
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	entries := flushed(t, db, 4)
	wantTypes := []string{events.TypeInitiated, events.TypeRinging, events.TypeAnswered, events.TypeReleased}
	if len(entries) != len(wantTypes) {
		t.Fatalf("%d events, want %d", len(entries), len(wantTypes))
	}
	var last events.Payload
	for i, e := range entries {
		var p events.Payload
		if err := json.Unmarshal(e.Body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Type != wantTypes[i] || e.Type != p.Type || p.ID != e.ID || e.Stream != c.ID() {
			t.Errorf("event %d: %s (%s, id %s, stream %s), want %s of stream %s", i, p.Type, e.Type, p.ID, e.Stream, wantTypes[i], c.ID())
		}
		last = p
	}
	v := last.Call
	if v.RingSecs != 2.99 || v.TalkSecs != 60 || v.Q850 != 16 || v.ReleasedBy != "callee" || v.Outcome != "answered" {
		t.Errorf("released: ring %v talk %v q850 %d by %s outcome %s", v.RingSecs, v.TalkSecs, v.Q850, v.ReleasedBy, v.Outcome)
	}
	if v.BindingID != "b1" || v.OrderID != "o1" || v.UserData != "u" || v.Callee != "13900000002" || v.CallerRole != "A" {
		t.Errorf("released view lost the route: %+v", v)
	}
	raw, _ := json.Marshal(v)
	var times map[string]any
	_ = json.Unmarshal(raw, &times)
	if times["answered_at"] != "2026-12-02T08:00:03.000Z" {
		t.Errorf("answered_at = %v, want RFC 3339 with milliseconds", times["answered_at"])
	}
	rec, err := db.Record(ctx, c.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != 200 || rec.Q850 != 16 || !rec.AnsweredAt.Equal(t0.Add(3*time.Second)) || rec.BCallID != "b1@xb" {
		t.Errorf("record = %+v", rec)
	}
	if calls, _ := db.ActiveCalls(ctx); len(calls) != 0 {
		t.Errorf("active record left after the release: %+v", calls)
	}
}

func TestBlockedCall(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, "")
	t0 := time.Now()
	c, err := events.Begin(ctx, db, events.Start{ACallID: "a2", X: "17000000001", Caller: "13800000009", At: t0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetRoute(events.Route{Pool: "p1"})
	if err := c.Blocked(t0.Add(time.Millisecond), store.OutcomeNoBinding, 404); err != nil {
		t.Fatal(err)
	}
	entries := flushed(t, db, 1)
	var p events.Payload
	if err := json.Unmarshal(entries[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != events.TypeBlocked || p.Call.Outcome != "no_binding" || p.Call.Q850 != 1 || p.Call.Status != 404 || entries[0].Pool != "p1" {
		t.Errorf("blocked event = %+v (pool %q)", p, entries[0].Pool)
	}
	var none *events.Call // an engine without events
	if err := none.Routed(events.Route{}, "", t0); err != nil || none.ID() != "" {
		t.Errorf("nil call: %v", err)
	}
}

func TestQ850(t *testing.T) {
	for status, want := range map[int]int{200: 16, 404: 1, 486: 17, 480: 18, 408: 102, 603: 21, 503: 41, 487: 127, 600: 17, 502: 38, 0: 31} {
		if got := events.Q850(status); got != want {
			t.Errorf("Q850(%d) = %d, want %d", status, got, want)
		}
	}
}

// A pool whose events go nowhere gets none written; its records are.
func TestUnwantedPoolWritesRecordsOnly(t *testing.T) {
	ctx := context.Background()
	db := openStore(t, "")
	t0 := time.Now()
	wants := func(pool string) bool { return pool == "hooked" }
	c, err := events.Begin(ctx, db, events.Start{ACallID: "a3", X: "17000000001", Caller: "13800000001", At: t0}, wants)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Routed(events.Route{Pool: "quiet", BindingID: "b9"}, "b3", t0); err != nil {
		t.Fatal(err)
	}
	if err := c.Released(t0.Add(time.Second), events.Release{By: events.ByCaller, Status: 200, Outcome: store.OutcomeAnswered}, ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := db.Record(ctx, c.ID()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("record not written")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if got, _ := db.OutboxAfter(ctx, 0, 10); len(got) != 0 {
		t.Errorf("%d events written for a pool with no webhook", len(got))
	}
}

// The hand-written event body is what json.Marshal makes of Payload, byte
// for byte, whatever the strings hold.
func TestPayloadJSONMatches(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 8, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	odd := []string{"", "plain", `quote " and \ back`, "<tag>&amp;", "line\nbreak\ttab\r\b\f\x00\x1f",
		"中文 用户数据", "bad \xff utf-8 \xc3", "sep \u2028 \u2029", `{"json":"inside"}`}
	for i, s := range odd {
		v := events.RecordView{
			RecordID: "r" + s, BindingID: s, Model: "AXB", OrderID: s, UserData: s, Pool: s, X: "8617000000001",
			Extension: s, Caller: s, CallerRole: "A", Callee: s, CalleeRole: s, Display: s, ACallID: s, BCallID: s,
			InvitedAt: events.Time(t0), BSentAt: events.Time(t0.Add(time.Millisecond)), RingSecs: float64(i) * 1.001,
			TalkSecs: 3600.5, ReleasedBy: s, Status: 200 * i, Q850: i, ReasonText: s, Outcome: s, Hook: s, Recording: s, RecordingNote: s,
		}
		if i%2 == 0 {
			v.AnsweredAt, v.ReleasedAt = events.Time(t0.Add(time.Second)), events.Time(t0.Add(time.Minute))
		}
		p := events.Payload{ID: "e" + s, Type: s, At: events.Time(t0), Call: v}
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := events.AppendPayloadForTest(nil, &p); string(got) != string(want) {
			t.Errorf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
}

// appendUTCMilli writes what AppendFormat(timeLayout) does: across years,
// zones, leap days, the last millisecond of a second and years the fast
// path does not take.
func TestAppendUTCMilli(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("CST", 8*3600), time.FixedZone("west", -9*3600-30*60)}
	times := []time.Time{
		time.Date(2026, 12, 2, 8, 0, 0, 123456789, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999000000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 12, 0, 0, 0, time.UTC),
		time.Unix(0, 0),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		times = append(times, time.Unix(r.Int64N(1<<36)-1<<35, r.Int64N(1e9)))
	}
	for _, t0 := range times {
		for _, z := range zones {
			tz := t0.In(z)
			want := tz.UTC().Format("2006-01-02T15:04:05.000Z07:00")
			if got := string(events.AppendUTCMilliForTest(nil, tz)); got != want {
				t.Fatalf("%v: got %s, want %s", tz, got, want)
			}
		}
	}
}
