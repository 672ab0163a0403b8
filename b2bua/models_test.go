package b2bua

import (
	"context"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

// TestCallPolicyAndModels: a binding's direction refuses B's call with 403
// before the trunk sees anything; a call to an X carrying AXE extensions
// is refused cleanly (480) until the IVR answers it.
func TestCallPolicyAndModels(t *testing.T) {
	te := newTestEngine(t)
	ctx := context.Background()
	const xDir, xExt = "8617000000011", "8617000000012"
	if _, err := te.store.AddNumbers(ctx, "default", []string{xDir, xExt}); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	for _, nb := range []store.NewBinding{
		{X: xDir, A: numA, B: numB, Policy: store.Policy{Direction: store.DirectionAToB}},
		{X: xExt, Model: store.ModelAXE, A: numA, Extension: "1234"},
	} {
		nb.Pool, nb.ExpiresAt = "default", exp
		if _, _, err := te.store.CreateBinding(ctx, nb); err != nil {
			t.Fatal(err)
		}
	}
	car := newCarrier(t)
	for _, tc := range []struct {
		name            string
		caller, dialled string
		want            int
	}{
		{"b against the direction", numB, xDir, 403},
		{"extension call without ivr", "8613700000000", xExt, 480},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := car.invite(ctx, te.addr, tc.caller, tc.dialled, newRTPPeer(t).sdp(1))
			if err != nil {
				t.Fatal(err)
			}
			if _, got := answer(t, d, 5*time.Second); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
	select {
	case tc := <-te.trunk.calls:
		t.Fatalf("a refused call reached the trunk: %s", tc.req.Recipient.String())
	default:
	}
	te.waitIdle()
}

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
