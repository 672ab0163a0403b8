package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

func ptr[T any](v T) *T { return &v }

func (e *env) update(id string, p store.Patch) store.Binding {
	e.t.Helper()
	b, err := e.s.UpdateBinding(e.ctx, id, p)
	if err != nil {
		e.t.Fatalf("UpdateBinding(%s, %+v): %v", id, p, err)
	}
	got, err := e.s.GetBinding(e.ctx, id)
	if err != nil || got != b {
		e.t.Fatalf("after UpdateBinding, GetBinding = %+v, %v; want %+v", got, err, b)
	}
	return b
}

func testUpdate(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	b := e.create(e.req("13800000001", "13900000001"))
	other := e.create(e.req("13800000002", "13900000002"))

	// A new B: the old pair is quarantined, the new one resolves.
	moved := e.update(b.ID, store.Patch{B: ptr("13900000003")})
	if moved.B != "13900000003" || moved.A != b.A || moved.ID != b.ID || moved.X != x {
		t.Fatalf("patched B gave %+v", moved)
	}
	e.lookup(x, "13900000003", moved, nil)
	e.lookup(x, "13900000001", store.Binding{}, store.ErrEnded)
	if _, err := e.s.UpdateBinding(e.ctx, b.ID, store.Patch{B: ptr("13900000001")}); !errors.Is(err, store.ErrPartyBusy) {
		t.Fatalf("moving back onto a quarantined pair: %v, want ErrPartyBusy", err)
	}
	// Swapping A and B needs no free pair.
	swapped := e.update(b.ID, store.Patch{A: ptr(moved.B), B: ptr(moved.A)})
	if swapped.A != moved.B || swapped.B != moved.A {
		t.Fatalf("swap gave %+v", swapped)
	}
	e.lookup(x, swapped.A, swapped, nil)

	// Policy fields, set and cleared.
	pol := e.update(b.ID, store.Patch{Direction: ptr(store.DirectionAToB), MaxCallSeconds: ptr(300), WarnSeconds: ptr(30),
		Record: ptr(true), UserData: ptr("x"), CallerDisplay: ptr(store.DisplayX)})
	want := store.Policy{Direction: store.DirectionAToB, MaxCallSeconds: 300, WarnSeconds: 30, Record: true, UserData: "x", CallerDisplay: store.DisplayX}
	if pol.Policy != want {
		t.Fatalf("policy %+v, want %+v", pol.Policy, want)
	}
	cleared := e.update(b.ID, store.Patch{Direction: ptr(store.Direction("")), MaxCallSeconds: ptr(0), WarnSeconds: ptr(0),
		Record: ptr(false), UserData: ptr(""), CallerDisplay: ptr(store.CallerDisplay(""))})
	if cleared.Policy != (store.Policy{}) {
		t.Fatalf("cleared policy %+v", cleared.Policy)
	}

	// Order ID: set, found, refused when another binding holds it, cleared.
	withOrder := e.update(b.ID, store.Patch{OrderID: ptr("order-9")})
	if got := e.list(store.Filter{OrderID: "order-9"}); len(got) != 1 || got[0] != withOrder {
		t.Fatalf("list by new order id = %+v", got)
	}
	if _, err := e.s.UpdateBinding(e.ctx, other.ID, store.Patch{OrderID: ptr("order-9")}); !errors.Is(err, store.ErrOrderConflict) {
		t.Fatalf("taking another binding's order id: %v, want ErrOrderConflict", err)
	}
	e.update(b.ID, store.Patch{OrderID: ptr("")})
	if got := e.list(store.Filter{OrderID: "order-9"}); len(got) != 0 {
		t.Fatalf("cleared order id still lists %+v", got)
	}
	e.update(other.ID, store.Patch{OrderID: ptr("order-9")})

	// A sooner expiry is the one the sweeper keeps.
	events, stop := e.s.Subscribe()
	defer stop()
	soon := e.update(b.ID, store.Patch{ExpiresAt: ptr(start.Add(time.Minute))})
	if !soon.ExpiresAt.Equal(start.Add(time.Minute)) {
		t.Fatalf("expires %v", soon.ExpiresAt)
	}
	e.clock.Advance(2 * time.Minute)
	if ev := e.next(events); ev.Binding.ID != b.ID || ev.Reason != store.EndExpired {
		t.Fatalf("Ended %+v, want the patched binding expired", ev)
	}
	if _, err := e.s.UpdateBinding(e.ctx, b.ID, store.Patch{B: ptr("13900000009")}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("patching an ended binding: %v, want ErrNotFound", err)
	}

	// AXN: B can go, and the pair with it.
	e.numbers(pool, "1700000002")
	n := e.create(withX(e.axn("13800000005", "13900000005"), "1700000002"))
	alone := e.update(n.ID, store.Patch{B: ptr("")})
	if alone.B != "" {
		t.Fatalf("AXN B not removed: %+v", alone)
	}
	e.resolve(n.X, "13900000005", store.MatchNone, "", store.ErrEnded)
	e.resolve(n.X, "13700000000", store.MatchAnyCaller, n.ID, nil)
}

