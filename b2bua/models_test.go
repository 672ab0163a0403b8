package b2bua

import (
	"context"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

// TestCallExtensionInDialledNumber: digits dialled straight after an X
// with extensions reach the extension's A, shown X, with no IVR.
func TestCallExtensionInDialledNumber(t *testing.T) {
	te := newTestEngine(t)
	ctx := context.Background()
	const xExt = "8617000000012"
	if _, err := te.store.AddNumbers(ctx, "default", []string{xExt}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := te.store.CreateBinding(ctx, store.NewBinding{Pool: "default", X: xExt, Model: store.ModelAXE, A: numA,
		Extension: "1234", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	const courier = "8613700000000"
	d, err := newCarrier(t).invite(ctx, te.addr, courier, "+"+xExt+"1234", newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	if got := tc.req.Recipient.User; got != "+"+numA {
		t.Errorf("the call went to %q, want the extension's A (+%s)", got, numA)
	}
	if got := fromUser(tc.req); got != "+"+xExt {
		t.Errorf("A is shown %q, want X (+%s)", got, xExt)
	}
	if _, code := answer(t, d, 5*time.Second); code != 200 {
		t.Fatalf("got %d", code)
	}
	_ = d.Ack(ctx)
	_ = d.Bye(ctx)
	te.waitIdle()
}

// TestAXNCalls: on an AXN, anyone calling X reaches A, A reaches B, and an
// AXB pair on the same X still reaches each other; each callee is shown X.
func TestAXNCalls(t *testing.T) {
	te := newTestEngine(t)
	ctx := context.Background()
	if _, err := te.store.AddNumbers(ctx, "default", []string{numX}); err != nil {
		t.Fatal(err)
	}
	mk := func(nb store.NewBinding) {
		t.Helper()
		nb.Pool, nb.X, nb.ExpiresAt = "default", numX, time.Now().Add(time.Hour)
		if _, _, err := te.store.CreateBinding(ctx, nb); err != nil {
			t.Fatal(err)
		}
	}
	mk(store.NewBinding{Model: store.ModelAXN, A: numA, B: numB})
	const pairA, pairB, stranger = "8613100000001", "8613100000002", "8613700000009"
	mk(store.NewBinding{A: pairA, B: pairB})
	for _, tc := range []struct{ caller, callee string }{
		{stranger, numA},
		{numA, numB},
		{pairA, pairB},
		{pairB, pairA},
	} {
		d, err := newCarrier(t).invite(ctx, te.addr, tc.caller, numX, newRTPPeer(t).sdp(1))
		if err != nil {
			t.Fatal(err)
		}
		bc := te.trunk.nextCall(t)
		if got := bc.req.Recipient.User; got != "+"+tc.callee {
			t.Errorf("%s calling X reached %s, want %s", tc.caller, got, tc.callee)
		}
		if got := bc.req.From().Address.User; got != "+"+numX {
			t.Errorf("%s calling X showed %s, want X", tc.caller, got)
		}
		if _, code := answer(t, d, 5*time.Second); code != 200 {
			t.Fatalf("%s got %d", tc.caller, code)
		}
		_ = d.Ack(ctx)
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = d.Bye(bctx)
		cancel()
		te.waitIdle()
	}
}
