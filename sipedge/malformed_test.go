package sipedge

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

const torturePath = "../testdata/rfc4475"

func TestAnswerUnparsed(t *testing.T) {
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}
	perr := errors.New(`bad "thing"` + "\r\n")
	head := func(start, via string, rest ...string) []byte {
		s := start + "\r\n"
		if via != "" {
			s += "Via: " + via + "\r\n"
		}
		for _, h := range rest {
			s += h + "\r\n"
		}
		return []byte(s + "\r\n")
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		err     error
		code    int
		dstPort int
		has     []string
		hasNot  []string
	}{
		{
			name: "recovers the addressing headers",
			data: head("INVITE sip:x@y SIP/2.0", "SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bK1",
				"From: <sip:a@b>;tag=1", "To: <sip:x@y>", "Call-ID: c1", "CSeq: 7 INVITE", "Max-Forwards: x"),
			code: 400, dstPort: 5080,
			has:    []string{"Via: SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bK1\r\n", "From: <sip:a@b>;tag=1\r\n", "To: <sip:x@y>;tag=", "Call-ID: c1\r\n", "CSeq: 7 INVITE\r\n", `Warning: 399 127.0.0.1:5060 "bad ?thing???"`, "Content-Length: 0\r\n\r\n"},
			hasNot: []string{"Max-Forwards"},
		},
		{
			name: "compact forms, folding, every Via, default port",
			data: head("OPTIONS sip:x@y SIP/2.0", "SIP / 2.0\r\n /UDP\r\n  h.example", "v: SIP/2.0/TCP h2", "f: <sip:a@b>;tag=1", "t: <sip:x@y>;tag=9", "i: c2", "CSeq: 1 OPTIONS"),
			code: 400, dstPort: 5060,
			has:    []string{"Via: SIP / 2.0 /UDP h.example\r\nVia: SIP/2.0/TCP h2\r\n", "To: <sip:x@y>;tag=9\r\n", "Call-ID: c2\r\n"},
			hasNot: []string{";tag=9;tag="},
		},
		{
			name: "rport sends to the source port",
			data: head("BYE sip:x@y SIP/2.0", "SIP/2.0/UDP 10.0.0.1:5080;rport;branch=z9hG4bK1", "CSeq: 2 BYE"),
			code: 400, dstPort: 40000,
		},
		{name: "unknown version", data: head("OPTIONS sip:x@y SIP/3.0", "SIP/3.0/UDP h", "CSeq: 1 OPTIONS"), code: 505, dstPort: 5060},
		{name: "unknown scheme", data: head("OPTIONS soap.beep://x SIP/2.0", "SIP/2.0/UDP h", "CSeq: 1 OPTIONS"), code: 416, dstPort: 5060},
		{name: "bracketed uri is no scheme", data: head("OPTIONS <sip:x@y> SIP/2.0", "SIP/2.0/UDP h", "CSeq: 1 OPTIONS"), code: 400, dstPort: 5060},
		{name: "ipv6 sent-by", data: head("OPTIONS sip:x SIP/2.0", "SIP/2.0/UDP [::1]:5070", "CSeq: 1 OPTIONS"), code: 400, dstPort: 5070},
		{name: "no via", data: head("INVITE sip:x@y SIP/2.0", "", "CSeq: 1 INVITE"), err: errNoVia},
		{name: "via without sent-by", data: head("INVITE sip:x@y SIP/2.0", "SIP/2.0/UDP", "CSeq: 1 INVITE"), err: errNoVia},
		{name: "bad via port", data: head("INVITE sip:x@y SIP/2.0", "SIP/2.0/UDP h:99999", "CSeq: 1 INVITE"), err: errNoVia},
		{name: "no cseq", data: head("INVITE sip:x@y SIP/2.0", "SIP/2.0/UDP h"), err: errNoCSeq},
		{name: "response", data: head("SIP/2.0 200 OK", "SIP/2.0/UDP h", "CSeq: 1 INVITE"), err: errNotRequest},
		{name: "not sip", data: []byte("\x16\x03\x01\x02\x00\x01\x00"), err: errNotRequest},
		{name: "empty", data: nil, err: errNotRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, dst, err := answerUnparsed(tc.data, from, local, perr)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := responseCode(res); got != tc.code {
				t.Errorf("status %d, want %d:\n%s", got, tc.code, res)
			}
			if got := dst.(*net.UDPAddr).Port; got != tc.dstPort {
				t.Errorf("sent to port %d, want %d", got, tc.dstPort)
			}
			for _, s := range tc.has {
				if !bytes.Contains(res, []byte(s)) {
					t.Errorf("response lacks %q:\n%s", s, res)
				}
			}
			for _, s := range tc.hasNot {
				if bytes.Contains(res, []byte(s)) {
					t.Errorf("response has %q:\n%s", s, res)
				}
			}
			checkFraming(t, res)
		})
	}
}