func testBadUpdate(t *testing.T, e *env) {
	const x = "1700000001"
	e.numbers(pool, x)
	b := e.create(e.req("13800000001", "13900000001"))
	busy := e.create(e.req("13800000002", "13900000002"))
	axe := e.create(e.axe("13800000003", ""))
	tests := []struct {
		name string
		id   string
		p    store.Patch
		err  error
	}{
		{"a busy on x", b.ID, store.Patch{A: ptr(busy.B)}, store.ErrPartyBusy},
		{"b busy on x as a of an axe", b.ID, store.Patch{B: ptr(axe.A)}, store.ErrPartyBusy},
		{"a is b", b.ID, store.Patch{A: ptr(b.B)}, store.ErrInvalid},
		{"a is x", b.ID, store.Patch{A: ptr(x)}, store.ErrInvalid},
		{"a not digits", b.ID, store.Patch{A: ptr("138abc")}, store.ErrInvalid},
		{"b removed from axb", b.ID, store.Patch{B: ptr("")}, store.ErrInvalid},
		{"b on axe", axe.ID, store.Patch{B: ptr("13900000009")}, store.ErrInvalid},
		{"warn not below max", b.ID, store.Patch{MaxCallSeconds: ptr(30), WarnSeconds: ptr(30)}, store.ErrInvalid},
		{"direction unknown", b.ID, store.Patch{Direction: ptr(store.Direction("sideways"))}, store.ErrInvalid},
		{"display real refused", b.ID, store.Patch{CallerDisplay: ptr(store.DisplayReal)}, store.ErrInvalid},
		{"expiry past", b.ID, store.Patch{ExpiresAt: ptr(start.Add(-time.Second))}, store.ErrInvalid},
		{"good b with bad policy", b.ID, store.Patch{B: ptr("13900000007"), WarnSeconds: ptr(5)}, store.ErrInvalid},
		{"good b with taken order", b.ID, store.Patch{B: ptr("13900000007"), OrderID: ptr("o-busy")}, store.ErrOrderConflict},
		{"unknown id", "b-none", store.Patch{B: ptr("13900000007")}, store.ErrNotFound},
	}
	e.update(busy.ID, store.Patch{OrderID: ptr("o-busy")})
	before := e.list(store.Filter{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := e.s.UpdateBinding(e.ctx, tc.id, tc.p); !errors.Is(err, tc.err) {
				t.Fatalf("UpdateBinding = %+v, %v; want %v", got, err, tc.err)
			}
			after := e.list(store.Filter{})
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("a refused patch changed the store:\n%+v\n%+v", before, after)
			}
			e.lookup(x, "13900000007", store.Binding{}, store.ErrNotFound)
			e.lookup(x, b.B, b, nil)
		})
	}
}

// testConcurrentUpdates: creates and patches race for the parties of one
// X; afterwards no party is on X twice and every pair resolves to the
// binding that holds it.
func testConcurrentUpdates(t *testing.T, e *env) {
	e = e.with(0, 10*time.Millisecond)
	const (
		x       = "1700000001"
		writers = 8
		each    = 30
		parties = 24
	)
	e.numbers(pool, x)
	seed := e.create(e.req("13800000000", "13800000001"))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ids  = []string{seed.ID}
		errs []error
	)
	party := func(n int) string { return fmt.Sprintf("138%08d", n%parties) }
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var err error
				if (w+i)%2 == 0 {
					var b store.Binding
					b, _, err = e.s.CreateBinding(e.ctx, e.req(party(w*5+i), party(w*5+i+7)))
					if err == nil {
						mu.Lock()
						ids = append(ids, b.ID)
						mu.Unlock()
					}
				} else {
					mu.Lock()
					id := ids[(w*3+i)%len(ids)]
					mu.Unlock()
					p := store.Patch{A: ptr(party(w*11 + i))}
					if i%3 == 0 {
						p = store.Patch{B: ptr(party(w*13 + i))}
					}
					_, err = e.s.UpdateBinding(e.ctx, id, p)
				}
				switch {
				case err == nil, errors.Is(err, store.ErrNoNumber), errors.Is(err, store.ErrPartyBusy), errors.Is(err, store.ErrInvalid):
				default:
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{}
	for _, b := range e.list(store.Filter{X: x}) {
		for _, p := range []string{b.A, b.B} {
			if prev, dup := owner[p]; dup {
				t.Fatalf("%s on %s twice: bindings %s and %s", p, x, prev, b.ID)
			}
			owner[p] = b.ID
			e.lookup(x, p, b, nil)
		}
	}
	t.Logf("%d parties bound on %s", len(owner), x)
}
