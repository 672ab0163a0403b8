package media_test

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/media"
)

// TestStalePacketsNeverReachTheNextCall closes a call, has its parties keep
// sending RTP and RTCP to the relay ports they knew, and hands the same two
// pairs (the range holds no others) to a new call. The datagrams queued
// meanwhile must be discarded: neither the new parties nor the old ones
// receive any of them, and the new call forwards exactly its own packets.
func TestStalePacketsNeverReachTheNextCall(t *testing.T) {
	r := newRelay(t, 24400, 24403) // two pairs: one call
	a1, b1, a2, b2 := listen(t), listen(t), listen(t), listen(t)

	old := r.NewSession(zerolog.Nop())
	toB := mustRewrite(t, old, media.SideA, sdpFor("a", a1.Port(), a1.Port()+1))
	toA := mustRewrite(t, old, media.SideB, sdpFor("b", b1.Port(), b1.Port()+1))
	relayA, relayB := relayPorts(t, toA)[0], relayPorts(t, toB)[0]
	a1.SendPort(relayA, rtpPacket(t, 1, "old call"))
	b1.Recv()
	b1.SendPort(relayB, rtpPacket(t, 1, "old call"))
	a1.Recv()
	old.Close()

	stale := rtpPacket(t, 99, "stale")
	for i := range 20 {
		a1.SendPort(relayA, stale)
		b1.SendPort(relayB, stale)
		a1.SendPort(relayA+1, rtcpRR(uint32(i)))
		b1.SendPort(relayB+1, rtcpRR(uint32(i)))
	}
	// Loopback delivery is done within sendto; the pause only makes sure
	// everything above is queued before the pairs are handed out again.
	time.Sleep(20 * time.Millisecond)

	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	toB2 := mustRewrite(t, s, media.SideA, sdpFor("a", a2.Port(), a2.Port()+1))
	toA2 := mustRewrite(t, s, media.SideB, sdpFor("b", b2.Port(), b2.Port()+1))
	relayA2, relayB2 := relayPorts(t, toA2)[0], relayPorts(t, toB2)[0]
	if relayA2 != relayA && relayA2 != relayB || relayB2 != relayA && relayB2 != relayB {
		t.Fatalf("new call on ports %d/%d, want the old call's %d/%d", relayA2, relayB2, relayA, relayB)
	}

	fromA, fromB := rtpPacket(t, 2, "new call A"), rtpPacket(t, 2, "new call B")
	a2.SendPort(relayA2, fromA)
	if got := b2.Recv().Data; !bytes.Equal(got, fromA) {
		t.Fatalf("B of the new call got %q first, want A's packet", got)
	}
	b2.SendPort(relayB2, fromB)
	if got := a2.Recv().Data; !bytes.Equal(got, fromB) {
		t.Fatalf("A of the new call got %q first, want B's packet", got)
	}
	for _, e := range []*endpoint{a1, b1, a2, b2} {
		e.ExpectNothing()
	}
	st := s.Stats()
	want := media.Flow{RTPPackets: 1, RTPBytes: uint64(len(fromA)), Latched: 1}
	if st.AToB != want || st.BToA.RTPPackets != 1 || st.BToA.Dropped != 0 || st.BToA.RTCPPackets != 0 || st.BToA.Strangers != 0 {
		t.Fatalf("new call's stats %+v: stale packets were read as its own", st)
	}
}

// TestNothingForwardedAfterClose streams B to A and closes the session
// mid-stream: A must receive at most what the session counted as forwarded
// when Close returned, although the sockets stay open.
func TestNothingForwardedAfterClose(t *testing.T) {
	r := newRelay(t, 24500, 24599)
	a, b := listen(t), listen(t)
	s := r.NewSession(zerolog.Nop())
	toB := mustRewrite(t, s, media.SideA, sdpFor("a", a.Port(), a.Port()+1))
	mustRewrite(t, s, media.SideB, sdpFor("b", b.Port(), b.Port()+1))
	relayB := netip.AddrPortFrom(loopback, uint16(relayPorts(t, toB)[0]))

	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		pkt := rtpPacket(t, 1, "stream")
		for i := 0; i < 100000; i++ {
			select {
			case <-done:
				return
			default:
			}
			b.Conn().WriteToUDPAddrPort(pkt, relayB)
			if i%32 == 0 {
				time.Sleep(100 * time.Microsecond) // stay under A's socket buffer
			}
		}
	}()
	waitFor(t, "packets to flow", func() bool { return s.Stats().BToA.RTPPackets > 100 })
	s.Close()
	forwarded := s.Stats().BToA.RTPPackets
	time.Sleep(20 * time.Millisecond) // B keeps sending to the still-bound port
	close(done)
	<-stopped

	// Everything forwarded has arrived once A has heard nothing for 200 ms.
	var received uint64
	for range 100 {
		received = uint64(a.Received())
		time.Sleep(200 * time.Millisecond)
		if uint64(a.Received()) == received {
			break
		}
	}
	if received > forwarded {
		t.Fatalf("A received %d packets, the session forwarded %d before Close returned", received, forwarded)
	}
	if received == 0 {
		t.Fatalf("A received nothing: the stream never flowed")
	}
}

// TestRelayCloseUnbindsIdlePorts: ports kept bound between calls are
// released by Relay.Close, so another socket can take them.
func TestRelayCloseUnbindsIdlePorts(t *testing.T) {
	r, err := media.NewRelay(media.Config{IP: loopback, PortMin: 24600, PortMax: 24603})
	if err != nil {
		t.Fatal(err)
	}
	s := r.NewSession(zerolog.Nop())
	mustRewrite(t, s, media.SideA, sdpFor("a", 5004, 5005))
	mustRewrite(t, s, media.SideB, sdpFor("b", 6004, 6005))
	s.Close()
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("PortsInUse = %d with no session", got)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for port := 24600; port <= 24603; port++ {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(port))))
		if err != nil {
			t.Fatalf("port %d still bound after Relay.Close: %v", port, err)
		}
		c.Close()
	}
}

// TestConcurrentCloseWaitsForTheFirst: two callers close a session at once
// (the call hanging up while the relay shuts down); whichever returns second
// must not return before the ports are back, as the first did.
func TestConcurrentCloseWaitsForTheFirst(t *testing.T) {
	r := newRelay(t, 24800, 24899)
	for i := range 200 {
		s := r.NewSession(zerolog.Nop())
		mustRewrite(t, s, media.SideA, sdpFor("a", 5004, 5005))
		mustRewrite(t, s, media.SideB, sdpFor("b", 6004, 6005))
		inUse := make(chan int, 2)
		for range 2 {
			go func() {
				s.Close()
				inUse <- r.PortsInUse()
			}()
		}
		for range 2 {
			if got := <-inUse; got != 0 {
				t.Fatalf("round %d: a Close returned with %d ports still held", i, got)
			}
		}
	}
}
