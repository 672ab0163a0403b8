// Package storetest is the conformance suite every store.Store must pass.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, cfg storetest.Config) store.Store {
//			db, err := store.Open(filepath.Join(t.TempDir(), "x.db"),
//				store.WithClock(cfg.Now), store.WithQuarantine(cfg.Quarantine),
//				store.WithSweepInterval(cfg.SweepInterval))
//			...
//		})
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

// Config is what a test needs of the store it opens. The suite moves time
// with Now instead of sleeping.
type Config struct {
	Now           func() time.Time
	Quarantine    time.Duration // 0 disables the quarantine
	SweepInterval time.Duration // how often expiry and quarantine are swept
	// SMSGrace is the store's default SMS grace period (store.WithSMSGrace);
	// the suite runs with none, and its grace tests set a pool's own.
	SMSGrace time.Duration
}

// Opener opens an empty store configured by cfg; the store is closed by the
// suite (the opener may also register its own cleanup).
type Opener func(t *testing.T, cfg Config) store.Store

// waitBound bounds every wait for an event: it only keeps a broken store from
// hanging the test, and says nothing about speed.
const waitBound = 10 * time.Second

// start is the suite's epoch: far enough from the real now that a store
// reading the wall clock instead of cfg.Now fails loudly.
var start = time.Date(2031, 3, 14, 9, 26, 53, 0, time.UTC)

const pool = "main"

// Run runs the suite against the stores open returns.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"CreateGetListDelete", testCreateGetListDelete},
		{"ListFilters", testListFilters},
		{"OrderIdempotency", testOrderIdempotency},
		{"ReuseRule", testReuseRule},
		{"AllocationIsRandom", testAllocationRandom},
		{"ExplicitX", testExplicitX},
		{"Quarantine", testQuarantine},
		{"NoQuarantine", testNoQuarantine},
		{"ExpiryPublishesEnded", testExpiry},
		{"ExpiredNotSweptStillResolves", testExpiredNotSwept},
		{"OrderIDReusableAfterExpiry", testOrderAfterExpiry},
		{"DeletePublishesToEverySubscriber", testDeletePublishes},
		{"BadBindingWritesNothing", testBadBinding},
		{"BadNumbersWriteNothing", testBadNumbers},
		{"Pools", testPools},
		{"ConcurrentCreates", testConcurrentCreates},
		{"AXNWithAXB", testAXNWithAXB},
		{"AXE", testAXE},
		{"AXNWaitsForQuarantinedExtensions", testAXNWaitsForQuarantinedExtensions},
		{"NoteCaller", testNoteCaller},
		{"BadModelsWriteNothing", testBadModels},
		{"PolicyStored", testPolicyStored},
		{"Update", testUpdate},
		{"BadUpdateChangesNothing", testBadUpdate},
		{"ConcurrentCreatesAndUpdates", testConcurrentUpdates},
		{"ActiveCalls", testActiveCalls},
		{"ActiveCallPutThenDelete", testActiveCallPutThenDelete},
		{"BadActiveCallWritesNothing", testBadActiveCall},
		{"ConcurrentActiveCalls", testConcurrentActiveCalls},
		{"ActiveCallCancelledContext", testActiveCallCancelledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newEnv(t, open, time.Hour, time.Millisecond*10))
		})
	}
	runPools(t, open)
	runMessages(t, open)
}

// env is one test's store, clock and helpers.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *Clock
	s     store.Store
	cfg   Config
	open  Opener
}

func newEnv(t *testing.T, open Opener, quarantine, sweep time.Duration) *env {
	t.Helper()
	clock := NewClock(start)
	cfg := Config{Now: clock.Now, Quarantine: quarantine, SweepInterval: sweep}
	s := open(t, cfg)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &env{t: t, ctx: context.Background(), clock: clock, s: s, cfg: cfg, open: open}
}

// reopen gives a fresh env with other settings (the old store stays open
// until the test ends; they do not share data).
func (e *env) with(quarantine, sweep time.Duration) *env {
	return newEnv(e.t, e.open, quarantine, sweep)
}

