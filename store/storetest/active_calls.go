package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

// activeCall is a well-formed record: a UAS leg reached through one proxy
// and a UAC leg with a two-hop route set.
func activeCall(id string) store.ActiveCall {
	return store.ActiveCall{
		ID:        id,
		BindingID: "b-" + id,
		Legs: [2]store.DialogLeg{{
			CallID:       "a-" + id + "@carrier.example",
			LocalTag:     "lt-a-" + id,
			RemoteTag:    "rt-a-" + id,
			LocalURI:     "sip:+8617000000001@xbridge.example",
			RemoteURI:    "sip:+8613800000001@carrier.example",
			RemoteTarget: "sip:carrier@192.0.2.10:5060",
			RouteSet:     []string{"sip:sbc.carrier.example;lr"},
			NextCSeq:     2,
			Transport:    "UDP",
			Destination:  "192.0.2.1:5060",
		}, {
			CallID:       "b-" + id,
			LocalTag:     "lt-b-" + id,
			RemoteTag:    "rt-b-" + id,
			LocalURI:     "sip:+8617000000001@xbridge.example;user=phone",
			RemoteURI:    "sip:+8613900000002@trunk.example;user=phone",
			RemoteTarget: "sip:trunk@198.51.100.7:5080;transport=tcp",
			RouteSet:     []string{"sip:edge1.trunk.example;lr", "sip:edge2.trunk.example;lr"},
			NextCSeq:     1 << 31,
			Transport:    "TCP",
			Destination:  "198.51.100.1:5080",
		}},
		AnsweredAt: start.Add(time.Second),
	}
}

func (e *env) putCall(c store.ActiveCall) {
	e.t.Helper()
	if err := e.s.PutActiveCall(e.ctx, c); err != nil {
		e.t.Fatalf("PutActiveCall(%s): %v", c.ID, err)
	}
}

func (e *env) deleteCall(id string) {
	e.t.Helper()
	if err := e.s.DeleteActiveCall(e.ctx, id); err != nil {
		e.t.Fatalf("DeleteActiveCall(%s): %v", id, err)
	}
}

// wantCalls checks that ActiveCalls holds exactly want, in any order.
func (e *env) wantCalls(want ...store.ActiveCall) {
	e.t.Helper()
	got, err := e.s.ActiveCalls(e.ctx)
	if err != nil {
		e.t.Fatalf("ActiveCalls: %v", err)
	}
	byID := func(a, b store.ActiveCall) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(got, byID)
	want = slices.Clone(want)
	slices.SortFunc(want, byID)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		e.t.Fatalf("ActiveCalls:\n got %+v\nwant %+v", got, want)
	}
}

func testActiveCalls(t *testing.T, e *env) {
	e.wantCalls()
	one, two := activeCall("c1"), activeCall("c2")
	e.putCall(one)
	e.putCall(two)
	e.wantCalls(one, two)

	// A second put replaces the record (a CSeq moved on, a target changed).
	one.Legs[1].NextCSeq++
	one.Legs[0].RouteSet = nil
	e.putCall(one)
	e.wantCalls(one, two)

	e.deleteCall("c1")
	e.wantCalls(two)
	e.deleteCall("c1")      // twice
	e.deleteCall("unknown") // never put
	e.wantCalls(two)
	e.deleteCall("c2")
	e.wantCalls()
}

// A put and its delete with no read between may cancel out in a store that
// writes behind; either way the call must be gone, also after another put
// of a different call.
func testActiveCallPutThenDelete(t *testing.T, e *env) {
	for i := range 50 {
		id := fmt.Sprintf("short%d", i)
		e.putCall(activeCall(id))
		e.deleteCall(id)
	}
	long := activeCall("long")
	e.putCall(long)
	e.wantCalls(long)
	e.deleteCall("long")
	e.putCall(activeCall("again"))
	e.deleteCall("again")
	e.wantCalls()
}

func testBadActiveCall(t *testing.T, e *env) {
	kept := activeCall("kept")
	e.putCall(kept)
	long := strings.Repeat("x", 64<<10)
	tests := []struct {
		name string
		edit func(c *store.ActiveCall)
	}{
		{"no id", func(c *store.ActiveCall) { c.ID = "" }},
		{"no answer time", func(c *store.ActiveCall) { c.AnsweredAt = time.Time{} }},
		{"leg a without call id", func(c *store.ActiveCall) { c.Legs[0].CallID = "" }},
		{"leg b without call id", func(c *store.ActiveCall) { c.Legs[1].CallID = "" }},
		{"huge id", func(c *store.ActiveCall) { c.ID = long }},
		{"huge binding id", func(c *store.ActiveCall) { c.BindingID = long }},
		{"huge target", func(c *store.ActiveCall) { c.Legs[1].RemoteTarget = long }},
		{"huge route", func(c *store.ActiveCall) { c.Legs[0].RouteSet = []string{long} }},
		{"endless route set", func(c *store.ActiveCall) { c.Legs[0].RouteSet = make([]string, 1000) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := activeCall("bad")
			tc.edit(&c)
			if err := e.s.PutActiveCall(e.ctx, c); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("PutActiveCall = %v, want ErrInvalid", err)
			}
			e.wantCalls(kept)
		})
	}
	if err := e.s.DeleteActiveCall(e.ctx, ""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("DeleteActiveCall(\"\") = %v, want ErrInvalid", err)
	}
	e.wantCalls(kept)
}

// testConcurrentActiveCalls races writers, each over its own IDs (so each
// ID has one order of operations) with reads in between; the store must end
// up with exactly what the last operation on each ID says.
func testConcurrentActiveCalls(t *testing.T, e *env) {
	const (
		writers = 8
		each    = 200
	)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		wants [writers]map[string]store.ActiveCall
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for w := range writers {
		wants[w] = map[string]store.ActiveCall{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := wants[w]
			for i := range each {
				c := activeCall(fmt.Sprintf("w%d-%d", w, i%17))
				c.Legs[1].NextCSeq = uint32(i)
				if i%3 == 2 {
					if err := e.s.DeleteActiveCall(e.ctx, c.ID); err != nil {
						fail(err)
					}
					delete(want, c.ID)
				} else {
					if err := e.s.PutActiveCall(e.ctx, c); err != nil {
						fail(err)
					}
					want[c.ID] = c
				}
				if i%50 == 0 {
					if _, err := e.s.ActiveCalls(e.ctx); err != nil {
						fail(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var all []store.ActiveCall
	for _, want := range wants {
		for _, c := range want {
			all = append(all, c)
		}
	}
	e.wantCalls(all...)
}

func testActiveCallCancelledContext(t *testing.T, e *env) {
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if err := e.s.PutActiveCall(ctx, activeCall("c")); err == nil {
		t.Fatal("PutActiveCall on a cancelled context succeeded")
	}
	e.wantCalls()
	e.putCall(activeCall("c"))
	if err := e.s.DeleteActiveCall(ctx, "c"); err == nil {
		t.Fatal("DeleteActiveCall on a cancelled context succeeded")
	}
	e.wantCalls(activeCall("c"))
}
