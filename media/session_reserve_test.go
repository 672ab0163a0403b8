package media_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/media"
)

// fillRange opens sessions whose offers take the relay's free pairs until
// none is left (at most limit sessions); they close with the test.
func fillRange(t *testing.T, r *media.Relay, limit int) {
	t.Helper()
	for i := range limit {
		s := r.NewSession(zerolog.Nop())
		t.Cleanup(s.Close)
		if _, err := s.Rewrite(media.SideA, sdpFor("x", 7004, 7005)); err != nil {
			if !errors.Is(err, media.ErrPortsExhausted) {
				t.Fatalf("filler %d: %v", i, err)
			}
			return
		}
	}
	t.Fatal("the range never filled up")
}

// videoFirst is an offer whose first m= line is video, its second audio.
func videoFirst(user string, video, audio int) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=%s 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=video %d RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", user, video, audio))
}

// TestReserveCarriesLateOffer: ports reserved before any SDP are the ones
// B's offer (in its 2xx) and A's answer (in its ACK) use; neither takes a
// port more, even with the range full meanwhile, and media flows both ways.
// Before, a late offer took its ports only when B's 2xx came, and failed
// then on a full range.
func TestReserveCarriesLateOffer(t *testing.T) {
	r := newRelay(t, 28800, 28811) // six pairs
	a, b := listen(t), listen(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	if err := s.Reserve(1); err != nil {
		t.Fatal(err)
	}
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("PortsInUse = %d after Reserve(1), want 4 (both pairs of one stream)", got)
	}
	fillRange(t, r, 8)
	full := r.PortsInUse()

	toA, err := s.Rewrite(media.SideB, sdpFor("b", b.Port(), b.Port()+1))
	if err != nil {
		t.Fatalf("B's offer on a full range after Reserve: %v", err)
	}
	toB := mustRewrite(t, s, media.SideA, sdpFor("a", a.Port(), a.Port()+1))
	if got := r.PortsInUse(); got != full {
		t.Fatalf("PortsInUse = %d after offer and answer, want %d: they took ports besides the reserved", got, full)
	}
	relayA, relayB := relayPorts(t, toA)[0], relayPorts(t, toB)[0]
	if relayA == 0 || relayB == 0 {
		t.Fatalf("relay ports %d (to A), %d (to B)", relayA, relayB)
	}
	exchange(t, a, relayA, b, 3, "A to B")
	exchange(t, b, relayB, a, 3, "B to A")

	s.Close()
	if got := r.PortsInUse(); got != full-4 {
		t.Fatalf("PortsInUse = %d after Close, want %d", got, full-4)
	}
}

// TestReserveLateOfferStreams: B's late offer bringing more streams than
// were reserved. The reserved pairs go to audio whatever its place; a
// stream beyond them gets ports if some are free, else is rejected (port 0
// to A and, in A's answer, to B) while the audio goes through. Unused
// reserved pairs go back once the offer came.
func TestReserveLateOfferStreams(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reserve   int
		full      bool   // the range fills up between Reserve and the offer
		offer     []byte // B's, in its 2xx
		answer    []byte // A's, in its ACK
		wantToA   []int  // 0: rejected; 1: a relay port
		wantToB   []int
		wantPorts int // PortsInUse of this session once answered
	}{
		{
			name: "audio and video, ports free", reserve: 1,
			offer:   videoOffer("b", 6004),
			answer:  videoOffer("a", 5004),
			wantToA: []int{1, 1}, wantToB: []int{1, 1}, wantPorts: 8,
		},
		{
			name: "audio and video, range full", reserve: 1, full: true,
			offer:   videoOffer("b", 6004),
			answer:  append(sdpFor("a", 5004, 5005), "m=video 0 RTP/AVP 96\r\n"...),
			wantToA: []int{1, 0}, wantToB: []int{1, 0}, wantPorts: 4,
		},
		{
			// A answering the rejected stream with a port breaks RFC
			// 3264; B still hears it rejected and no port is taken.
			name: "audio and video, range full, A accepts the rejected video", reserve: 1, full: true,
			offer:   videoOffer("b", 6004),
			answer:  videoOffer("a", 5004),
			wantToA: []int{1, 0}, wantToB: []int{1, 0}, wantPorts: 4,
		},
		{
			name: "video first, range full", reserve: 1, full: true,
			offer:   videoFirst("b", 6010, 6004),
			answer:  videoFirst("a", 0, 5004),
			wantToA: []int{0, 1}, wantToB: []int{0, 1}, wantPorts: 4,
		},
		{
			name: "two reserved, one offered", reserve: 2,
			offer:   sdpFor("b", 6004, 6005),
			answer:  sdpFor("a", 5004, 5005),
			wantToA: []int{1}, wantToB: []int{1}, wantPorts: 4,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRelay(t, 28820, 28839) // ten pairs
			s := r.NewSession(zerolog.Nop())
			defer s.Close()
			if err := s.Reserve(tc.reserve); err != nil {
				t.Fatal(err)
			}
			others := 0
			if tc.full {
				fillRange(t, r, 10)
				others = r.PortsInUse() - 4*tc.reserve
			}
			toA, err := s.Rewrite(media.SideB, tc.offer)
			if err != nil {
				t.Fatalf("B's offer: %v", err)
			}
			toB, err := s.Rewrite(media.SideA, tc.answer)
			if err != nil {
				t.Fatalf("A's answer: %v", err)
			}
			for dir, c := range map[string]struct {
				sdp  []byte
				want []int
			}{"A": {toA, tc.wantToA}, "B": {toB, tc.wantToB}} {
				got := relayPorts(t, c.sdp)
				if len(got) != len(c.want) {
					t.Fatalf("SDP to %s has ports %v, want %d m= lines", dir, got, len(c.want))
				}
				for i := range got {
					if (got[i] != 0) != (c.want[i] != 0) {
						t.Errorf("SDP to %s: m= line %d has port %d, want %s:\n%s", dir, i+1, got[i],
							map[bool]string{true: "a relay port", false: "0 (rejected)"}[c.want[i] != 0], c.sdp)
					}
				}
			}
			if got := r.PortsInUse() - others; got != tc.wantPorts {
				t.Errorf("the session holds %d ports, want %d", got, tc.wantPorts)
			}
			s.Close()
			if got := r.PortsInUse(); got != others {
				t.Errorf("PortsInUse = %d after Close, want %d", got, others)
			}
		})
	}
}