func (e *env) numbers(pool string, numbers ...string) {
	e.t.Helper()
	if _, err := e.s.AddNumbers(e.ctx, pool, numbers); err != nil {
		e.t.Fatalf("AddNumbers(%q, %v): %v", pool, numbers, err)
	}
}

// req is a binding request in the main pool that expires in a day.
func (e *env) req(a, b string) store.NewBinding {
	return store.NewBinding{Pool: pool, A: a, B: b, ExpiresAt: e.clock.Now().Add(24 * time.Hour)}
}

func (e *env) create(nb store.NewBinding) store.Binding {
	e.t.Helper()
	b, created, err := e.s.CreateBinding(e.ctx, nb)
	if err != nil {
		e.t.Fatalf("CreateBinding(%+v): %v", nb, err)
	}
	if !created {
		e.t.Fatalf("CreateBinding(%+v): created=false for a new binding", nb)
	}
	return b
}

func (e *env) createErr(nb store.NewBinding, want error) {
	e.t.Helper()
	b, _, err := e.s.CreateBinding(e.ctx, nb)
	if !errors.Is(err, want) {
		e.t.Fatalf("CreateBinding(%+v) = %+v, %v; want %v", nb, b, err, want)
	}
}

func (e *env) lookup(x, party string, want store.Binding, wantErr error) {
	e.t.Helper()
	got, err := e.s.Lookup(e.ctx, x, party)
	if !errors.Is(err, wantErr) {
		e.t.Fatalf("Lookup(%s, %s) error = %v, want %v", x, party, err, wantErr)
	}
	if wantErr == nil && got != want {
		e.t.Fatalf("Lookup(%s, %s) = %+v, want %+v", x, party, got, want)
	}
}

func (e *env) list(f store.Filter) []store.Binding {
	e.t.Helper()
	bs, err := e.s.ListBindings(e.ctx, f)
	if err != nil {
		e.t.Fatalf("ListBindings(%+v): %v", f, err)
	}
	return bs
}

func (e *env) pool(name string) store.PoolInfo {
	e.t.Helper()
	info, err := e.s.Pool(e.ctx, name)
	if err != nil {
		e.t.Fatalf("Pool(%q): %v", name, err)
	}
	return info
}

func (e *env) wantPool(name string, size, inUse, bindings int) {
	e.t.Helper()
	want := store.PoolInfo{Name: name, Size: size, InUse: inUse, Bindings: bindings}
	got := e.pool(name)
	if got.Name != want.Name || got.Size != want.Size || got.InUse != want.InUse || got.Bindings != want.Bindings {
		e.t.Fatalf("Pool(%q) = %+v, want %+v", name, got, want)
	}
}

// next waits for the next Ended on ch.
func (e *env) next(ch <-chan store.Ended) store.Ended {
	e.t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			e.t.Fatal("subscription closed while waiting for Ended")
		}
		return ev
	case <-time.After(waitBound):
		e.t.Fatalf("no Ended within %v", waitBound)
	}
	return store.Ended{}
}

func ids(bs []store.Binding) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}

