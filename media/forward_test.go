package media_test

import (
	"bytes"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/media"
)

func newRelayWith(t testing.TB, min, max int, opts ...media.Option) *media.Relay {
	t.Helper()
	r, err := media.NewRelay(media.Config{IP: loopback, PortMin: min, PortMax: max}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// newCall opens a session with A's offer naming a and B's answer naming b,
// and returns it with the relay ports facing A and B. It closes with the test.
func newCall(t *testing.T, r *media.Relay, a, b *endpoint) (s *media.Session, relayA, relayB int) {
	t.Helper()
	s = r.NewSession(zerolog.Nop())
	t.Cleanup(s.Close)
	toB := mustRewrite(t, s, media.SideA, sdpFor("a", a.Port(), a.Port()+1))
	toA := mustRewrite(t, s, media.SideB, sdpFor("b", b.Port(), b.Port()+1))
	return s, relayPorts(t, toA)[0], relayPorts(t, toB)[0]
}

// spray sends pkt from e to every port of [min, max] every few
// milliseconds until the returned stop is called (at most 20 s): a
// scanner, or a caller whose call ended and who keeps streaming.
func spray(e *endpoint, pkt []byte, ports ...int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, p := range ports {
				e.Conn().WriteToUDPAddrPort(pkt, netip.AddrPortFrom(loopback, uint16(p)))
			}
			select {
			case <-done:
				return
			case <-time.After(3 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// exchange has from send n RTP packets to relay port to and checks that
// dst receives exactly them, in order, and nothing else.
func exchange(t *testing.T, from *endpoint, to int, dst *endpoint, n int, payload string) {
	t.Helper()
	for i := range n {
		pkt := rtpPacket(t, uint16(i), payload)
		from.SendPort(to, pkt)
		if got := dst.Recv().Data; !bytes.Equal(got, pkt) {
			t.Fatalf("packet %d of %q: received %q", i, payload, got)
		}
	}
}

// TestIntruderGetsNothingAndInjectsNothing: a scanner sprays every port of
// the relay range from before the call is answered until after both
// parties have latched. It receives nothing, the parties receive only each
// other's packets, and the drops are counted as strangers. Before the
// source check, the intruder latched first and took the call's audio.
func TestIntruderGetsNothingAndInjectsNothing(t *testing.T) {
	r := newRelayWith(t, 28000, 28003) // one call: the intruder hits all its ports
	a, b, intruder := listen(t), listen(t), listen(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	toB := mustRewrite(t, s, media.SideA, sdpFor("a", a.Port(), a.Port()+1))
	stop := spray(intruder, rtpPacket(t, 666, "intruder"), 28000, 28001, 28002, 28003)
	defer stop()
	waitFor(t, "the intruder's packets to be dropped", func() bool {
		st := s.Stats()
		return st.AToB.Strangers > 0 && st.BToA.Strangers > 0
	})
	// B takes its time to answer, as people do; the intruder keeps at it.
	time.Sleep(1200 * time.Millisecond)
	toA := mustRewrite(t, s, media.SideB, sdpFor("b", b.Port(), b.Port()+1))
	relayA, relayB := relayPorts(t, toA)[0], relayPorts(t, toB)[0]
	time.Sleep(30 * time.Millisecond) // the intruder's packets reach the open windows first
	if got := s.LastPacketFrom(media.SideA); !got.IsZero() {
		t.Fatalf("LastPacketFrom(A) = %v before A sent: the intruder's packets counted", got)
	}

	exchange(t, a, relayA, b, 20, "from A")
	if s.LastPacketFrom(media.SideA).IsZero() || !s.LastPacketFrom(media.SideB).IsZero() {
		t.Fatalf("LastPacketFrom A %v, B %v: want A's packets only", s.LastPacketFrom(media.SideA), s.LastPacketFrom(media.SideB))
	}
	exchange(t, b, relayB, a, 20, "from B")
	time.Sleep(50 * time.Millisecond) // more intruder packets after both latched
	stop()
	a.ExpectNothing()
	b.ExpectNothing()
	intruder.ExpectNothing()

	st := s.Stats()
	if st.AToB.RTPPackets != 20 || st.BToA.RTPPackets != 20 {
		t.Fatalf("forwarded %d A->B, %d B->A; want exactly the parties' 20 each", st.AToB.RTPPackets, st.BToA.RTPPackets)
	}
	if st.AToB.Strangers == 0 || st.BToA.Strangers == 0 || st.AToB.Latched != 1 || st.BToA.Latched != 1 {
		t.Fatalf("stats %+v: want strangers counted both ways and one latch per party", st)
	}
	if s.LastPacket() != s.LastPacketFrom(media.SideB) {
		t.Fatalf("LastPacket %v, want B's %v (B sent last)", s.LastPacket(), s.LastPacketFrom(media.SideB))
	}
	if !s.LastPacketFrom(media.Side(5)).IsZero() {
		t.Fatalf("LastPacketFrom an invalid side is not zero")
	}
}

// TestNATSourceLearnedOnlyInsideWindow: A's SDP names one address and its
// packets come from another (its NAT's). Inside the learning window that
// source is latched and receives B's packets; after the window it is a
// stranger and B's packets go to the SDP address; the SDP address itself
// still latches then.
func TestNATSourceLearnedOnlyInsideWindow(t *testing.T) {
	r := newRelayWith(t, 28100, 28199, media.WithLearningWindow(time.Second))

	t.Run("inside", func(t *testing.T) {
		aSDP, aNAT, b := listen(t), listen(t), listen(t)
		s, relayA, relayB := newCall(t, r, aSDP, b)
		exchange(t, aNAT, relayA, b, 5, "A behind NAT")
		exchange(t, b, relayB, aNAT, 5, "to A's NAT")
		aSDP.ExpectNothing()
		if st := s.Stats().AToB; st.Latched != 1 || st.Strangers != 0 {
			t.Fatalf("A->B %+v: want A's NAT source latched", st)
		}
	})

	t.Run("the SDP address takes over", func(t *testing.T) {
		aSDP, aNAT, b := listen(t), listen(t), listen(t)
		s, relayA, relayB := newCall(t, r, aSDP, b)
		exchange(t, aNAT, relayA, b, 2, "first in the window")
		exchange(t, aSDP, relayA, b, 2, "from the SDP address")
		exchange(t, b, relayB, aSDP, 2, "to the SDP address")
		aNAT.SendPort(relayA, rtpPacket(t, 9, "no longer A"))
		waitFor(t, "the replaced source to be dropped", func() bool { return s.Stats().AToB.Strangers == 1 })
		aNAT.ExpectNothing()
		b.ExpectNothing()
		if st := s.Stats().AToB; st.Latched != 1 || st.Relatched != 1 {
			t.Fatalf("A->B %+v: want one latch and one re-latch", st)
		}
	})

	t.Run("outside", func(t *testing.T) {
		aSDP, aNAT, b := listen(t), listen(t), listen(t)
		s, relayA, relayB := newCall(t, r, aSDP, b)
		time.Sleep(1500 * time.Millisecond) // past the window
		aNAT.SendPort(relayA, rtpPacket(t, 1, "too late"))
		waitFor(t, "the late NAT source to be dropped", func() bool { return s.Stats().AToB.Strangers == 1 })
		exchange(t, b, relayB, aSDP, 3, "to A's SDP address")
		exchange(t, aSDP, relayA, b, 3, "from A's SDP address")
		aNAT.ExpectNothing()
		b.ExpectNothing()
		if st := s.Stats().AToB; st.Latched != 1 || st.RTPPackets != 3 {
			t.Fatalf("A->B %+v: want only the SDP address latched", st)
		}
	})
}

// TestReinviteReopensWindow: once the window has closed, a new NAT source
// is refused, and so it stays after an SDP that does not move A; a
// re-INVITE with a new address opens the window again.
func TestReinviteReopensWindow(t *testing.T) {
	r := newRelayWith(t, 28500, 28599, media.WithLearningWindow(time.Second))
	aSDP, aNAT, aNew, aNAT2, b := listen(t), listen(t), listen(t), listen(t), listen(t)
	s, relayA, relayB := newCall(t, r, aSDP, b)
	offer := sdpFor("a", aSDP.Port(), aSDP.Port()+1)
	exchange(t, aNAT, relayA, b, 3, "A behind NAT")

	time.Sleep(1500 * time.Millisecond) // past the window
	aNAT2.SendPort(relayA, rtpPacket(t, 1, "moved, no re-INVITE"))
	waitFor(t, "the new source to be dropped", func() bool { return s.Stats().AToB.Strangers == 1 })
	mustRewrite(t, s, media.SideA, offer) // same address: no new window
	aNAT2.SendPort(relayA, rtpPacket(t, 2, "still no re-INVITE"))
	waitFor(t, "the new source to be dropped again", func() bool { return s.Stats().AToB.Strangers == 2 })
	exchange(t, b, relayB, aNAT, 2, "to the latched source")

	// The re-INVITE moves A: its new NAT source is learned.
	mustRewrite(t, s, media.SideA, sdpFor("a", aNew.Port(), aNew.Port()+1))
	exchange(t, aNAT2, relayA, b, 3, "A after re-INVITE")
	exchange(t, b, relayB, aNAT2, 3, "to A's new source")
	aNAT.ExpectNothing()
	aSDP.ExpectNothing()
	aNew.ExpectNothing()
	if st := s.Stats().AToB; st.Latched != 2 || st.Strangers != 2 {
		t.Fatalf("A->B %+v: want two latches (before and after the re-INVITE) and two strangers", st)
	}
}

// zombieCheck runs the second call of the zombie tests: A behind NAT, B at
// its SDP address, while the first call's parties keep streaming. Nothing
// may cross between the calls either way.
func zombieCheck(t *testing.T, s *media.Session, relayA, relayB int, a2NAT, b2 *endpoint, zombies ...*endpoint) {
	t.Helper()
	exchange(t, a2NAT, relayA, b2, 20, "new call A")
	exchange(t, b2, relayB, a2NAT, 20, "new call B")
	for _, z := range zombies {
		z.ExpectNothing()
	}
	a2NAT.ExpectNothing()
	b2.ExpectNothing()
	st := s.Stats()
	if st.AToB.RTPPackets != 20 || st.BToA.RTPPackets != 20 || st.AToB.Strangers+st.BToA.Strangers == 0 {
		t.Fatalf("new call's stats %+v: want the parties' 20 each way and the zombies' packets dropped", st)
	}
}

// TestZombieNeverReachesTheNextCall: a call ends and its parties keep
// streaming to its relay ports (a lost BYE). The next call gets the same
// pairs (the range holds no others); it must neither receive the old
// parties' packets nor send its own audio to them, though its A is behind
// NAT and answers at once, before any window could tell the zombie apart
// by time.
func TestZombieNeverReachesTheNextCall(t *testing.T) {
	r := newRelayWith(t, 28200, 28203) // two pairs: one call
	a1, b1, a2SDP, a2NAT, b2 := listen(t), listen(t), listen(t), listen(t), listen(t)
	old, relayA, relayB := newCall(t, r, a1, b1)
	exchange(t, a1, relayA, b1, 2, "old call A")
	exchange(t, b1, relayB, a1, 2, "old call B")
	old.Close()

	zombie := rtpPacket(t, 99, "zombie")
	a1.SendPort(relayA, zombie) // queued before the pairs are handed out again
	b1.SendPort(relayB, zombie)
	stopA := spray(a1, zombie, relayA)
	defer stopA()
	stopB := spray(b1, zombie, relayB)
	defer stopB()

	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	toB2 := mustRewrite(t, s, media.SideA, sdpFor("a", a2SDP.Port(), a2SDP.Port()+1))
	toA2 := mustRewrite(t, s, media.SideB, sdpFor("b", b2.Port(), b2.Port()+1))
	relayA2, relayB2 := relayPorts(t, toA2)[0], relayPorts(t, toB2)[0]
	if relayA2+relayB2 != relayA+relayB {
		t.Fatalf("new call on ports %d/%d, want the old call's %d/%d", relayA2, relayB2, relayA, relayB)
	}
	time.Sleep(30 * time.Millisecond) // the zombies' packets reach the new call's windows
	stopA()
	stopB()
	zombieCheck(t, s, relayA2, relayB2, a2NAT, b2, a1, b1)
	a2SDP.ExpectNothing()
}

// TestZombieAfterRestart: the relay is closed and started again on the same
// range (a kill -9 and restart) while the parties of a call it carried keep
// streaming. The new process binds those ports afresh with no memory of
// them; the zombies, already sending while the new call rings, are never
// learned.
func TestZombieAfterRestart(t *testing.T) {
	a1, b1, a2SDP, a2NAT, b2 := listen(t), listen(t), listen(t), listen(t), listen(t)
	r1, err := media.NewRelay(media.Config{IP: loopback, PortMin: 28300, PortMax: 28303})
	if err != nil {
		t.Fatal(err)
	}
	_, relayA, relayB := newCall(t, r1, a1, b1)
	exchange(t, a1, relayA, b1, 2, "old call A")
	r1.Close()

	zombie := rtpPacket(t, 99, "zombie")
	stopA := spray(a1, zombie, relayA)
	defer stopA()
	stopB := spray(b1, zombie, relayB)
	defer stopB()

	r2 := newRelayWith(t, 28300, 28303)
	s := r2.NewSession(zerolog.Nop())
	defer s.Close()
	toB2 := mustRewrite(t, s, media.SideA, sdpFor("a", a2SDP.Port(), a2SDP.Port()+1))
	time.Sleep(1200 * time.Millisecond) // B rings
	toA2 := mustRewrite(t, s, media.SideB, sdpFor("b", b2.Port(), b2.Port()+1))
	relayA2, relayB2 := relayPorts(t, toA2)[0], relayPorts(t, toB2)[0]
	time.Sleep(30 * time.Millisecond) // the zombies' packets reach the new call's windows
	stopA()
	stopB()
	zombieCheck(t, s, relayA2, relayB2, a2NAT, b2, a1, b1)
	a2SDP.ExpectNothing()
}
