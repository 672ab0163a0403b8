package media_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/media"
)

// BenchmarkForward sends G.711-sized RTP packets sender → relay → sink over
// loopback, keeping up to window packets in flight. allocs/op counts the
// whole process, relay goroutines included, after a warm-up that does the
// one-off latch.
func BenchmarkForward(b *testing.B) {
	const window = 32
	r := newRelay(b, 23000, 23099)
	sender, sink := testkit.ListenUDP(b), testkit.ListenUDP(b)
	senderPort, sinkPort := sender.LocalAddr().(*net.UDPAddr).Port, sink.LocalAddr().(*net.UDPAddr).Port
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	mustRewrite(b, s, media.SideA, sdpFor("a", senderPort, senderPort+1))
	toA := mustRewrite(b, s, media.SideB, sdpFor("b", sinkPort, sinkPort+1))
	relayA := netip.AddrPortFrom(loopback, uint16(relayPorts(b, toA)[0]))
	pkt := rtpPacket(b, 1, string(make([]byte, 160))) // 20 ms of G.711
	buf := make([]byte, 2048)

	for range 100 {
		if _, err := sender.WriteToUDPAddrPort(pkt, relayA); err != nil {
			b.Fatal(err)
		}
		sink.SetReadDeadline(time.Now().Add(testkit.RecvTimeout))
		if _, _, err := sink.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}

	inflight, lost := 0, 0
	receive := func() {
		if _, _, err := sink.ReadFromUDPAddrPort(buf); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				b.Fatal(err)
			}
			lost += inflight // the kernel dropped some; start over
			inflight = 0
			sink.SetReadDeadline(time.Now().Add(time.Second))
			return
		}
		inflight--
	}
	sink.SetReadDeadline(time.Now().Add(time.Second))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := sender.WriteToUDPAddrPort(pkt, relayA); err != nil {
			b.Fatal(err)
		}
		inflight++
		if inflight == window {
			receive()
		}
		if i%1024 == 0 {
			sink.SetReadDeadline(time.Now().Add(time.Second))
		}
	}
	for inflight > 0 {
		receive()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(lost), "lost")
	if st := s.Stats().AToB; st.RTPPackets < uint64(b.N) {
		b.Logf("forwarded %d of %d (+100 warm-up)", st.RTPPackets, b.N)
	}
}

// BenchmarkRewrite is the per-SDP cost once the ports are bound (a 183/200
// or re-INVITE): parse, update, render, compare with the last version.
func BenchmarkRewrite(b *testing.B) {
	r := newRelay(b, 23100, 23199)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	offer, err := os.ReadFile("testdata/sdp/carrier-offer.sdp")
	if err != nil {
		b.Fatal(err)
	}
	mustRewrite(b, s, media.SideA, offer)
	b.ReportAllocs()
	b.SetBytes(int64(len(offer)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Rewrite(media.SideA, offer); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionChurn is the relay's share of one call's set-up and
// tear-down with no media: open a session, rewrite the offer (A to B) and
// the answer (B to A), each taking a port pair, and close it.
func BenchmarkSessionChurn(b *testing.B) {
	r := newRelay(b, 23200, 23399)
	offer, answer := sdpFor("a", 5004, 5005), sdpFor("b", 6004, 6005)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := r.NewSession(zerolog.Nop())
		if _, err := s.Rewrite(media.SideA, offer); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Rewrite(media.SideB, answer); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.StopTimer()
	if got := r.PortsInUse(); got != 0 {
		b.Fatalf("PortsInUse = %d after closing every session", got)
	}
}
