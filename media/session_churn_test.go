package media_test

import (
	"errors"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/media"
)

// TestTenThousandSessionsLeakNothing opens, rewrites both ways and closes
// 10,000 sessions on a 100-pair range, so every pair is handed out and taken
// back about 200 times (bound once, then reused); ports and goroutines must
// all come back, between sessions and after Relay.Close.
func TestTenThousandSessionsLeakNothing(t *testing.T) {
	const sessions = 10000
	a, b := listen(t), listen(t) // their readers are the test's, not the relay's
	before := runtime.NumGoroutine()
	r := newRelay(t, 22000, 22199)
	offer, answer := sdpFor("a", a.Port(), a.Port()+1), sdpFor("b", b.Port(), b.Port()+1)
	for i := range sessions {
		s := r.NewSession(zerolog.Nop())
		mustRewrite(t, s, media.SideA, offer)
		toA := mustRewrite(t, s, media.SideB, answer)
		if i%1000 == 0 {
			// Now and then push a packet through, so sessions closed with
			// traffic in flight are part of the churn.
			a.SendPort(relayPorts(t, toA)[0], rtpPacket(t, uint16(i), "x"))
			b.Recv()
		}
		if got := r.PortsInUse(); got != 4 {
			t.Fatalf("session %d: PortsInUse = %d, want 4", i, got)
		}
		s.Close()
		s.Close() // idempotent
		if i%1000 == 0 {
			// Close has waited for the forwarding goroutines; they may
			// still be counted for the instant it takes them to exit.
			waitFor(t, "forwarding goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
		}
	}
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("PortsInUse = %d after closing every session", got)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("PortsInUse = %d after Relay.Close", got)
	}
	after := runtime.NumGoroutine()
	for i := 0; i < 200 && after > before; i++ {
		time.Sleep(10 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: %d before, %d after\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// TestConcurrentRewriteTrafficAndClose runs re-offers (each moving A's
// address, so the latch resets), Stats and LastPacket against packets flowing
// both ways, then Close while all of it is still going; run with -race.
func TestConcurrentRewriteTrafficAndClose(t *testing.T) {
	r := newRelay(t, 22200, 22299)
	a1, a2, b := listen(t), listen(t), listen(t)
	s := r.NewSession(zerolog.Nop())
	offers := [][]byte{sdpFor("a", a1.Port(), a1.Port()+1), sdpFor("a", a2.Port(), a2.Port()+1)}
	toB := mustRewrite(t, s, media.SideA, offers[0])
	toA := mustRewrite(t, s, media.SideB, sdpFor("b", b.Port(), b.Port()+1))
	relayA, relayB := relayPorts(t, toA)[0], relayPorts(t, toB)[0]

	done := make(chan struct{})
	var senders sync.WaitGroup
	send := func(from *endpoint, to int) {
		defer senders.Done()
		pkt := rtpPacket(t, 1, "concurrent")
		dst := netip.AddrPortFrom(loopback, uint16(to))
		for i := 0; i < 20000; i++ {
			select {
			case <-done:
				return
			default:
			}
			from.Conn().WriteToUDPAddrPort(pkt, dst) // errors after Close are expected
			if i%64 == 0 {
				time.Sleep(time.Millisecond) // stay under the socket buffers
			}
		}
	}
	senders.Add(2)
	go send(a1, relayA)
	go send(b, relayB)
	waitFor(t, "traffic both ways", func() bool {
		st := s.Stats()
		return st.AToB.RTPPackets > 0 && st.BToA.RTPPackets > 0
	})

	for i := 0; i < 200; i++ {
		if _, err := s.Rewrite(media.SideA, offers[i%2]); err != nil {
			t.Fatal(err)
		}
		s.Stats()
		s.LastPacket()
	}
	closed := make(chan struct{})
	go func() {
		for i := 0; i < 1000; i++ {
			if _, err := s.Rewrite(media.SideA, offers[i%2]); err != nil {
				if !errors.Is(err, media.ErrSessionClosed) {
					t.Errorf("Rewrite during Close: %v", err)
				}
				break
			}
		}
		close(closed)
	}()
	s.Close()
	<-closed
	close(done)
	senders.Wait()

	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("PortsInUse = %d after Close", got)
	}
}