func testCreateGetListDelete(t *testing.T, e *env) {
	e.numbers(pool, "1700000001")
	nb := e.req("13800000001", "13900000002")
	nb.OrderID = "order-1"
	b := e.create(nb)
	switch {
	case b.ID == "" || b.X != "1700000001" || b.A != nb.A || b.B != nb.B || b.Pool != pool || b.OrderID != "order-1":
		t.Fatalf("created %+v from %+v", b, nb)
	case b.Model != store.ModelAXB:
		t.Fatalf("model %q, want AXB", b.Model)
	case !b.ExpiresAt.Equal(nb.ExpiresAt) || !b.CreatedAt.Equal(start):
		t.Fatalf("times created %v expires %v, want %v and %v", b.CreatedAt, b.ExpiresAt, start, nb.ExpiresAt)
	}
	got, err := e.s.GetBinding(e.ctx, b.ID)
	if err != nil || got != b {
		t.Fatalf("GetBinding = %+v, %v; want %+v", got, err, b)
	}
	e.lookup(b.X, b.A, b, nil)
	e.lookup(b.X, b.B, b, nil)
	if b.Counterpart(b.A) != b.B || b.Counterpart(b.B) != b.A {
		t.Fatalf("counterparts wrong for %+v", b)
	}
	e.lookup(b.X, "13700000003", store.Binding{}, store.ErrNotFound)
	e.lookup("1799999999", b.A, store.Binding{}, store.ErrNotFound)
	if all := e.list(store.Filter{}); len(all) != 1 || all[0] != b {
		t.Fatalf("List all = %+v", all)
	}
	e.wantPool(pool, 1, 1, 1)

	deleted, err := e.s.DeleteBinding(e.ctx, b.ID)
	if err != nil || deleted != b {
		t.Fatalf("DeleteBinding = %+v, %v; want %+v", deleted, err, b)
	}
	if _, err := e.s.GetBinding(e.ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetBinding after delete: %v, want ErrNotFound", err)
	}
	if _, err := e.s.DeleteBinding(e.ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second DeleteBinding: %v, want ErrNotFound", err)
	}
	if _, err := e.s.GetBinding(e.ctx, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf(`GetBinding(""): %v, want ErrNotFound`, err)
	}
	if all := e.list(store.Filter{}); len(all) != 0 {
		t.Fatalf("List after delete = %+v", all)
	}
	e.wantPool(pool, 1, 0, 0)
}

