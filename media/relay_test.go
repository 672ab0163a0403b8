package media_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/media"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// Each test takes its own slice of ports below the kernel's ephemeral range
// (32768+), so tests do not compete with sockets bound to port 0.
func newRelay(t testing.TB, min, max int) *media.Relay {
	t.Helper()
	r, err := media.NewRelay(media.Config{IP: loopback, PortMin: min, PortMax: max})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// endpoint is a party's UDP socket on 127.0.0.1: the kit's RTP peer.
type endpoint = testkit.Peer

func listen(t testing.TB) *endpoint { return testkit.NewPeer(t) }

func rtpPacket(t testing.TB, seq uint16, payload string) []byte {
	t.Helper()
	p := rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x1234abcd},
		Payload: []byte(payload),
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rtcpRR is a receiver report with no report blocks (RFC 3550 6.4.2).
func rtcpRR(ssrc uint32) []byte {
	return []byte{0x80, 201, 0, 1, byte(ssrc >> 24), byte(ssrc >> 16), byte(ssrc >> 8), byte(ssrc)}
}

// sdpFor describes a party receiving RTP on rtpPort and RTCP on rtcpPort.
func sdpFor(user string, rtpPort, rtcpPort int) []byte {
	return testkit.Offer{User: user, Session: 1, Port: rtpPort, RTCP: rtcpPort, Formats: []int{0, 101}}.SDP()
}

// relayPorts reads the m= ports of a rewritten SDP and checks it points at
// the relay's address only.
func relayPorts(t testing.TB, sdp []byte) []int {
	t.Helper()
	ports, conns, err := testkit.MediaPorts(sdp)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if c != "c=IN IP4 127.0.0.1" {
			t.Fatalf("c= line %q does not point at the relay", c)
		}
	}
	return ports
}

// waitFor polls cond (bounded) for counters updated by relay goroutines.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func mustRewrite(t testing.TB, s *media.Session, from media.Side, sdp []byte) []byte {
	t.Helper()
	out, err := s.Rewrite(from, sdp)
	if err != nil {
		t.Fatalf("Rewrite from %v: %v", from, err)
	}
	return out
}

func TestRelayForwardsBothWaysWithLatching(t *testing.T) {
	r := newRelay(t, 21000, 21099)
	// A advertises aSDP/aSDPRTCP but sends from other ports, as behind NAT.
	aSDP, aSDPRTCP, aRTP, aRTCP := listen(t), listen(t), listen(t), listen(t)
	bRTP, bRTCP := listen(t), listen(t)

	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	toB := mustRewrite(t, s, media.SideA, sdpFor("alice", aSDP.Port(), aSDPRTCP.Port()))
	toA := mustRewrite(t, s, media.SideB, sdpFor("bob", bRTP.Port(), bRTCP.Port()))
	relayB, relayA := relayPorts(t, toB)[0], relayPorts(t, toA)[0]
	if relayA == relayB || relayA%2 != 0 || relayB%2 != 0 {
		t.Fatalf("relay ports A-facing %d, B-facing %d: want two distinct even ports", relayA, relayB)
	}
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("PortsInUse = %d, want 4", got)
	}
	if !s.LastPacket().IsZero() {
		t.Fatalf("LastPacket before any packet = %v", s.LastPacket())
	}

	// A → B, RTP: B gets the bytes unchanged from its relay port.
	fromA := rtpPacket(t, 1, "hello from A")
	aRTP.SendPort(relayA, fromA)
	d := bRTP.Recv()
	got, src := d.Data, d.From
	if !bytes.Equal(got, fromA) {
		t.Fatalf("B got %x, want %x", got, fromA)
	}
	if src != netip.AddrPortFrom(loopback, uint16(relayB)) {
		t.Fatalf("B got RTP from %v, want the B-facing relay port %d (symmetric RTP)", src, relayB)
	}
	var p rtp.Packet
	if err := p.Unmarshal(got); err != nil || p.SequenceNumber != 1 || string(p.Payload) != "hello from A" {
		t.Fatalf("B cannot read the RTP packet: %v %+v", err, p.Header)
	}

	// B → A, RTP: goes to where A actually sends from, not to A's SDP.
	fromB := rtpPacket(t, 7, "hello from B")
	bRTP.SendPort(relayB, fromB)
	d = aRTP.Recv()
	got, src = d.Data, d.From
	if !bytes.Equal(got, fromB) || src != netip.AddrPortFrom(loopback, uint16(relayA)) {
		t.Fatalf("A got %x from %v, want %x from relay port %d", got, src, fromB, relayA)
	}

	// RTCP both ways on the +1 ports, latched on its own.
	aRTCP.SendPort(relayA+1, rtcpRR(1))
	if d := bRTCP.Recv(); !bytes.Equal(d.Data, rtcpRR(1)) || d.From.Port() != uint16(relayB+1) {
		t.Fatalf("B got RTCP %x from %v", d.Data, d.From)
	}
	bRTCP.SendPort(relayB+1, rtcpRR(2))
	if d := aRTCP.Recv(); !bytes.Equal(d.Data, rtcpRR(2)) || d.From.Port() != uint16(relayA+1) {
		t.Fatalf("A got RTCP %x from %v", d.Data, d.From)
	}
	aSDP.ExpectNothing()
	aSDPRTCP.ExpectNothing()

	st := s.Stats()
	want := media.Stats{
		AToB: media.Flow{RTPPackets: 1, RTPBytes: uint64(len(fromA)), RTCPPackets: 1, RTCPBytes: 8, Latched: 2},
		BToA: media.Flow{RTPPackets: 1, RTPBytes: uint64(len(fromB)), RTCPPackets: 1, RTCPBytes: 8, Latched: 2},
	}
	if st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
	if last := s.LastPacket(); last.IsZero() || time.Since(last) > time.Minute {
		t.Fatalf("LastPacket = %v", last)
	}
	// The relay's totals count the live session, and keep counting it
	// once it is closed; a second session adds to them.
	if got := r.Stats(); got != want {
		t.Errorf("relay Stats with the call up = %+v, want %+v", got, want)
	}
	s.Close()
	s2 := r.NewSession(zerolog.Nop())
	s2.Close()
	if got := r.Stats(); got != want {
		t.Errorf("relay Stats after the call = %+v, want %+v", got, want)
	}
}

