package media_test

import (
	"errors"
	"testing"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/media"
)

// videoOffer is sdpFor with a video stream added.
func videoOffer(user string, port int) []byte {
	return append(sdpFor(user, port, port+1), []byte("m=video 5010 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n")...)
}

// TestAnswerNeverWaitsForPorts: the offer takes every port its call needs,
// both ways. While calls whose offers fit are ringing, the next offer is
// refused (the caller gets 503 before anyone rings) with nothing left
// allocated, and each ringing call's answer then goes through. Before, the
// offer took only B's pair and a third call rang, to fail after B answered.
func TestAnswerNeverWaitsForPorts(t *testing.T) {
	r := newRelay(t, 28400, 28407) // four pairs: two calls
	ringing := make([]*media.Session, 2)
	for i := range ringing {
		ringing[i] = r.NewSession(zerolog.Nop())
		defer ringing[i].Close()
		mustRewrite(t, ringing[i], media.SideA, sdpFor("a", 5004, 5005))
	}
	if got := r.PortsInUse(); got != 8 {
		t.Fatalf("PortsInUse = %d after two offers, want 8", got)
	}
	third := r.NewSession(zerolog.Nop())
	defer third.Close()
	if out, err := third.Rewrite(media.SideA, sdpFor("a", 5004, 5005)); !errors.Is(err, media.ErrPortsExhausted) || out != nil {
		t.Fatalf("third offer on a full range: %q, %v; want ErrPortsExhausted", out, err)
	}
	if got := r.PortsInUse(); got != 8 {
		t.Fatalf("PortsInUse = %d after the refused offer, want 8 (nothing left allocated)", got)
	}
	for i, s := range ringing {
		toA, err := s.Rewrite(media.SideB, sdpFor("b", 6004, 6005))
		if err != nil {
			t.Fatalf("answer of call %d: %v", i, err)
		}
		if relayPorts(t, toA)[0] == 0 {
			t.Fatalf("answer of call %d offers no relay port", i)
		}
	}
	if got := r.PortsInUse(); got != 8 {
		t.Fatalf("PortsInUse = %d after the answers, want 8", got)
	}
}

// TestAnswerWithMoreStreamsThanOffered: an answer must have the offer's
// m= lines (RFC 3264 6); one with more is refused and changes nothing, and
// the proper answer still goes through.
func TestAnswerWithMoreStreamsThanOffered(t *testing.T) {
	r := newRelay(t, 28410, 28499)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	mustRewrite(t, s, media.SideA, sdpFor("a", 5004, 5005))
	if out, err := s.Rewrite(media.SideB, videoOffer("b", 6004)); !errors.Is(err, media.ErrMalformedSDP) || out != nil {
		t.Fatalf("answer with an extra stream: %q, %v; want ErrMalformedSDP", out, err)
	}
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("PortsInUse = %d, want 4: the refused answer took ports", got)
	}
	if ports := relayPorts(t, mustRewrite(t, s, media.SideB, sdpFor("b", 6004, 6005))); len(ports) != 1 {
		t.Fatalf("answer ports %v", ports)
	}
}

// TestReofferReservesBothWays: a re-INVITE adding a stream reserves both
// of its pairs; its answer needs none, even if the range filled up in
// between. A re-offer that cannot get its pairs is refused and leaves the
// call as it was.
func TestReofferReservesBothWays(t *testing.T) {
	r := newRelay(t, 28700, 28711) // six pairs
	a, b := listen(t), listen(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	toB := mustRewrite(t, s, media.SideA, sdpFor("a", a.Port(), a.Port()+1))
	toA := mustRewrite(t, s, media.SideB, sdpFor("b", b.Port(), b.Port()+1))
	relayA, relayB := relayPorts(t, toA)[0], relayPorts(t, toB)[0]

	if ports := relayPorts(t, mustRewrite(t, s, media.SideA, videoOffer("a", a.Port()))); len(ports) != 2 || ports[1] == 0 {
		t.Fatalf("re-offer with video: ports %v", ports)
	}
	// Other calls take whatever is left.
	for i := 0; ; i++ {
		other := r.NewSession(zerolog.Nop())
		defer other.Close()
		if _, err := other.Rewrite(media.SideA, sdpFor("x", 7004, 7005)); err != nil {
			if !errors.Is(err, media.ErrPortsExhausted) || i == 0 {
				t.Fatalf("other call %d: %v", i, err)
			}
			break
		}
		if i == 10 {
			t.Fatal("the range never filled up")
		}
	}
	if ports := relayPorts(t, mustRewrite(t, s, media.SideB, videoOffer("b", b.Port()))); len(ports) != 2 || ports[1] == 0 {
		t.Fatalf("re-answer with video on a full range: ports %v", ports)
	}

	// A third stream cannot be had: refused, the call goes on.
	three := append(videoOffer("a", a.Port()), []byte("m=audio 5020 RTP/AVP 0\r\n")...)
	if out, err := s.Rewrite(media.SideA, three); !errors.Is(err, media.ErrPortsExhausted) || out != nil {
		t.Fatalf("re-offer of a third stream on a full range: %q, %v; want ErrPortsExhausted", out, err)
	}
	if got := r.PortsInUse(); got != 12 {
		t.Fatalf("PortsInUse = %d, want 12", got)
	}
	exchange(t, a, relayA, b, 3, "A after the refused re-offer")
	exchange(t, b, relayB, a, 3, "B after the refused re-offer")
}