func testListFilters(t *testing.T, e *env) {
	e.numbers(pool, "1700000001", "1700000002")
	// Shared party 13800000000 forces its two bindings onto different numbers.
	var made []store.Binding
	for i, pair := range [][2]string{
		{"13800000000", "13900000001"},
		{"13800000000", "13900000002"},
		{"13800000003", "13900000004"},
		{"13800000005", "13900000006"},
	} {
		nb := e.req(pair[0], pair[1])
		nb.OrderID = fmt.Sprintf("o%d", i)
		made = append(made, e.create(nb))
	}
	byID := slices.Clone(made)
	slices.SortFunc(byID, func(a, b store.Binding) int { return strings.Compare(a.ID, b.ID) })
	only := func(pred func(store.Binding) bool) []string {
		var out []string
		for _, b := range byID {
			if pred(b) {
				out = append(out, b.ID)
			}
		}
		return out
	}
	x1 := made[0].X
	tests := []struct {
		name string
		f    store.Filter
		want []string
	}{
		{"all", store.Filter{}, ids(byID)},
		{"limit", store.Filter{Limit: 2}, ids(byID)[:2]},
		{"by x", store.Filter{X: x1}, only(func(b store.Binding) bool { return b.X == x1 })},
		{"by party", store.Filter{Party: "13800000000"}, only(func(b store.Binding) bool { return b.A == "13800000000" })},
		{"by party as b", store.Filter{Party: "13900000004"}, []string{made[2].ID}},
		{"by x and party", store.Filter{X: made[1].X, Party: "13800000000"}, []string{made[1].ID}},
		{"by order", store.Filter{OrderID: "o3"}, []string{made[3].ID}},
		{"by order and other x", store.Filter{OrderID: "o0", X: made[1].X}, nil},
		{"unknown party", store.Filter{Party: "13000000000"}, nil},
		{"unknown order", store.Filter{OrderID: "nope"}, nil},
		{"x prefix is not x", store.Filter{X: "170000000"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(e.list(tc.f)); !slices.Equal(got, tc.want) {
				t.Fatalf("List(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}
	if _, err := e.s.ListBindings(e.ctx, store.Filter{Limit: -1}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("List with limit -1: %v, want ErrInvalid", err)
	}
}

func testOrderIdempotency(t *testing.T, e *env) {
	e.numbers(pool, "1700000001", "1700000002")
	nb := e.req("13800000001", "13900000002")
	nb.OrderID = "order-7"
	first := e.create(nb)

	retry := nb
	retry.ExpiresAt = nb.ExpiresAt.Add(time.Minute) // a client recomputing "now + 1 day"
	explicit := nb
	explicit.X = first.X
	tests := []struct {
		name string
		nb   store.NewBinding
		err  error
	}{
		{"same request", nb, nil},
		{"retry with later expiry", retry, nil},
		{"same x given explicitly", explicit, nil},
		{"other b", withB(nb, "13900000009"), store.ErrOrderConflict},
		{"other a", withA(nb, "13800000009"), store.ErrOrderConflict},
		{"swapped parties", withA(withB(nb, nb.A), nb.B), store.ErrOrderConflict},
		{"other x", withX(nb, other(first.X, "1700000001", "1700000002")), store.ErrOrderConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, created, err := e.s.CreateBinding(e.ctx, tc.nb)
			if !errors.Is(err, tc.err) {
				t.Fatalf("CreateBinding = %+v, %v, %v; want error %v", b, created, err, tc.err)
			}
			if tc.err == nil && (created || b != first) {
				t.Fatalf("retry gave %+v created=%v, want the first binding %+v", b, created, first)
			}
		})
	}
	if n := len(e.list(store.Filter{})); n != 1 {
		t.Fatalf("%d bindings after retries, want 1", n)
	}
	// An order whose binding ended may be bound again.
	if _, err := e.s.DeleteBinding(e.ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	again := e.create(withB(nb, "13900000009"))
	if again.ID == first.ID || again.OrderID != nb.OrderID {
		t.Fatalf("rebinding order gave %+v", again)
	}
	if got := ids(e.list(store.Filter{OrderID: nb.OrderID})); !slices.Equal(got, []string{again.ID}) {
		t.Fatalf("List by order = %v, want [%s]", got, again.ID)
	}
}

func withA(nb store.NewBinding, a string) store.NewBinding { nb.A = a; return nb }
func withB(nb store.NewBinding, b string) store.NewBinding { nb.B = b; return nb }
func withX(nb store.NewBinding, x string) store.NewBinding { nb.X = x; return nb }

func other(x, p, q string) string {
	if x == p {
		return q
	}
	return p
}

func testReuseRule(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	var made []store.Binding
	for i := range 10 {
		b := e.create(e.req(fmt.Sprintf("1380000%04d", i), fmt.Sprintf("1390000%04d", i)))
		if b.X != x {
			t.Fatalf("binding %d on %s, want %s", i, b.X, x)
		}
		made = append(made, b)
	}
	for _, b := range made {
		e.lookup(x, b.A, b, nil)
		e.lookup(x, b.B, b, nil)
	}
	e.wantPool(pool, 1, 1, 10)
	// A party already on the only X cannot get a second binding there, as A or as B.
	e.createErr(e.req(made[3].A, "13700000000"), store.ErrNoNumber)
	e.createErr(e.req("13700000000", made[5].B), store.ErrNoNumber)
	e.createErr(withX(e.req(made[3].A, "13700000000"), x), store.ErrPartyBusy)
	// A second number takes the overflow.
	e.numbers(pool, "1700000002")
	b := e.create(e.req(made[3].A, "13700000000"))
	if b.X != "1700000002" {
		t.Fatalf("overflow binding on %s, want 1700000002", b.X)
	}
	e.wantPool(pool, 2, 2, 11)
}

func testExplicitX(t *testing.T, e *env) {
	e.numbers(pool, "1700000001", "1700000002")
	e.numbers("other", "1800000001")
	b := e.create(withX(e.req("13800000001", "13900000001"), "1700000002"))
	if b.X != "1700000002" {
		t.Fatalf("explicit x gave %s", b.X)
	}
	tests := []struct {
		name string
		nb   store.NewBinding
		err  error
	}{
		{"x of another pool", withX(e.req("13800000002", "13900000002"), "1800000001"), store.ErrNotInPool},
		{"x in no pool", withX(e.req("13800000002", "13900000002"), "1900000001"), store.ErrNotInPool},
		{"a busy", withX(e.req("13800000001", "13900000003"), "1700000002"), store.ErrPartyBusy},
		{"b busy", withX(e.req("13800000003", "13900000001"), "1700000002"), store.ErrPartyBusy},
		{"a busy as b", withX(e.req("13900000001", "13800000004"), "1700000002"), store.ErrPartyBusy},
		{"busy elsewhere is fine", withX(e.req("13800000001", "13900000003"), "1700000001"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.s.CreateBinding(e.ctx, tc.nb)
			if !errors.Is(err, tc.err) {
				t.Fatalf("CreateBinding(%+v): %v, want %v", tc.nb, err, tc.err)
			}
		})
	}
}

func testQuarantine(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	b := e.create(e.req("13800000001", "13900000001"))
	if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	e.lookup(x, b.A, store.Binding{}, store.ErrEnded)
	e.lookup(x, b.B, store.Binding{}, store.ErrEnded)
	e.lookup(x, "13700000000", store.Binding{}, store.ErrNotFound)
	// Neither party of the old order may be put back on X during the cool-down...
	e.createErr(e.req(b.A, "13700000001"), store.ErrNoNumber)
	e.createErr(e.req("13700000001", b.B), store.ErrNoNumber)
	e.createErr(withX(e.req(b.A, "13700000001"), x), store.ErrPartyBusy)
	// ...but other parties may.
	fresh := e.create(e.req("13700000001", "13700000002"))
	if fresh.X != x {
		t.Fatalf("fresh pair on %s", fresh.X)
	}
	e.wantPool(pool, 1, 1, 1)

	// Just before the end of the cool-down the pair is still held.
	e.clock.Advance(e.cfg.Quarantine - time.Second)
	e.createErr(e.req(b.A, "13700000003"), store.ErrNoNumber)
	e.clock.Advance(2 * time.Second)
	e.lookup(x, b.A, store.Binding{}, store.ErrNotFound)
	again := e.create(e.req(b.A, b.B))
	if again.X != x {
		t.Fatalf("after cool-down, binding on %s", again.X)
	}
	e.lookup(x, b.A, again, nil)
	e.lookup(x, b.B, again, nil)
}

func testNoQuarantine(t *testing.T, e *env) {
	e = e.with(0, 10*time.Millisecond)
	const x = "1700000001"
	e.numbers(pool, x)
	b := e.create(e.req("13800000001", "13900000001"))
	if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	e.lookup(x, b.A, store.Binding{}, store.ErrNotFound)
	e.create(e.req(b.A, b.B))
}

func testExpiry(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	events, stop := e.s.Subscribe()
	defer stop()
	nb := e.req("13800000001", "13900000001")
	nb.ExpiresAt = start.Add(10 * time.Minute)
	nb.OrderID = "order-x"
	b := e.create(nb)
	keep := e.create(e.req("13800000002", "13900000002")) // expires in a day

	e.clock.Advance(10 * time.Minute)
	ev := e.next(events)
	if ev.Reason != store.EndExpired || ev.Binding != b {
		t.Fatalf("Ended = %+v, want expiry of %+v", ev, b)
	}
	if ev.At.Before(b.ExpiresAt) {
		t.Fatalf("Ended.At %v before ExpiresAt %v", ev.At, b.ExpiresAt)
	}
	if _, err := e.s.GetBinding(e.ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired binding still there: %v", err)
	}
	e.lookup(x, b.A, store.Binding{}, store.ErrEnded)
	e.lookup(x, keep.A, keep, nil)
	e.wantPool(pool, 1, 1, 1)
	if got := ids(e.list(store.Filter{OrderID: "order-x"})); len(got) != 0 {
		t.Fatalf("order index still lists %v", got)
	}
	// The slot is free once the quarantine passes.
	e.clock.Advance(e.cfg.Quarantine)
	e.lookup(x, b.A, store.Binding{}, store.ErrNotFound)
	e.create(e.req(b.A, b.B))
	select {
	case ev := <-events:
		t.Fatalf("unexpected Ended %+v", ev)
	default:
	}
}

func testExpiredNotSwept(t *testing.T, e *env) {
	e = e.with(time.Hour, time.Hour) // the sweeper will not run during the test
	e.numbers(pool, "1700000001")
	nb := e.req("13800000001", "13900000001")
	nb.ExpiresAt = start.Add(time.Minute)
	b := e.create(nb)
	e.clock.Advance(2 * time.Minute)
	// Still resolvable: the caller compares ExpiresAt (480, not 404).
	e.lookup(b.X, b.A, b, nil)
	if !b.Expired(e.clock.Now()) {
		t.Fatal("binding should read as expired")
	}
}

func testOrderAfterExpiry(t *testing.T, e *env) {
	e = e.with(time.Hour, time.Hour) // the order ID is reused before any sweep
	e.numbers(pool, "1700000001", "1700000002")
	events, stop := e.s.Subscribe()
	defer stop()
	nb := e.req("13800000001", "13900000001")
	nb.ExpiresAt = start.Add(time.Minute)
	nb.OrderID = "order-9"
	old := e.create(nb)
	e.clock.Advance(2 * time.Minute)
	nb.ExpiresAt = e.clock.Now().Add(time.Hour)
	b, created, err := e.s.CreateBinding(e.ctx, nb)
	if err != nil || !created || b.ID == old.ID {
		t.Fatalf("rebinding an expired order = %+v, %v, %v", b, created, err)
	}
	if ev := e.next(events); ev.Binding.ID != old.ID || ev.Reason != store.EndExpired {
		t.Fatalf("Ended = %+v, want expiry of %s", ev, old.ID)
	}
	if _, err := e.s.GetBinding(e.ctx, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old binding: %v, want ErrNotFound", err)
	}
}

func testDeletePublishes(t *testing.T, e *env) {
	e.numbers(pool, "1700000001")
	ch1, stop1 := e.s.Subscribe()
	defer stop1()
	ch2, stop2 := e.s.Subscribe()
	b := e.create(e.req("13800000001", "13900000001"))
	if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	for i, ch := range []<-chan store.Ended{ch1, ch2} {
		if ev := e.next(ch); ev.Binding != b || ev.Reason != store.EndDeleted || !ev.At.Equal(start) {
			t.Fatalf("subscriber %d got %+v, want deletion of %+v at %v", i, ev, b, start)
		}
	}
	stop2()
	stop2() // twice is harmless
	select {
	case ev, ok := <-ch2:
		if ok {
			t.Fatalf("stopped subscription delivered %+v", ev)
		}
	case <-time.After(waitBound):
		t.Fatal("stopped subscription's channel not closed")
	}
	b2 := e.create(e.req("13800000002", "13900000002"))
	if _, err := e.s.DeleteBinding(e.ctx, b2.ID); err != nil {
		t.Fatal(err)
	}
	if ev := e.next(ch1); ev.Binding.ID != b2.ID {
		t.Fatalf("got %+v, want deletion of %s", ev, b2.ID)
	}
}

func testBadBinding(t *testing.T, e *env) {
	e.numbers(pool, "1700000001")
	e.numbers("other", "1800000001")
	e.numbers("full", "1900000001")
	e.create(store.NewBinding{Pool: "full", A: "13000000001", B: "13000000002", ExpiresAt: start.Add(time.Hour)})
	ok := e.req("13800000001", "13900000001")
	tests := []struct {
		name string
		nb   store.NewBinding
		err  error
	}{
		{"no pool", store.NewBinding{A: ok.A, B: ok.B, ExpiresAt: ok.ExpiresAt}, store.ErrInvalid},
		{"no a", withA(ok, ""), store.ErrInvalid},
		{"no b", withB(ok, ""), store.ErrInvalid},
		{"a not digits", withA(ok, "+8613800000001"), store.ErrInvalid},
		{"b not digits", withB(ok, "139 0000 0001"), store.ErrInvalid},
		{"a too long", withA(ok, "1234567890123456"), store.ErrInvalid},
		{"a equals b", withB(ok, ok.A), store.ErrInvalid},
		{"x is a party", withX(withA(ok, "1700000001"), "1700000001"), store.ErrInvalid},
		{"x not digits", withX(ok, "17000x0001"), store.ErrInvalid},
		{"no expiry", store.NewBinding{Pool: pool, A: ok.A, B: ok.B}, store.ErrInvalid},
		{"expiry now", store.NewBinding{Pool: pool, A: ok.A, B: ok.B, ExpiresAt: start}, store.ErrInvalid},
		{"expiry past", store.NewBinding{Pool: pool, A: ok.A, B: ok.B, ExpiresAt: start.Add(-time.Hour)}, store.ErrInvalid},
		{"unknown pool", store.NewBinding{Pool: "nope", A: ok.A, B: ok.B, ExpiresAt: ok.ExpiresAt}, store.ErrNoNumber},
		{"x of another pool", withX(ok, "1800000001"), store.ErrNotInPool},
		{"x in no pool", withX(ok, "1600000001"), store.ErrNotInPool},
		{"pool full for a", store.NewBinding{Pool: "full", A: "13000000001", B: ok.B, ExpiresAt: ok.ExpiresAt}, store.ErrNoNumber},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nb := tc.nb
			nb.OrderID = "bad-" + tc.name
			e.createErr(nb, tc.err)
			if got := e.list(store.Filter{}); len(got) != 1 {
				t.Fatalf("%d bindings after a refused create, want 1", len(got))
			}
			if got := e.list(store.Filter{OrderID: nb.OrderID}); len(got) != 0 {
				t.Fatalf("refused create left order %q: %+v", nb.OrderID, got)
			}
			e.wantPool(pool, 1, 0, 0)
			e.wantPool("full", 1, 1, 1)
		})
	}
	// The refused order IDs were not taken.
	nb := ok
	nb.OrderID = "bad-a equals b"
	e.create(nb)
}

func testBadNumbers(t *testing.T, e *env) {
	e.numbers(pool, "1700000001")
	e.numbers("other", "1800000001")
	tests := []struct {
		name    string
		pool    string
		numbers []string
		naming  string // the error must name this
	}{
		{"none", pool, nil, ""},
		{"letters", pool, []string{"1700000002", "17000o0003"}, "17000o0003"},
		{"too short", pool, []string{"1700000002", "12345"}, "12345"},
		{"too long", pool, []string{"1234567890123456", "1700000002"}, "1234567890123456"},
		{"plus sign", pool, []string{"+8617000000002"}, "+8617000000002"},
		{"empty number", pool, []string{"1700000002", ""}, ""},
		{"in another pool", pool, []string{"1700000002", "1800000001", "1700000003"}, "1800000001"},
		{"empty pool name", "", []string{"1700000002"}, ""},
		{"pool name with slash", "a/b", []string{"1700000002"}, "a/b"},
		{"pool name with separator", "a\x00b", []string{"1700000002"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := e.s.AddNumbers(e.ctx, tc.pool, tc.numbers)
			if err == nil {
				t.Fatalf("AddNumbers(%q, %q) = %d, nil; want an error", tc.pool, tc.numbers, n)
			}
			if tc.naming != "" && !strings.Contains(err.Error(), tc.naming) {
				t.Fatalf("error %q does not name %q", err, tc.naming)
			}
			e.wantPool(pool, 1, 0, 0)
			e.wantPool("other", 1, 0, 0)
			for _, x := range []string{"1700000002", "1700000003"} {
				if p, ok, err := e.s.InPool(e.ctx, x); err != nil || ok {
					t.Fatalf("InPool(%s) = %q, %v, %v after a refused add", x, p, ok, err)
				}
			}
		})
	}
}

func testPools(t *testing.T, e *env) {
	if _, err := e.s.Pool(e.ctx, pool); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Pool of unknown: %v, want ErrNotFound", err)
	}
	steps := []struct {
		numbers []string
		added   int
		size    int
	}{
		{[]string{"1700000001", "1700000002"}, 2, 2},
		{[]string{"1700000002", "1700000003", "1700000003"}, 1, 3},
		{[]string{"1700000001"}, 0, 3},
	}
	for _, s := range steps {
		n, err := e.s.AddNumbers(e.ctx, pool, s.numbers)
		if err != nil || n != s.added {
			t.Fatalf("AddNumbers(%v) = %d, %v; want %d", s.numbers, n, err, s.added)
		}
		e.wantPool(pool, s.size, 0, 0)
	}
	p, ok, err := e.s.InPool(e.ctx, "1700000003")
	if err != nil || !ok || p != pool {
		t.Fatalf("InPool = %q, %v, %v", p, ok, err)
	}
	if _, ok, err := e.s.InPool(e.ctx, "1700000009"); err != nil || ok {
		t.Fatalf("InPool of a stranger = %v, %v", ok, err)
	}
	// Two bindings sharing A land on two numbers; the next pairs land anywhere.
	e.create(e.req("13800000001", "13900000001"))
	e.create(e.req("13800000001", "13900000002"))
	e.wantPool(pool, 3, 2, 2)
	e.create(e.req("13800000001", "13900000003"))
	e.wantPool(pool, 3, 3, 3)
	b := e.create(e.req("13800000004", "13900000004"))
	e.wantPool(pool, 3, 3, 4)
	if _, err := e.s.DeleteBinding(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	e.wantPool(pool, 3, 3, 3)
}

// testConcurrentCreates races writers over a small pool and a small set of
// parties, then checks the reuse rule and the counts against a full listing.
func testConcurrentCreates(t *testing.T, e *env) {
	const (
		writers = 8
		each    = 40
		parties = 40
	)
	e.numbers(pool, "1700000001", "1700000002", "1700000003")
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created = map[string]store.Binding{}
		errs    []error
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				a := (w*7 + i*3) % parties
				b := (a + 1 + (w+i)%(parties-1)) % parties
				nb := e.req(fmt.Sprintf("138%08d", a), fmt.Sprintf("138%08d", b))
				if i%5 == 0 {
					nb.OrderID = fmt.Sprintf("order-%d", i) // shared between writers on purpose
				}
				got, isNew, err := e.s.CreateBinding(e.ctx, nb)
				mu.Lock()
				switch {
				case err == nil && isNew:
					if _, dup := created[got.ID]; dup {
						errs = append(errs, fmt.Errorf("id %s created twice", got.ID))
					}
					created[got.ID] = got
				case err == nil, errors.Is(err, store.ErrNoNumber), errors.Is(err, store.ErrOrderConflict):
				default:
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	all := e.list(store.Filter{Limit: writers * each})
	if len(all) != len(created) {
		t.Fatalf("listed %d bindings, created %d", len(all), len(created))
	}
	owner := map[[2]string]string{}
	perX := map[string]int{}
	for _, b := range all {
		if created[b.ID] != b {
			t.Fatalf("listed %+v, created %+v", b, created[b.ID])
		}
		perX[b.X]++
		for _, p := range []string{b.A, b.B} {
			if prev, dup := owner[[2]string{b.X, p}]; dup {
				t.Fatalf("(%s, %s) bound by %s and %s", b.X, p, prev, b.ID)
			}
			owner[[2]string{b.X, p}] = b.ID
			e.lookup(b.X, p, b, nil)
		}
	}
	e.wantPool(pool, 3, len(perX), len(all))
	t.Logf("%d of %d creates bound", len(all), writers*each)
}