func TestRelayNeverSendsBackToSender(t *testing.T) {
	r := newRelay(t, 21100, 21199)

	t.Run("no SDP from B yet", func(t *testing.T) {
		a, b := listen(t), listen(t)
		s := r.NewSession(zerolog.Nop())
		defer s.Close()
		toB := mustRewrite(t, s, media.SideA, sdpFor("a", a.Port(), a.Port()+1))
		relayB := relayPorts(t, toB)[0]
		// B knows its relay port from the offer and sends early; until B's
		// SDP says who B is, nobody is accepted as B; nor may B get its own
		// packet.
		b.SendPort(relayB, rtpPacket(t, 1, "early"))
		waitFor(t, "the early packet to be dropped", func() bool { return s.Stats().BToA.Strangers == 1 })
		a.ExpectNothing()
		b.ExpectNothing()
	})

	t.Run("A and B at one address", func(t *testing.T) {
		ab, other := listen(t), listen(t)
		s := r.NewSession(zerolog.Nop())
		defer s.Close()
		mustRewrite(t, s, media.SideA, sdpFor("a", ab.Port(), other.Port()))
		toA := mustRewrite(t, s, media.SideB, sdpFor("b", ab.Port(), other.Port()))
		ab.SendPort(relayPorts(t, toA)[0], rtpPacket(t, 1, "loop?"))
		waitFor(t, "the looping packet to be dropped", func() bool { return s.Stats().AToB.Dropped == 1 })
		ab.ExpectNothing()
		if st := s.Stats(); st.AToB.RTPPackets != 0 || st.BToA.RTPPackets != 0 {
			t.Fatalf("forwarded a packet back to its sender: %+v", st)
		}
	})

	t.Run("normal call", func(t *testing.T) {
		a, b := listen(t), listen(t)
		s := r.NewSession(zerolog.Nop())
		defer s.Close()
		toB := mustRewrite(t, s, media.SideA, sdpFor("a", a.Port(), a.Port()+1))
		toA := mustRewrite(t, s, media.SideB, sdpFor("b", b.Port(), b.Port()+1))
		for i := range 20 {
			a.SendPort(relayPorts(t, toA)[0], rtpPacket(t, uint16(i), "a"))
			if got := b.Recv().Data; !bytes.Equal(got, rtpPacket(t, uint16(i), "a")) {
				t.Fatalf("B got %x", got)
			}
		}
		a.ExpectNothing()
		b.SendPort(relayPorts(t, toB)[0], rtpPacket(t, 99, "b"))
		a.Recv()
		b.ExpectNothing()
	})
}