// responseCode is the code on the status line of a response the guard
// wrote, 0 if there is none.
func responseCode(res []byte) int {
	f := strings.Fields(statusOf(res))
	if len(f) == 0 {
		return 0
	}
	code, _ := strconv.Atoi(f[0])
	return code
}

// checkFraming: one header section of CRLF-ended lines, nothing after it.
func checkFraming(t testing.TB, res []byte) {
	t.Helper()
	i := bytes.Index(res, []byte("\r\n\r\n"))
	if i < 0 || i+4 != len(res) {
		t.Fatalf("response is not one header section:\n%q", res)
	}
	if bytes.Count(res, []byte("\n")) != bytes.Count(res, []byte("\r\n")) || bytes.Count(res, []byte("\r")) != bytes.Count(res, []byte("\r\n")) {
		t.Fatalf("bare CR or LF in response:\n%q", res)
	}
}

// The cost of guarding UDP on the happy path: what the wrapper adds per
// valid datagram (ReadFrom from an in-memory conn, sipgo's delivery), against
// what a read filter that parses every datagram would add.
func BenchmarkMalformedGuardUDP(b *testing.B) {
	invite := benchInvite()
	b.Run("wrapper", func(b *testing.B) {
		g := &malformedGuard{parser: sip.NewParser()}
		conn := g.packetConn(&memPacketConn{data: invite})
		msg, err := sip.ParseMessage(invite)
		if err != nil {
			b.Fatal(err)
		}
		msg.SetTransport("UDP")
		buf := make([]byte, 65536)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := conn.ReadFrom(buf); err != nil {
				b.Fatal(err)
			}
			g.onDelivered(msg)
		}
		if g.answered.Load()+g.dropped.Load() != 0 {
			b.Fatal("valid invite counted as malformed")
		}
	})
	b.Run("parse-again", func(b *testing.B) {
		p := sip.NewParser()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.ParseSIP(invite); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMalformedGuardTCP is the second parse every TCP message gets.
func BenchmarkMalformedGuardTCP(b *testing.B) {
	invite := benchInvite()
	g := &malformedGuard{parser: sip.NewParser()}
	c := &guardedStreamConn{g: g, par: g.parser.NewSIPStream()}
	buf := make([]byte, 65535)
	b.ReportAllocs()
	for b.Loop() {
		if c.inspect(invite) {
			b.Fatal("valid invite refused")
		}
		c.handOn(buf)
	}
}

func BenchmarkAnswerUnparsed(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(torturePath, "badinv01.dat"))
	if err != nil {
		b.Fatal(err)
	}
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	perr := errors.New("Malformed protocol name in Via header")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := answerUnparsed(data, from, from, perr); err != nil {
			b.Fatal(err)
		}
	}
}

// benchInvite is a carrier INVITE with SDP, as the engine sees thousands.
func benchInvite() []byte {
	sdp := "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
	return []byte("INVITE sip:8617000000001@10.0.0.2:5060 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds;rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:8613800000001@carrier.example>;tag=1928301774\r\n" +
		"To: <sip:8617000000001@10.0.0.2>\r\n" +
		"Call-ID: a84b4c76e66710@carrier.example\r\n" +
		"CSeq: 314159 INVITE\r\n" +
		"Contact: <sip:8613800000001@10.0.0.1:5060>\r\n" +
		"P-Asserted-Identity: <sip:+8613800000001@carrier.example;user=phone>\r\n" +
		"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n" +
		"Supported: replaces\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp)
}

// memPacketConn hands out the same datagram on every read.
type memPacketConn struct {
	net.PacketConn
	data []byte
}

var benchFrom = &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5060}

func (c *memPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	return copy(b, c.data), benchFrom, nil
}

func (c *memPacketConn) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }
func (c *memPacketConn) LocalAddr() net.Addr                       { return benchFrom }
