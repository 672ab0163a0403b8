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
