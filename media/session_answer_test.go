package media_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/media"
)

// TestAnswerTakesNoPorts: an answer that accepts a stream its offer had
// disabled (port 0) takes no ports for it: the offerer hears it rejected.
// Before, the answer took two pairs, and could fail for lack of them after
// B had picked up.
func TestAnswerTakesNoPorts(t *testing.T) {
	r := newRelay(t, 28850, 28859)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	mustRewrite(t, s, media.SideA, append(sdpFor("a", 5004, 5005), "m=video 0 RTP/AVP 96\r\n"...))
	toA := mustRewrite(t, s, media.SideB, videoOffer("b", 6004))
	if ports := relayPorts(t, toA); len(ports) != 2 || ports[0] == 0 || ports[1] != 0 {
		t.Fatalf("answer to A has ports %v, want [relay 0]:\n%s", ports, toA)
	}
	if strings.Contains(string(toA), "H264") {
		t.Errorf("the rejected stream kept its attributes:\n%s", toA)
	}
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("PortsInUse = %d, want 4: the answer took ports", got)
	}
}

// TestReanswerWithMoreStreamsThanOffered: the answer to a re-offer (a
// mirrored re-INVITE) with more m= lines than the offer breaks RFC 3264 6:
// RewriteAnswer refuses it, takes no ports and changes nothing, and the
// proper answer still goes through. Before, only the call's first answer
// was checked, and this one took ports for a stream nobody offered.
func TestReanswerWithMoreStreamsThanOffered(t *testing.T) {
	r := newRelay(t, 28860, 28879)
	a, b := listen(t), listen(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	toB := mustRewrite(t, s, media.SideA, sdpFor("a", a.Port(), a.Port()+1))
	toA := mustRewrite(t, s, media.SideB, sdpFor("b", b.Port(), b.Port()+1))
	relayA, relayB := relayPorts(t, toA)[0], relayPorts(t, toB)[0]

	mustRewrite(t, s, media.SideA, sdpFor("a", a.Port(), a.Port()+1)) // A's re-offer, one stream
	if out, err := s.RewriteAnswer(media.SideB, videoOffer("b", b.Port())); !errors.Is(err, media.ErrMalformedSDP) || out != nil {
		t.Fatalf("re-answer with an extra stream: %q, %v; want ErrMalformedSDP", out, err)
	}
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("PortsInUse = %d, want 4: the refused answer took ports", got)
	}
	if ports := relayPorts(t, mustRewriteAnswer(t, s, media.SideB, sdpFor("b", b.Port(), b.Port()+1))); len(ports) != 1 || ports[0] != relayA {
		t.Fatalf("proper re-answer: ports %v, want [%d]", ports, relayA)
	}
	exchange(t, a, relayA, b, 3, "A after the refused re-answer")
	exchange(t, b, relayB, a, 3, "B after the refused re-answer")

	// An answer with nothing to answer is refused too.
	fresh := r.NewSession(zerolog.Nop())
	defer fresh.Close()
	if _, err := fresh.RewriteAnswer(media.SideB, sdpFor("b", 6004, 6005)); !errors.Is(err, media.ErrMalformedSDP) {
		t.Fatalf("answer without an offer: %v, want ErrMalformedSDP", err)
	}
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("PortsInUse = %d, want 4", got)
	}
}

// TestReanswerTakesNoPorts: a re-offer that adds a stream reserves it; an
// answer accepting a stream the re-offer disabled takes nothing for it.
func TestReanswerTakesNoPorts(t *testing.T) {
	r := newRelay(t, 28880, 28899)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	mustRewrite(t, s, media.SideA, sdpFor("a", 5004, 5005))
	mustRewrite(t, s, media.SideB, sdpFor("b", 6004, 6005))
	mustRewrite(t, s, media.SideA, append(sdpFor("a", 5004, 5005), "m=video 0 RTP/AVP 96\r\n"...))
	toA := mustRewriteAnswer(t, s, media.SideB, videoOffer("b", 6004))
	if ports := relayPorts(t, toA); len(ports) != 2 || ports[0] == 0 || ports[1] != 0 {
		t.Fatalf("re-answer to A has ports %v, want [relay 0]:\n%s", ports, toA)
	}
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("PortsInUse = %d, want 4: the re-answer took ports", got)
	}
}

func mustRewriteAnswer(t testing.TB, s *media.Session, from media.Side, sdp []byte) []byte {
	t.Helper()
	out, err := s.RewriteAnswer(from, sdp)
	if err != nil {
		t.Fatalf("RewriteAnswer from %v: %v", from, err)
	}
	return out
}

// TestSessionDirections: the session keeps what each side does on each
// stream as Rewrite accepted its latest SDP, so the call watch reads hold
// without parsing the body again; a stream the relay rejected is inactive.
func TestSessionDirections(t *testing.T) {
	r := newRelay(t, 28960, 28979)
	a, b := listen(t), listen(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	if got := s.Directions(media.SideA); got != nil {
		t.Fatalf("Directions before any SDP = %v, want nil", got)
	}
	offer := string(sdpFor("a", a.Port(), a.Port()+1)) + "a=sendonly\r\n"
	mustRewrite(t, s, media.SideA, []byte(offer))
	mustRewrite(t, s, media.SideB, []byte(string(sdpFor("b", b.Port(), b.Port()+1))+"a=recvonly\r\n"))
	if got := s.Directions(media.SideA); !slices.Equal(got, []media.Direction{media.DirSend}) {
		t.Fatalf("A's directions = %v, want [sendonly]", got)
	}
	if got := s.Directions(media.SideB); !slices.Equal(got, []media.Direction{media.DirRecv}) {
		t.Fatalf("B's directions = %v, want [recvonly]", got)
	}
	// A resumes and adds a stream the relay cannot carry: it is rejected,
	// and so reads inactive.
	mustRewrite(t, s, media.SideA, []byte(string(sdpFor("a", a.Port(), a.Port()+1))+"m=image 4004 udptl t38\r\n"))
	if got := s.Directions(media.SideA); !slices.Equal(got, []media.Direction{media.DirSendRecv, media.DirInactive}) {
		t.Fatalf("A's directions after the re-offer = %v, want [sendrecv inactive]", got)
	}
}