func TestRelayDropsNonRTP(t *testing.T) {
	r := newRelay(t, 21200, 21299)
	a, b := listen(t), listen(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	mustRewrite(t, s, media.SideA, sdpFor("a", a.Port(), a.Port()+1))
	relayA := relayPorts(t, mustRewrite(t, s, media.SideB, sdpFor("b", b.Port(), b.Port()+1)))[0]

	stun := []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	for _, junk := range [][]byte{[]byte("hello world!"), stun, {0x80, 0, 1}} {
		a.SendPort(relayA, junk)
	}
	a.SendPort(relayA+1, []byte{0x80, 201, 0}) // RTCP shorter than a header
	waitFor(t, "4 drops", func() bool { return s.Stats().AToB.Dropped == 4 })
	good := rtpPacket(t, 5, "real")
	a.SendPort(relayA, good)
	if got := b.Recv().Data; !bytes.Equal(got, good) {
		t.Fatalf("B got %x, want the real packet %x (garbage forwarded?)", got, good)
	}
	// The relay counts a packet just after sending it: wait for the count,
	// then check it is exactly that one.
	waitFor(t, "the real packet counted", func() bool { return s.Stats().AToB.RTPPackets >= 1 })
	b.ExpectNothing()
	if st := s.Stats().AToB; st.RTPPackets != 1 || st.RTCPPackets != 0 {
		t.Fatalf("AToB = %+v, want 1 RTP packet forwarded", st)
	}
}

func TestRelayRelatchesWhenSDPChanges(t *testing.T) {
	r := newRelay(t, 21300, 21399)
	aOld, aNAT, aNew, aNAT2, b := listen(t), listen(t), listen(t), listen(t), listen(t)
	s, relayA, relayB := newCall(t, r, aOld, b)
	offer := sdpFor("a", aOld.Port(), aOld.Port()+1)
	toB := mustRewrite(t, s, media.SideA, offer) // the same SDP again: same rewrite

	roundTrip := func(from, to *endpoint, seq uint16) {
		t.Helper()
		if from != nil {
			from.SendPort(relayA, rtpPacket(t, seq, "a"))
			b.Recv()
		}
		pkt := rtpPacket(t, seq, "b")
		b.SendPort(relayB, pkt)
		if got := to.Recv().Data; !bytes.Equal(got, pkt) {
			t.Fatalf("got %x", got)
		}
	}
	roundTrip(aNAT, aNAT, 1) // latched to aNAT

	// The same SDP again (183 then 200) keeps the latch.
	if again := mustRewrite(t, s, media.SideA, offer); !bytes.Equal(again, toB) {
		t.Fatalf("same SDP gave a different rewrite:\n%s\nvs\n%s", again, toB)
	}
	roundTrip(nil, aNAT, 2)

	// A re-INVITE with a new address: B's packets go there until A sends.
	mustRewrite(t, s, media.SideA, sdpFor("a", aNew.Port(), aNew.Port()+1))
	roundTrip(nil, aNew, 3)
	roundTrip(aNAT2, aNAT2, 4)
	aOld.ExpectNothing()
	aNAT.ExpectNothing()
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("re-INVITE changed PortsInUse to %d, want 4 (ports reused)", got)
	}
}