// TestReserveAllOrNothing: Reserve on a range without enough free pairs
// fails with ErrPortsExhausted and takes nothing; a session closed with
// its reservation unused gives every port back; a closed session reserves
// nothing; a count out of range is an error.
func TestReserveAllOrNothing(t *testing.T) {
	r := newRelay(t, 28840, 28845) // three pairs
	s := r.NewSession(zerolog.Nop())
	if err := s.Reserve(2); !errors.Is(err, media.ErrPortsExhausted) {
		t.Fatalf("Reserve(2) with three pairs: %v, want ErrPortsExhausted", err)
	}
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("PortsInUse = %d after the failed Reserve, want 0", got)
	}
	if err := s.Reserve(1); err != nil {
		t.Fatal(err)
	}
	other := r.NewSession(zerolog.Nop())
	defer other.Close()
	if err := other.Reserve(1); !errors.Is(err, media.ErrPortsExhausted) {
		t.Fatalf("Reserve(1) with one pair free: %v, want ErrPortsExhausted", err)
	}
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("PortsInUse = %d, want 4", got)
	}
	s.Close()
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("PortsInUse = %d after closing the reserved session, want 0", got)
	}
	if err := s.Reserve(1); !errors.Is(err, media.ErrSessionClosed) {
		t.Fatalf("Reserve after Close: %v, want ErrSessionClosed", err)
	}
	for _, n := range []int{0, -1, 17} {
		if err := other.Reserve(n); err == nil || errors.Is(err, media.ErrPortsExhausted) {
			t.Errorf("Reserve(%d): %v, want an argument error", n, err)
		}
	}
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("PortsInUse = %d, want 0", got)
	}
}

// TestReserveOfferUpdatedBeforeAnswer: B's late offer first in a 183
// (audio), then in its 200 with a video stream added, on a range that
// filled up in between: the 200 goes through with the video rejected, not
// failed after B picked up.
func TestReserveOfferUpdatedBeforeAnswer(t *testing.T) {
	r := newRelay(t, 28900, 28919)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	if err := s.Reserve(1); err != nil {
		t.Fatal(err)
	}
	mustRewrite(t, s, media.SideB, sdpFor("b", 6004, 6005)) // 183
	fillRange(t, r, 10)
	toA, err := s.Rewrite(media.SideB, videoOffer("b", 6004)) // 200
	if err != nil {
		t.Fatalf("B's 200 adding video on a full range: %v", err)
	}
	if ports := relayPorts(t, toA); len(ports) != 2 || ports[0] == 0 || ports[1] != 0 {
		t.Fatalf("offer to A has ports %v, want [relay 0]", ports)
	}
	mustRewrite(t, s, media.SideA, append(sdpFor("a", 5004, 5005), "m=video 0 RTP/AVP 96\r\n"...))
	// Answered: a re-offer is all or nothing again.
	if _, err := s.Rewrite(media.SideB, videoOffer("b", 6004)); !errors.Is(err, media.ErrPortsExhausted) {
		t.Fatalf("re-offer of the video on a full range after the answer: %v, want ErrPortsExhausted", err)
	}
}
