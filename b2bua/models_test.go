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
		{X: xExt, Model: store.ModelAXE, A: numA},
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