func TestRewriteReusesPortsAndVersionsOrigin(t *testing.T) {
	r := newRelay(t, 21400, 21499)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	offer := sdpFor("a", 5004, 5005)
	first := mustRewrite(t, s, media.SideA, offer)
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("PortsInUse after offer = %d, want 4 (both pairs taken with the offer)", got)
	}
	if again := mustRewrite(t, s, media.SideA, offer); !bytes.Equal(first, again) {
		t.Fatalf("unchanged SDP changed the rewrite")
	}
	changed := bytes.Replace(offer, []byte("RTP/AVP 0 101"), []byte("RTP/AVP 0"), 1)
	second := mustRewrite(t, s, media.SideA, changed)
	o1, o2 := originFields(t, first), originFields(t, second)
	if o1[1] != o2[1] {
		t.Errorf("o= session id changed: %s -> %s", o1[1], o2[1])
	}
	if v1, v2 := atoi(t, o1[2]), atoi(t, o2[2]); v2 != v1+1 {
		t.Errorf("o= version %d -> %d, want +1 on a changed SDP", v1, v2)
	}
	if relayPorts(t, first)[0] != relayPorts(t, second)[0] {
		t.Errorf("re-offer moved the relay port")
	}

	answer := mustRewrite(t, s, media.SideB, sdpFor("b", 6004, 6005))
	if oa := originFields(t, answer); oa[1] == o1[1] {
		t.Errorf("A and B are shown the same o= session id %s", oa[1])
	}
	// A second stream added by a re-offer gets a new pair; a rejected one none.
	twoStreams := append(bytes.Clone(changed), []byte("m=video 5006 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=video 0 RTP/AVP 31\r\n")...)
	third := mustRewrite(t, s, media.SideA, twoStreams)
	ports := relayPorts(t, third)
	if len(ports) != 3 || ports[0] != relayPorts(t, first)[0] || ports[1] == 0 || ports[2] != 0 {
		t.Fatalf("ports %v: want the old audio port, a new video port and 0", ports)
	}
	if got := r.PortsInUse(); got != 8 {
		t.Fatalf("PortsInUse = %d, want 8", got)
	}
}

func originFields(t testing.TB, sdp []byte) []string {
	t.Helper()
	for _, l := range strings.Split(string(sdp), "\r\n") {
		if strings.HasPrefix(l, "o=") {
			f := strings.Fields(l[2:])
			if len(f) != 6 || f[0] != "xbridge" || f[5] != "127.0.0.1" {
				t.Fatalf("bad o= line %q", l)
			}
			return f
		}
	}
	t.Fatalf("no o= line in %q", sdp)
	return nil
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRewriteBadInputChangesNothing(t *testing.T) {
	r := newRelay(t, 21500, 21599)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	bad := [][]byte{
		nil,
		[]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 5004 RTP/AVP 0\r\n"), // no c=
		[]byte("INVITE sip:x@example.com SIP/2.0\r\n"),
		[]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nm=audio 5004 RTP/AVP 0\r\nm=audio x RTP/AVP 0\r\n"),
	}
	for _, sdp := range bad {
		out, err := s.Rewrite(media.SideA, sdp)
		if !errors.Is(err, media.ErrMalformedSDP) || out != nil {
			t.Errorf("Rewrite(%q) = %q, %v; want nil, ErrMalformedSDP", sdp, out, err)
		}
	}
	if _, err := s.Rewrite(media.Side(7), sdpFor("a", 5004, 5005)); err == nil {
		t.Errorf("Rewrite from an invalid side succeeded")
	}
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("malformed SDP allocated %d ports", got)
	}
	if st := s.Stats(); st != (media.Stats{}) {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestRewriteExhaustionChangesNothing(t *testing.T) {
	r := newRelay(t, 21600, 21605) // three pairs: one stream and a half
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	two := append(sdpFor("a", 5004, 5005), []byte("m=video 5006 RTP/AVP 96\r\n")...)
	if out, err := s.Rewrite(media.SideA, two); !errors.Is(err, media.ErrPortsExhausted) || out != nil {
		t.Fatalf("two streams on three pairs: %q, %v; want ErrPortsExhausted", out, err)
	}
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("failed rewrite left %d ports in use", got)
	}
	mustRewrite(t, s, media.SideA, sdpFor("a", 5004, 5005))
	s2 := r.NewSession(zerolog.Nop())
	defer s2.Close()
	if _, err := s2.Rewrite(media.SideA, sdpFor("a", 5004, 5005)); !errors.Is(err, media.ErrPortsExhausted) {
		t.Fatalf("second session on a full range: %v, want ErrPortsExhausted", err)
	}
	s.Close()
	mustRewrite(t, s2, media.SideA, sdpFor("a", 5004, 5005))
}

func TestPortAllocatorSkipsPortsHeldElsewhere(t *testing.T) {
	hold := func(port int) {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(port))))
		if err != nil {
			t.Skipf("port %d already taken on this machine: %v", port, err)
		}
		t.Cleanup(func() { c.Close() })
	}
	hold(21700) // RTP of the first pair
	hold(21703) // RTCP of the second pair
	r := newRelay(t, 21700, 21707)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	toB := mustRewrite(t, s, media.SideA, sdpFor("a", 5004, 5005))
	toA := mustRewrite(t, s, media.SideB, sdpFor("b", 6004, 6005))
	got := []int{relayPorts(t, toB)[0], relayPorts(t, toA)[0]}
	slices.Sort(got)
	if fmt.Sprint(got) != "[21704 21706]" {
		t.Fatalf("allocated %v, want 21704 and 21706 (21700 and 21703 are held)", got)
	}
	s2 := r.NewSession(zerolog.Nop())
	defer s2.Close()
	_, err := s2.Rewrite(media.SideA, sdpFor("a", 5004, 5005))
	if !errors.Is(err, media.ErrPortsExhausted) || !strings.Contains(err.Error(), "could not be bound") {
		t.Fatalf("err = %v, want ErrPortsExhausted naming the held pairs", err)
	}
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("PortsInUse = %d, want 4", got)
	}
}

