package b2bua

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/media"
)

// holdRelayPorts opens sessions whose offers take relay ports until the
// range is used up (at most 64 sessions) and returns them.
func holdRelayPorts(t *testing.T, r *media.Relay, offer []byte) []*media.Session {
	t.Helper()
	var held []*media.Session
	for i := 0; i < 64; i++ {
		s := r.NewSession(zerolog.Nop())
		if _, err := s.Rewrite(media.SideA, offer); err != nil {
			s.Close()
			return held
		}
		held = append(held, s)
		t.Cleanup(s.Close)
	}
	t.Fatal("the relay range never filled up")
	return nil
}

// TestRelayPortsTakenBeforeBRings: a call that cannot get its relay ports
// gets 503 at once, B is never called and nothing stays allocated; a call
// that got them is answered even if the range fills up while B rings.
// Before, the offer took only the B-facing pair and the A-facing one was
// looked for when B answered, so A got 488 after B had picked up.
func TestRelayPortsTakenBeforeBRings(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	te.trunk.setScript(func(*sip.Request) trunkAction {
		return trunkAction{provisional: []int{180}, ringFor: 300 * time.Millisecond, final: 200}
	})
	car := newCarrier(t)
	aRTP := newRTPPeer(t)
	other := newRTPPeer(t).sdp(9)

	held := holdRelayPorts(t, te.relay, other)
	refusedOnFullRange(t, te, car, aRTP.sdp(1))

	// One call's worth comes free; the range fills up again while B rings.
	held[len(held)-1].Close()
	held = held[:len(held)-1]
	d, err := car.invite(context.Background(), te.addr, "+"+numA, "+"+numX, aRTP.sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	te.trunk.nextCall(t)
	held = append(held, holdRelayPorts(t, te.relay, other)...)
	if _, code := answer(t, d, 5*time.Second); code != 200 {
		t.Fatalf("A got %d when B answered, want 200: the answer found no relay ports", code)
	}
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range held {
		s.Close()
	}
	te.waitIdle()
}
