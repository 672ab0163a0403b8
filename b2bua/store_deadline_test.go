package b2bua

import (
	"context"
	"testing"
	"time"

	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/store"
)

// stalledStore is the real store with one read that never answers before
// its caller's context ends: a store stuck on a disk or a lock.
type stalledStore struct {
	*store.DB
	lookup, getBinding bool
}

func (s stalledStore) Resolve(ctx context.Context, x, caller string) (store.Resolution, error) {
	if s.lookup {
		<-ctx.Done()
		return store.Resolution{}, ctx.Err()
	}
	return s.DB.Resolve(ctx, x, caller)
}

func (s stalledStore) GetBinding(ctx context.Context, id string) (store.Binding, error) {
	if s.getBinding {
		<-ctx.Done()
		return store.Binding{}, ctx.Err()
	}
	return s.DB.GetBinding(ctx, id)
}

// TestStalledStoreGets503: a store that does not answer holds no INVITE
// beyond the store deadline; A gets 503 (try again later) and B is never
// called, whichever read stalls.
func TestStalledStoreGets503(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stall stalledStore
	}{
		{"routing lookup", stalledStore{lookup: true}},
		{"binding check", stalledStore{getBinding: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stall := func(db *store.DB) stalledStore { s := tc.stall; s.DB = db; return s }
			te := newTestEngine(t, func(s *engineSetup) {
				s.cfg.StoreTimeout = 100 * time.Millisecond
				s.lookup = func(db *store.DB) routing.BindingLookup { return stall(db) }
				s.bindings = func(db *store.DB) Store { return stall(db) }
			})
			te.bind(numX, numA, numB, time.Hour)
			d, err := newCarrier(t).invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
			if err != nil {
				t.Fatal(err)
			}
			if _, code := answer(t, d, 5*time.Second); code != 503 {
				t.Fatalf("A got %d, want 503", code)
			}
			select {
			case tc := <-te.trunk.calls:
				t.Fatalf("the trunk was called: %s", tc.req.Recipient.String())
			default:
			}
			te.waitIdle()
		})
	}
}