// TestRelayPortsAreNotSequential: the ports of one call say nothing about
// the next call's. 200 calls hold 400 pairs of a 1000-pair range at once;
// taken in order, nearly every pair would be the previous one +2. Drawn at
// random from the 600 or more still free, each is previous+2 with a chance
// of at most 1/600: 15 or more such hits in 400 draws has a chance below
// 1e-15, so the test cannot flake.
func TestRelayPortsAreNotSequential(t *testing.T) {
	r := newRelay(t, 26000, 27999) // 1000 pairs
	var ports []int
	for range 200 {
		s := r.NewSession(zerolog.Nop())
		defer s.Close() // held, so each call draws from the pairs still free
		ports = append(ports, relayPorts(t, mustRewrite(t, s, media.SideA, sdpFor("a", 5004, 5005)))[0])
		ports = append(ports, relayPorts(t, mustRewrite(t, s, media.SideB, sdpFor("b", 6004, 6005)))[0])
	}
	sequential := 0
	for i := 1; i < len(ports); i++ {
		if ports[i] == ports[i-1]+2 {
			sequential++
		}
	}
	if sequential >= 15 {
		t.Fatalf("%d of %d relay ports were the previous one +2: allocation follows the range", sequential, len(ports))
	}
	if got := r.PortsInUse(); got != 800 {
		t.Fatalf("PortsInUse = %d, want 800", got)
	}
}

func TestNewRelayRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  media.Config
		opts []media.Option
		want string
	}{
		{"no IP", media.Config{PortMin: 20000, PortMax: 20010}, nil, "IP not set"},
		{"wildcard", media.Config{IP: netip.IPv4Unspecified(), PortMin: 20000, PortMax: 20010}, nil, "cannot advertise"},
		{"inverted", media.Config{IP: loopback, PortMin: 20010, PortMax: 20000}, nil, "port range"},
		{"zero", media.Config{IP: loopback, PortMin: 0, PortMax: 20000}, nil, "port range"},
		{"too high", media.Config{IP: loopback, PortMin: 65000, PortMax: 65536}, nil, "port range"},
		{"no pair", media.Config{IP: loopback, PortMin: 20001, PortMax: 20002}, nil, "no even/odd"},
		{"mapped", media.Config{IP: netip.MustParseAddr("::ffff:127.0.0.1"), PortMin: 20000, PortMax: 20010}, nil, "plain IPv4"},
		{"negative learning window", media.Config{IP: loopback, PortMin: 20000, PortMax: 20010},
			[]media.Option{media.WithLearningWindow(-time.Second)}, "learning window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := media.NewRelay(tt.cfg, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewRelay = %v, %v; want error containing %q", r, err, tt.want)
			}
		})
	}
}

