package b2bua

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/routing"
)

// TestCallTrust: the same INVITE, From A and P-Asserted-Identity B, from a
// trusted source reaches A (B called), from an allowed but untrusted source
// reaches B (A called: the forged identity is ignored). The carrier sends
// from 127.0.0.1 in both; only the engine's lists differ.
func TestCallTrust(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	carrier := netip.MustParsePrefix("127.0.0.1/32")
	elsewhere := netip.MustParsePrefix("127.0.0.2/32") // nobody sends from it
	forged := []sip.Header{
		sip.NewHeader("P-Asserted-Identity", "<sip:+"+numB+"@carrier.example;user=phone>"),
	}
	forgedRPID := []sip.Header{
		sip.NewHeader("Remote-Party-ID", "<sip:+"+numB+"@carrier.example>;party=calling;screen=yes"),
	}
	tests := []struct {
		name   string
		router []routing.Option
		caller string
		extra  []sip.Header
		want   int    // A's final answer
		callee string // the B leg's Request-URI user; "" when none may be sent
	}{
		{"trusted source: PAI is the caller", []routing.Option{routing.WithTrusted(carrier)}, numA, forged, 200, "+" + numA},
		{"trusted source: RPID is the caller", []routing.Option{routing.WithTrusted(carrier)}, numA, forgedRPID, 200, "+" + numA},
		{"allowed source: forged PAI ignored", []routing.Option{routing.WithTrusted(elsewhere), routing.WithAllowed(loopback)}, numA, forged, 200, "+" + numB},
		{"allowed source: forged RPID ignored", []routing.Option{routing.WithTrusted(elsewhere), routing.WithAllowed(loopback)}, numA, forgedRPID, 200, "+" + numB},
		{"allowed source: PAI does not replace a withheld From", []routing.Option{routing.WithTrusted(elsewhere), routing.WithAllowed(loopback)}, "anonymous",
			[]sip.Header{sip.NewHeader("P-Asserted-Identity", "<tel:+"+numA+">")}, 403, ""},
		{"source in neither list", []routing.Option{routing.WithTrusted(elsewhere)}, numA, forged, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTestEngineWith(t, tt.router, nil)
			te.bind(numX, numA, numB, time.Hour)
			car := newCarrier(t)
			d, err := car.invite(context.Background(), te.addr, tt.caller, numX, newRTPPeer(t).sdp(1), tt.extra...)
			if err != nil {
				t.Fatal(err)
			}
			if tt.callee == "" {
				if _, code := answer(t, d, 5*time.Second); code != tt.want {
					t.Fatalf("A got %d, want %d", code, tt.want)
				}
				select {
				case tc := <-te.trunk.calls:
					t.Fatalf("a refused call reached the trunk for %s", tc.req.Recipient.User)
				default:
				}
				te.waitIdle()
				return
			}
			tc := te.trunk.nextCall(t)
			if got := tc.req.Recipient.User; got != tt.callee {
				t.Errorf("B leg to %q, want %q", got, tt.callee)
			}
			if _, code := answer(t, d, 5*time.Second); code != tt.want {
				t.Fatalf("A got %d, want %d", code, tt.want)
			}
			_ = d.Ack(context.Background())
			_ = d.Bye(context.Background())
			te.waitIdle()
		})
	}
}
