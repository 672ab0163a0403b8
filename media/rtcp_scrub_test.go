package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/internal/testkit"
)

// Identities a phone puts into RTCP; none may reach the other side.
const (
	idCNAME = "alice@192.168.1.5"
	idPhone = "+8613800000001"
	idHost  = "+8613800000001@host.example"
	idName  = "Alice Wang"
	idEmail = "alice@example.com"
)

var testToken = newRTCPToken(0x1111, 0x2222, SideA)

// rtcpPacket frames one RTCP packet by hand: header (count, type, length)
// and the body, which must already be a whole number of 32-bit words.
func rtcpPacket(count, pt byte, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	if len(b)%4 != 0 {
		panic(fmt.Sprintf("rtcpPacket: body of %d bytes is not whole words", len(b)))
	}
	h := []byte{0x80 | count, pt, 0, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(len(b)/4))
	return append(h, b...)
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// reportBlock is a 24-byte reception report whose bytes are recognisable.
func reportBlock(seed byte) []byte {
	b := make([]byte, 24)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

// senderInfo is the 20 bytes of NTP/RTP timestamps and counts in an SR.
func senderInfo() []byte { return bytes.Repeat([]byte{0xee}, 20) }

type sdesItem struct {
	typ  byte
	text string
}

// sdesChunk is an SSRC, its items and the null terminator padded to a word.
func sdesChunk(ssrc uint32, items ...sdesItem) []byte {
	b := be32(ssrc)
	for _, it := range items {
		b = append(b, it.typ, byte(len(it.text)))
		b = append(b, it.text...)
	}
	b = append(b, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// byeReason is a BYE's reason: length octet, text, nulls to a word.
func byeReason(text string) []byte {
	b := append([]byte{byte(len(text))}, text...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// withPadding sets the P bit on the (last) packet and appends pad bytes
// whose last one counts them; the others hold fill to prove they are zeroed.
func withPadding(pkt []byte, pad int, fill string) []byte {
	out := bytes.Clone(pkt)
	out[0] |= 0x20
	for i := 0; i < pad-1; i++ {
		out = append(out, fill[i%len(fill)])
	}
	out = append(out, byte(pad))
	binary.BigEndian.PutUint16(out[2:], uint16(len(out)/4-1))
	return out
}

func compound(pkts ...[]byte) []byte { return bytes.Join(pkts, nil) }

// Packets of the table; built once, cloned per use.
var (
	srWithBlocks = rtcpPacket(2, rtcpSR, be32(0xaaaa0001), senderInfo(), reportBlock(0x10), reportBlock(0x40))
	rrWithBlock  = rtcpPacket(1, rtcpRR, be32(0xbbbb0001), reportBlock(0x70))
	sdesAlice    = rtcpPacket(1, rtcpSDES, sdesChunk(0xaaaa0001,
		sdesItem{1, idCNAME}, sdesItem{2, idName}, sdesItem{3, idEmail}, sdesItem{4, idPhone},
		sdesItem{5, "Shanghai, 31.2N 121.5E"}, sdesItem{6, "Yealink T46U " + idPhone}, sdesItem{7, "on the way"},
		sdesItem{8, "\x05x-imsi460001234567890"}))
	sdesHost = rtcpPacket(1, rtcpSDES, sdesChunk(0xbbbb0001, sdesItem{1, idHost}))
	sdesTwo  = rtcpPacket(2, rtcpSDES, sdesChunk(0xaaaa0001, sdesItem{1, idCNAME}),
		sdesChunk(0xaaaa0002, sdesItem{1, idHost}, sdesItem{4, idPhone}))
	byeWithReason = rtcpPacket(1, rtcpBYE, be32(0xbbbb0001), byeReason("hung up by "+idPhone))
	byeBare       = rtcpPacket(1, rtcpBYE, be32(0xbbbb0001))
	appPhone      = rtcpPacket(3, rtcpAPP, be32(0xaaaa0001), []byte("XBRG"), []byte(idPhone+"\x00\x00"))
	pli           = rtcpPacket(1, rtcpPSFB, be32(0xaaaa0001), be32(0xbbbb0001))
	nack          = rtcpPacket(1, rtcpRTPFB, be32(0xaaaa0001), be32(0xbbbb0001), []byte{0, 7, 0, 3})
	// XR: a receiver reference time block (type 4, two words of NTP).
	xrBinary = rtcpPacket(0, rtcpXR, be32(0xaaaa0001), []byte{4, 0, 0, 2}, bytes.Repeat([]byte{0x33}, 8))
	// XR with a block of a type outside RFC 3611, holding text.
	xrUnknown = rtcpPacket(0, rtcpXR, be32(0xaaaa0001), []byte{4, 0, 0, 2}, bytes.Repeat([]byte{0x33}, 8),
		[]byte{42, 0, 0, 4}, []byte(idPhone+"\x00\x00"))
	ijReport = rtcpPacket(1, 195, be32(0x01020304))
	// An RR with a profile-specific extension after its report block.
	rrExtended = rtcpPacket(1, rtcpRR, be32(0xbbbb0001), reportBlock(0x70), []byte(idPhone+"\x00\x00"))
)

// scrubCase is one compound packet and what must come out of it.
type scrubCase struct {
	name    string
	in      []byte
	types   []uint8  // packet types left, in order
	reports [][]byte // packets that must come out byte-identical
	secrets []string // texts that must not come out
	// pionRejects: pion/rtcp v1.2.16 reads an SDES packet's padding as
	// another chunk, so it cannot check this case.
	pionRejects bool
}

var scrubCases = []scrubCase{
	{
		name:    "SR and SDES with every item type",
		in:      compound(srWithBlocks, sdesAlice),
		types:   []uint8{rtcpSR, rtcpSDES},
		reports: [][]byte{srWithBlocks},
		secrets: []string{idCNAME, idName, idEmail, idPhone, "Shanghai", "Yealink", "on the way", "460001234567890"},
	},
	{
		name:    "RR, SDES with number@host and BYE with reason",
		in:      compound(rrWithBlock, sdesHost, byeWithReason),
		types:   []uint8{rtcpRR, rtcpSDES, rtcpBYE},
		reports: [][]byte{rrWithBlock},
		secrets: []string{idHost, idPhone, "hung up"},
	},
	{
		name:    "APP removed from the middle",
		in:      compound(rrWithBlock, appPhone, sdesHost),
		types:   []uint8{rtcpRR, rtcpSDES},
		reports: [][]byte{rrWithBlock},
		secrets: []string{idPhone, idHost, "XBRG"},
	},
	{
		name:    "APP removed from the end",
		in:      compound(srWithBlocks, sdesAlice, appPhone),
		types:   []uint8{rtcpSR, rtcpSDES},
		reports: [][]byte{srWithBlocks},
		secrets: []string{idCNAME, idPhone, "XBRG"},
	},
	{
		name:    "two chunks (SSRC and CSRC)",
		in:      compound(rrWithBlock, sdesTwo),
		types:   []uint8{rtcpRR, rtcpSDES},
		reports: [][]byte{rrWithBlock},
		secrets: []string{idCNAME, idHost, idPhone},
	},
	{
		name:        "padding on the last packet is zeroed",
		in:          compound(rrWithBlock, withPadding(sdesHost, 8, idPhone)),
		types:       []uint8{rtcpRR, rtcpSDES},
		reports:     [][]byte{rrWithBlock},
		secrets:     []string{idHost, "8613800"},
		pionRejects: true,
	},
	{
		name:    "BYE without reason and feedback pass",
		in:      compound(rrWithBlock, pli, nack, byeBare),
		types:   []uint8{rtcpRR, rtcpPSFB, rtcpRTPFB, rtcpBYE},
		reports: [][]byte{rrWithBlock, pli, nack, byeBare},
	},
	{
		name:    "XR of RFC 3611 blocks passes",
		in:      compound(rrWithBlock, xrBinary),
		types:   []uint8{rtcpRR, rtcpXR},
		reports: [][]byte{rrWithBlock, xrBinary},
	},
	{
		name:    "XR with an unknown block and an unknown packet type are removed",
		in:      compound(rrWithBlock, xrUnknown, ijReport, sdesHost),
		types:   []uint8{rtcpRR, rtcpSDES},
		reports: [][]byte{rrWithBlock},
		secrets: []string{idPhone, idHost},
	},
	{
		name:    "RR profile extension zeroed",
		in:      compound(rrExtended),
		types:   []uint8{rtcpRR},
		secrets: []string{idPhone},
	},
	{
		name:  "lone APP leaves nothing",
		in:    compound(appPhone),
		types: nil,
	},
}

func TestScrubRTCP(t *testing.T) {
	for _, tt := range scrubCases {
		t.Run(tt.name, func(t *testing.T) {
			buf := bytes.Clone(tt.in)
			n, err := scrubRTCP(buf, &testToken)
			if err != nil {
				t.Fatalf("scrubRTCP: %v", err)
			}
			out := buf[:n]
			if n > len(tt.in) || n%4 != 0 {
				t.Fatalf("scrubbed to %d bytes from %d: must not grow and must be whole words", n, len(tt.in))
			}
			if got := packetTypes(t, out); !bytes.Equal(got, tt.types) {
				t.Fatalf("packet types left %v, want %v", got, tt.types)
			}
			for _, s := range tt.secrets {
				if run := leakedRun(out, []byte(s), testToken); run != "" {
					t.Errorf("output still holds %q of %q:\n%x", run, s, out)
				}
			}
			for _, r := range tt.reports {
				if !bytes.Contains(out, r) {
					t.Errorf("report/feedback packet %x not forwarded byte-identical in\n%x", r, out)
				}
			}
			checkScrubbed(t, out, testToken)
			if n == 0 {
				return
			}
			// Scrubbing is a fixed point: what went out scrubs to itself.
			again := bytes.Clone(out)
			if m, err := scrubRTCP(again, &testToken); err != nil || !bytes.Equal(again[:m], out) {
				t.Fatalf("scrubbing the output again: n=%d err=%v, changed it", m, err)
			}
			if tt.pionRejects {
				return
			}
			pkts, err := rtcp.Unmarshal(out)
			if err != nil {
				t.Fatalf("pion/rtcp cannot parse the scrubbed packet: %v\n%x", err, out)
			}
			for _, p := range pkts {
				sd, ok := p.(*rtcp.SourceDescription)
				if !ok {
					continue
				}
				for _, c := range sd.Chunks {
					for _, it := range c.Items {
						if want := tokenText(testToken, len(it.Text)); it.Text != want {
							t.Errorf("SDES %v = %q, want the token %q", it.Type, it.Text, want)
						}
						if it.Type == rtcp.SDESPrivate {
							t.Errorf("PRIV item left in place")
						}
					}
				}
			}
		})
	}
}

// A compound built by pion/rtcp (not by this file's builder) scrubs too.
func TestScrubRTCPPionCompound(t *testing.T) {
	in, err := rtcp.Marshal([]rtcp.Packet{
		&rtcp.SenderReport{SSRC: 7, NTPTime: 1 << 40, RTPTime: 160, PacketCount: 9, OctetCount: 1440,
			Reports: []rtcp.ReceptionReport{{SSRC: 8, FractionLost: 3, TotalLost: 4, LastSequenceNumber: 99, Jitter: 12}}},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 7, Items: []rtcp.SourceDescriptionItem{
			{Type: rtcp.SDESCNAME, Text: idCNAME}, {Type: rtcp.SDESPhone, Text: idPhone}, {Type: rtcp.SDESEmail, Text: idEmail},
		}}}},
		&rtcp.Goodbye{Sources: []uint32{7}, Reason: "call from " + idPhone},
	})
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Clone(in)
	n, err := scrubRTCP(buf, &testToken)
	if err != nil || n != len(in) {
		t.Fatalf("scrubRTCP = %d, %v; want %d, nil", n, err, len(in))
	}
	pkts, err := rtcp.Unmarshal(buf[:n])
	if err != nil || len(pkts) != 3 {
		t.Fatalf("pion/rtcp parses %d packets, %v", len(pkts), err)
	}
	sr := pkts[0].(*rtcp.SenderReport)
	if sr.SSRC != 7 || sr.PacketCount != 9 || len(sr.Reports) != 1 || sr.Reports[0].LastSequenceNumber != 99 {
		t.Errorf("sender report changed: %+v", sr)
	}
	if bye := pkts[2].(*rtcp.Goodbye); bye.Reason != tokenText(testToken, len(bye.Reason)) {
		t.Errorf("BYE reason %q is not the token", bye.Reason)
	}
	for _, s := range []string{idCNAME, idPhone, idEmail} {
		if run := leakedRun(buf[:n], []byte(s), testToken); run != "" {
			t.Errorf("output still holds %q of %q", run, s)
		}
	}
}

func TestScrubRTCPDropsMalformed(t *testing.T) {
	sr := srWithBlocks
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty datagram", nil, errRTCPEmpty},
		{"three bytes", []byte{0x80, rtcpRR, 0}, errRTCPTruncated},
		{"trailing bytes after the last packet", append(bytes.Clone(rrWithBlock), 0x80, rtcpRR), errRTCPTruncated},
		{"version 1", append([]byte{0x40}, rrWithBlock[1:]...), errRTCPVersion},
		{"version 2 then version 0", compound(rrWithBlock, append([]byte{0x00}, sdesHost[1:]...)), errRTCPVersion},
		{"length past the datagram", rrWithBlock[:len(rrWithBlock)-4], errRTCPLength},
		{"length of the second packet past the datagram", compound(rrWithBlock, sdesHost[:len(sdesHost)-4]), errRTCPLength},
		{"zero-length RR (no SSRC)", []byte{0x80, rtcpRR, 0, 0}, errRTCPShort},
		{"zero-length SR", []byte{0x80, rtcpSR, 0, 0}, errRTCPShort},
		{"SR claims more report blocks than it has", append([]byte{0x83}, sr[1:]...), errRTCPShort},
		{"padding bit on a packet that is not the last", compound(withPadding(rrWithBlock, 4, "x"), sdesHost), errRTCPPaddingLast},
		{"padding count zero", func() []byte { b := withPadding(sdesHost, 4, "abc"); b[len(b)-1] = 0; return b }(), errRTCPPadding},
		{"padding count not a multiple of 4", func() []byte { b := withPadding(sdesHost, 4, "abc"); b[len(b)-1] = 3; return b }(), errRTCPPadding},
		{"padding count longer than the packet", func() []byte { b := withPadding(rrWithBlock, 4, "abc"); b[len(b)-1] = 252; return b }(), errRTCPPadding},
		{"padding eats the SR's report block", func() []byte {
			b := withPadding(rtcpPacket(1, rtcpSR, be32(1), senderInfo(), reportBlock(0)), 4, "abc")
			b[len(b)-1] = 28
			return b
		}(), errRTCPShort},
		{"SDES claims two chunks, has one", append([]byte{0x82}, sdesHost[1:]...), errSDESChunk},
		{"SDES item longer than the packet", rtcpPacket(1, rtcpSDES, be32(1), []byte{1, 200, 'a', 'b'}), errSDESItem},
		{"SDES item length octet missing", rtcpPacket(1, rtcpSDES, be32(1), []byte{1, 1, 'a', 1}), errSDESItem},
		{"SDES chunk without terminator", rtcpPacket(1, rtcpSDES, be32(1), []byte{1, 2, 'a', 'b'}), errSDESItem},
		{"SDES bytes after the last chunk", rtcpPacket(1, rtcpSDES, sdesChunk(1, sdesItem{1, "ab"}), []byte(idPhone[:4])), errSDESTrailing},
		{"SDES with zero chunks but a body", rtcpPacket(0, rtcpSDES, []byte(idPhone[:4])), errSDESTrailing},
		{"BYE reason longer than the packet", rtcpPacket(1, rtcpBYE, be32(1), []byte{9, 'a', 'b', 'c'}), errBYEReason},
		{"BYE more sources than words", rtcpPacket(3, rtcpBYE, be32(1)), errRTCPShort},
		{"XR block longer than the packet", rtcpPacket(0, rtcpXR, be32(1), []byte{4, 0, 0, 9}), errXRBlock},
		{"XR cut short by the datagram", rtcpPacket(0, rtcpXR, be32(1), []byte{4, 0, 0, 0}, []byte{0, 0, 0, 0})[:14], errRTCPLength},
		{"XR without SSRC", []byte{0x80, rtcpXR, 0, 0}, errRTCPShort},
		{"PSFB without media SSRC", rtcpPacket(1, rtcpPSFB, be32(1)), errRTCPShort},
		{"APP without name", rtcpPacket(1, rtcpAPP, be32(1)), errRTCPShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := bytes.Clone(tt.in)
			n, err := scrubRTCP(buf, &testToken)
			if !errors.Is(err, tt.want) || n != 0 {
				t.Fatalf("scrubRTCP = %d, %v; want 0, %v", n, err, tt.want)
			}
		})
	}
}

// Tokens are stable for a session side, differ between sides and sessions,
// and are text a receiver can show.
func TestRTCPToken(t *testing.T) {
	a, b := newRTCPToken(5, 6, SideA), newRTCPToken(5, 6, SideB)
	if a != newRTCPToken(5, 6, SideA) {
		t.Fatal("token not stable")
	}
	if a == b || a == newRTCPToken(5, 7, SideA) || a == newRTCPToken(6, 5, SideA) {
		t.Fatalf("tokens collide: %s %s", a[:], b[:])
	}
	for _, c := range a {
		if !strings.ContainsRune("0123456789abcdef", rune(c)) {
			t.Fatalf("token %q is not lower-case hex", a[:])
		}
	}
}

// TestRelayScrubsRTCP sends identities through a live session over
// loopback, on the RTCP ports and muxed on the RTP ports, and checks what
// the far side receives.
func TestRelayScrubsRTCP(t *testing.T) {
	r, err := NewRelay(Config{IP: netip.MustParseAddr("127.0.0.1"), PortMin: 25300, PortMax: 25399})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	aRTP, aRTCP, bRTP, bRTCP := listenPeer(t), listenPeer(t), listenPeer(t), listenPeer(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	toB, err := s.Rewrite(SideA, peerSDP("alice", aRTP.Port(), aRTCP.Port()))
	if err != nil {
		t.Fatal(err)
	}
	toA, err := s.Rewrite(SideB, peerSDP("bob", bRTP.Port(), bRTCP.Port()))
	if err != nil {
		t.Fatal(err)
	}
	relayA, relayB := sdpPort(t, toA), sdpPort(t, toB)

	fromA := compound(srWithBlocks, sdesAlice, appPhone)
	aRTCP.SendPort(relayA+1, fromA)
	got := bRTCP.Recv().Data
	tokA := s.rtcpToken(SideA)
	for _, id := range []string{idCNAME, idName, idEmail, idPhone, "XBRG"} {
		if run := leakedRun(got, []byte(id), tokA); run != "" {
			t.Fatalf("B received %q of A's %q:\n%x", run, id, got)
		}
	}
	if !bytes.HasPrefix(got, srWithBlocks) {
		t.Fatalf("B's copy of A's sender report changed:\n%x", got)
	}
	cnameA := firstCNAME(t, got)
	if cnameA != tokenText(tokA, len(idCNAME)) {
		t.Fatalf("B sees A's CNAME as %q, want A's token", cnameA)
	}

	fromB := compound(rrWithBlock, sdesHost, byeWithReason)
	bRTCP.SendPort(relayB+1, fromB)
	got = aRTCP.Recv().Data
	if run := leakedRun(got, []byte(idHost), s.rtcpToken(SideB)); run != "" {
		t.Fatalf("A received %q of B's CNAME:\n%x", run, got)
	}
	if cnameB := firstCNAME(t, got); cnameB == tokenText(tokA, len(cnameB)) {
		t.Fatalf("A and B share the CNAME token %q", cnameB)
	}

	// The same CNAME again: the receiver must see the same token.
	aRTCP.SendPort(relayA+1, compound(rrWithBlock, sdesAlice))
	if again := firstCNAME(t, bRTCP.Recv().Data); again != cnameA {
		t.Fatalf("A's CNAME changed within the session: %q then %q", cnameA, again)
	}

	// Muxed RTCP (a=rtcp-mux) arrives on the RTP port and is scrubbed too;
	// RTP on the same port is untouched.
	aRTP.SendPort(relayA, compound(rrWithBlock, sdesAlice))
	if got = bRTP.Recv().Data; bytes.Contains(got, []byte(idCNAME)) || firstCNAME(t, got) != cnameA {
		t.Fatalf("muxed RTCP not scrubbed:\n%x", got)
	}
	rtpPkt := append([]byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0x12, 0x34, 0xab, 0xcd}, idPhone...)
	aRTP.SendPort(relayA, rtpPkt)
	if got = bRTP.Recv().Data; !bytes.Equal(got, rtpPkt) {
		t.Fatalf("RTP changed on the way: %x", got)
	}

	// Malformed RTCP and a lone APP are dropped and counted; the good packet
	// sent after them is the next thing B receives.
	before := settledStats(t, s).AToB
	aRTCP.SendPort(relayA+1, compound(rrWithBlock, sdesAlice[:len(sdesAlice)-4]))
	aRTCP.SendPort(relayA+1, appPhone)
	aRTCP.SendPort(relayA+1, rrWithBlock)
	if got = bRTCP.Recv().Data; !bytes.Equal(got, rrWithBlock) {
		t.Fatalf("B got %x, want only the well-formed RR", got)
	}
	bRTCP.ExpectNothing()
	after := s.Stats().AToB
	if after.Dropped != before.Dropped+2 || after.RTCPPackets != before.RTCPPackets+1 {
		t.Fatalf("stats before %+v after %+v: want 2 dropped and 1 RTCP packet more", before, after)
	}
}

// settledStats is the session's counters once the packets already
// received have been counted: the relay counts a packet just after sending
// it, so a receiver can see it a moment before its count moves. Bounded: 2 s.
func settledStats(t *testing.T, s *Session) Stats {
	t.Helper()
	prev := s.Stats()
	for range 100 {
		time.Sleep(20 * time.Millisecond)
		cur := s.Stats()
		if cur == prev {
			return cur
		}
		prev = cur
	}
	t.Fatalf("relay counters still moving: %+v", prev)
	return prev
}

// BenchmarkScrubRTCP is the per-packet cost of the scrub alone, on the
// compound packets phones send (the copy restoring the input is included).
func BenchmarkScrubRTCP(b *testing.B) {
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"RR+SDES(CNAME)", compound(rrWithBlock, sdesHost)},
		{"SR+SDES(8 items)", compound(srWithBlocks, sdesAlice)},
		{"RR+SDES+BYE", compound(rrWithBlock, sdesHost, byeWithReason)},
		{"SR+APP+SDES", compound(srWithBlocks, appPhone, sdesAlice)},
	} {
		b.Run(tt.name, func(b *testing.B) {
			buf := make([]byte, len(tt.in))
			tok := newRTCPToken(1, 2, SideA)
			b.ReportAllocs()
			b.SetBytes(int64(len(tt.in)))
			for b.Loop() {
				copy(buf, tt.in)
				if _, err := scrubRTCP(buf, &tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkForwardRTCP sends SR+SDES compounds sender → relay → sink over
// loopback, as BenchmarkForward does with RTP: allocs/op counts the whole
// process, relay goroutines and the scrub included.
func BenchmarkForwardRTCP(b *testing.B) {
	const window = 32
	r, err := NewRelay(Config{IP: netip.MustParseAddr("127.0.0.1"), PortMin: 25400, PortMax: 25499})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	sender, sink := testkit.ListenUDP(b), testkit.ListenUDP(b)
	senderPort, sinkPort := sender.LocalAddr().(*net.UDPAddr).Port, sink.LocalAddr().(*net.UDPAddr).Port
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	if _, err := s.Rewrite(SideA, peerSDP("a", senderPort, senderPort+1)); err != nil {
		b.Fatal(err)
	}
	toA, err := s.Rewrite(SideB, peerSDP("b", sinkPort-1, sinkPort))
	if err != nil {
		b.Fatal(err)
	}
	relayRTCP := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sdpPort(b, toA)+1))
	pkt := compound(srWithBlocks, sdesAlice)
	buf := make([]byte, 2048)
	for range 100 {
		if _, err := sender.WriteToUDPAddrPort(pkt, relayRTCP); err != nil {
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
			lost += inflight
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
		if _, err := sender.WriteToUDPAddrPort(pkt, relayRTCP); err != nil {
			b.Fatal(err)
		}
		if inflight++; inflight == window {
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
	if bytes.Contains(buf, []byte(idCNAME)) {
		b.Fatal("sink received an unscrubbed CNAME")
	}
}

// FuzzScrubRTCP: the scrub never panics, never grows the packet, leaves a
// packet that is valid and scrubs to itself, and what it sends does not
// depend on the text it was given: secret planted into every text the walk
// found (SDES values, BYE reason, padding, APP and unknown contents) must
// not show up as any run longer than 3 bytes, and the output must be the
// same byte for byte as without it.
func FuzzScrubRTCP(f *testing.F) {
	for _, tt := range scrubCases {
		f.Add(tt.in, []byte(idPhone))
	}
	f.Add(compound(srWithBlocks, sdesAlice, appPhone, withPadding(sdesTwo, 12, "pad")), []byte(idCNAME))
	f.Add(compound(rrWithBlock, xrUnknown, rrExtended), []byte{0, 0, 0, 0})
	f.Add([]byte{0x80, rtcpSDES, 0, 1, 0, 0, 0, 1}, []byte(""))
	f.Fuzz(func(t *testing.T, in, secret []byte) {
		buf := bytes.Clone(in)
		n, err := scrubRTCP(buf, &testToken)
		if n < 0 || n > len(in) {
			t.Fatalf("scrubbed %d bytes into %d", len(in), n)
		}
		if err != nil {
			return
		}
		out := buf[:n]
		if n%4 != 0 {
			t.Fatalf("output of %d bytes is not whole words", n)
		}
		checkScrubbed(t, out, testToken)
		again := bytes.Clone(out)
		if m, err := scrubRTCP(again, &testToken); n > 0 && (err != nil || !bytes.Equal(again[:m], out)) {
			t.Fatalf("output does not scrub to itself: %v\nin  %x\nout %x", err, in, out)
		}
		if n > 0 && pionParses(in) && !pionParses(out) {
			t.Fatalf("pion/rtcp parses the input but not the output\nin  %x\nout %x", in, out)
		}

		planted := bytes.Clone(in)
		regions := textRegions(t, planted)
		for i, r := range regions {
			for j := range r.n {
				if len(secret) > 0 {
					planted[r.off+j] = secret[(i+j)%len(secret)]
				} else {
					planted[r.off+j] ^= 0xa5
				}
			}
		}
		pn, err := scrubRTCP(planted, &testToken)
		if err != nil {
			t.Fatalf("input with texts replaced fails: %v", err)
		}
		for _, r := range regions {
			for k := 0; k+4 <= r.n; k++ {
				run := in[r.off+k : r.off+k+4]
				if !bytes.Contains(out, run) {
					continue
				}
				// A run also present with the text planted over came from
				// the packet's structure (SSRCs, lengths, the token).
				if !bytes.Contains(planted[:pn], run) {
					t.Fatalf("output holds %x of the input's text at %d\nin  %x\nout %x", run, r.off+k, in, out)
				}
			}
		}
		if !bytes.Equal(planted[:pn], out) {
			t.Fatalf("output depends on the text\nin      %x\nout     %x\nplanted %x", in, out, planted[:pn])
		}
	})
}

// region is a byte range of a compound packet whose content the scrub must
// not pass on: text (SDES values, BYE reason; must come out as the token)
// or other (padding, extensions, removed packets; must come out zero or
// not at all).
type region struct {
	off, n int
	text   bool
	item   byte // SDES item type of a text; 0 for a BYE reason
}

// textRegions walks a compound packet that scrubRTCP accepted, the way a
// reader of RFC 3550, 3611 and 4585 would, and lists its regions.
func textRegions(t testing.TB, p []byte) []region {
	t.Helper()
	var rs []region
	add := func(off, n int, text bool, item byte) {
		if n > 0 {
			rs = append(rs, region{off, n, text, item})
		}
	}
	for at := 0; at < len(p); {
		size := 4 * (int(binary.BigEndian.Uint16(p[at+2:])) + 1)
		pkt := p[at : at+size]
		end := size
		if pkt[0]&0x20 != 0 {
			end -= int(pkt[size-1])
			add(at+end, size-end-1, false, 0)
		}
		count := int(pkt[0] & 0x1f)
		switch pkt[1] {
		case rtcpSR:
			add(at+28+24*count, end-28-24*count, false, 0)
		case rtcpRR:
			add(at+8+24*count, end-8-24*count, false, 0)
		case rtcpSDES:
			i := 4
			for range count {
				i += 4
				for pkt[i] != 0 {
					add(at+i+2, int(pkt[i+1]), true, pkt[i])
					i += 2 + int(pkt[i+1])
				}
				next := i + 1
				for next%4 != 0 {
					next++
				}
				add(at+i+1, next-i-1, false, 0)
				i = next
			}
		case rtcpBYE:
			if i := 4 + 4*count; i < end {
				add(at+i+1, int(pkt[i]), true, 0)
				add(at+i+1+int(pkt[i]), end-i-1-int(pkt[i]), false, 0)
			}
		case rtcpRTPFB, rtcpPSFB:
		case rtcpXR:
			unknown := false
			for i := 8; i < end; i += 4 * (int(binary.BigEndian.Uint16(pkt[i+2:])) + 1) {
				unknown = unknown || pkt[i] == 0 || pkt[i] > 7
			}
			if unknown {
				add(at+4, 4, false, 0)
				for i := 8; i < end; i += 4 * (int(binary.BigEndian.Uint16(pkt[i+2:])) + 1) {
					add(at+i+1, 1, false, 0)
					add(at+i+4, 4*int(binary.BigEndian.Uint16(pkt[i+2:])), false, 0)
				}
			}
		default: // APP and types the relay does not forward
			add(at+4, end-4, false, 0)
		}
		at += size
	}
	return rs
}

// checkScrubbed checks a scrub's output: only forwarded packet types, no
// PRIV item, every text the token, everything else in the regions zero.
func checkScrubbed(t testing.TB, out []byte, tok rtcpToken) {
	t.Helper()
	for _, typ := range packetTypes(t, out) {
		if typ < rtcpSR || typ > rtcpXR || typ == rtcpAPP {
			t.Fatalf("packet type %d forwarded:\n%x", typ, out)
		}
	}
	for _, r := range textRegions(t, out) {
		got := out[r.off : r.off+r.n]
		want := make([]byte, r.n)
		if r.text {
			want = []byte(tokenText(tok, r.n))
			if r.item == sdesPriv {
				t.Fatalf("PRIV item at %d forwarded", r.off-2)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("region at %d is %q, want %q:\n%x", r.off, got, want, out)
		}
	}
}

// packetTypes lists the packet types of a compound packet.
func packetTypes(t testing.TB, p []byte) []uint8 {
	t.Helper()
	var types []uint8
	for at := 0; at < len(p); at += 4 * (int(binary.BigEndian.Uint16(p[at+2:])) + 1) {
		if len(p)-at < 4 {
			t.Fatalf("compound packet ends in a header at %d: %x", at, p)
		}
		types = append(types, p[at+1])
	}
	return types
}

// leakedRun returns the first run of more than 3 bytes of secret found in
// out, skipping runs the token itself contains.
func leakedRun(out, secret []byte, tok rtcpToken) string {
	fill := tokenText(tok, 2*rtcpTokenLen+4)
	for i := 0; i+4 <= len(secret); i++ {
		run := secret[i : i+4]
		if bytes.Contains(out, run) && !strings.Contains(fill, string(run)) {
			return string(run)
		}
	}
	return ""
}

func tokenText(tok rtcpToken, n int) string {
	b := make([]byte, n)
	tok.fill(b)
	return string(b)
}

func firstCNAME(t testing.TB, p []byte) string {
	t.Helper()
	pkts, err := rtcp.Unmarshal(p)
	if err != nil {
		t.Fatalf("received RTCP does not parse: %v\n%x", err, p)
	}
	for _, pkt := range pkts {
		if sd, ok := pkt.(*rtcp.SourceDescription); ok {
			for _, c := range sd.Chunks {
				for _, it := range c.Items {
					if it.Type == rtcp.SDESCNAME {
						return it.Text
					}
				}
			}
		}
	}
	t.Fatalf("no CNAME in %x", p)
	return ""
}

// pionParses says whether pion/rtcp accepts p; a panic in pion on fuzzed
// input counts as no.
func pionParses(p []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_, err := rtcp.Unmarshal(p)
	return err == nil
}

// peer is a party's UDP socket on 127.0.0.1: the kit's RTP peer.
type peer = testkit.Peer

func listenPeer(t testing.TB) *peer { return testkit.NewPeer(t) }

func peerSDP(user string, rtpPort, rtcpPort int) []byte {
	return testkit.Offer{User: user, Session: 1, Port: rtpPort, RTCP: rtcpPort}.SDP()
}

// sdpPort is the first m= port of a rewritten SDP: the relay's RTP port.
func sdpPort(t testing.TB, sdp []byte) int {
	t.Helper()
	return int(testkit.MustAudioAddr(t, sdp).Port())
}