func TestAdvertiseIPGoesIntoSDP(t *testing.T) {
	public := netip.MustParseAddr("198.51.100.1")
	r, err := media.NewRelay(media.Config{IP: loopback, PortMin: 24100, PortMax: 24199},
		media.WithAdvertiseIP(public), media.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	out := string(mustRewrite(t, s, media.SideA, sdpFor("a", 5004, 5005)))
	for _, want := range []string{"c=IN IP4 198.51.100.1\r\n", " IN IP4 198.51.100.1\r\n", "a=rtcp:"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "127.0.0.1") {
		t.Errorf("the bind address leaked into SDP:\n%s", out)
	}
}

func TestRelayCloseEndsSessions(t *testing.T) {
	r, err := media.NewRelay(media.Config{IP: loopback, PortMin: 21900, PortMax: 21999})
	if err != nil {
		t.Fatal(err)
	}
	s := r.NewSession(zerolog.Nop())
	mustRewrite(t, s, media.SideA, sdpFor("a", 5004, 5005))
	mustRewrite(t, s, media.SideB, sdpFor("b", 6004, 6005))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("PortsInUse after Close = %d", got)
	}
	if _, err := s.Rewrite(media.SideA, sdpFor("a", 5004, 5005)); !errors.Is(err, media.ErrSessionClosed) {
		t.Fatalf("Rewrite after relay Close: %v, want ErrSessionClosed", err)
	}
	late := r.NewSession(zerolog.Nop())
	if _, err := late.Rewrite(media.SideA, sdpFor("a", 5004, 5005)); !errors.Is(err, media.ErrSessionClosed) {
		t.Fatalf("Rewrite on a session made after Close: %v", err)
	}
	s.Close()
	late.Close()
}

// TestRewriteIPv6Input: an IPv4 relay cannot reach IPv6 media. An offer
// that has nothing else is refused (488 territory) and takes no port; in a
// mixed offer the IPv6 stream goes on rejected (port 0) and only the IPv4
// one gets relay ports.
func TestRewriteIPv6Input(t *testing.T) {
	r := newRelay(t, 24000, 24099)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	raw, err := os.ReadFile("testdata/sdp/rfc5118-ipv6-in-sdp.sdp")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := s.Rewrite(media.SideA, raw); !errors.Is(err, media.ErrUnsupportedMedia) || out != nil {
		t.Fatalf("IPv6-only offer on an IPv4 relay: %q, %v; want ErrUnsupportedMedia", out, err)
	}
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("refused offer took %d ports", got)
	}
	mixed, err := os.ReadFile("testdata/sdp/rfc5118-mult-ip-in-sdp.sdp")
	if err != nil {
		t.Fatal(err)
	}
	toB := mustRewrite(t, s, media.SideA, mixed)
	if ports := relayPorts(t, toB); len(ports) != 2 || ports[0] == 0 || ports[1] != 0 {
		t.Fatalf("ports %v, want the IPv4 audio relayed and the IPv6 video rejected", ports)
	}
	if bytes.Contains(toB, []byte("2001:db8")) {
		t.Fatalf("IPv6 address of A leaked:\n%s", toB)
	}
	// The offer reserves the audio's pair on each side (both legs); the
	// rejected video takes none.
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("PortsInUse = %d, want 4 (a pair per side, for the audio only)", got)
	}
}

func TestReofferWithPortZeroStopsStream(t *testing.T) {
	r := newRelay(t, 24200, 24299)
	a, b := listen(t), listen(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	offer := sdpFor("a", a.Port(), a.Port()+1)
	toB := mustRewrite(t, s, media.SideA, offer)
	mustRewrite(t, s, media.SideB, sdpFor("b", b.Port(), b.Port()+1))
	relayB := relayPorts(t, toB)[0]

	// A turns the stream off: B is told port 0, and B's packets stop.
	off := bytes.Replace(offer, []byte(fmt.Sprintf("m=audio %d ", a.Port())), []byte("m=audio 0 "), 1)
	if ports := relayPorts(t, mustRewrite(t, s, media.SideA, off)); ports[0] != 0 {
		t.Fatalf("stream turned off by A is offered to B on port %d", ports[0])
	}
	b.SendPort(relayB, rtpPacket(t, 1, "into the void"))
	waitFor(t, "B's packet to be dropped", func() bool { return s.Stats().BToA.Dropped == 1 })
	a.ExpectNothing()

	// Turned on again, the stream comes back on the same relay port.
	if got := relayPorts(t, mustRewrite(t, s, media.SideA, offer))[0]; got != relayB {
		t.Fatalf("stream back on port %d, want %d", got, relayB)
	}
	pkt := rtpPacket(t, 2, "back")
	b.SendPort(relayB, pkt)
	if got := a.Recv().Data; !bytes.Equal(got, pkt) {
		t.Fatalf("A got %x", got)
	}
	if got := r.PortsInUse(); got != 4 {
		t.Fatalf("PortsInUse = %d, want 4", got)
	}
}
