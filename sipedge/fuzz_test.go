package sipedge

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/number"
)

// Fuzz targets for everything in sipedge that reads outside input before a
// call exists. Seeds are the RFC 4475 messages plus ordinary carrier
// requests. Run one with, for example:
//
//	go test ./sipedge -run '^$' -fuzz FuzzUndelivered -fuzztime 60s

func addSeeds(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join(torturePath, "*.dat"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no torture messages in %s: %v", torturePath, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(benchInvite())
	f.Add(bytes.Replace(benchInvite(), []byte("sip:8617000000001@10.0.0.2:5060"), []byte("tel:+86-170-0000-0001"), 1))
	f.Add([]byte("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:5070;rport\r\nCSeq: 1 OPTIONS\r\n\r\n"))
}

// FuzzCallerIdentity: whatever sipgo accepts as a request, the engine's
// reading of caller and dialled number never panics, and what it reads is
// either a number routing accepts, free of anything that could break a line
// of a header, or refused by routing.
func FuzzCallerIdentity(f *testing.F) {
	addSeeds(f)
	// sipgo splits lines at CRLF only: a bare LF stays inside From.
	f.Add([]byte(" sip:0 SIP\r\nF:tel:0\n0000000\r\n0000000000000000000:0\r\n\r\n"))
	f.Add([]byte("INVITE sip:+8617000000001@x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <tel:+8613800000001>;tag=1\r\n" +
		"To: <sip:x@y>\r\nP-Asserted-Identity: \"a,b\" <sip:+8613800000002@c>, <tel:+8613800000003>\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		caller, dialled := CallerIdentity(req), DialledNumber(req)
		for _, v := range []string{caller, dialled} {
			n, err := number.DefaultCountry().Normalize(v)
			if err == nil && strings.ContainsAny(n, "\r\n\x00;<>\"") {
				t.Fatalf("identity %q routes as %q", v, n)
			}
		}
		if caller != CallerIdentity(req) || dialled != DialledNumber(req) {
			t.Fatal("reading the identities twice gives different answers")
		}
	})
}

// recordingPacketConn records what the guard writes.
type recordingPacketConn struct {
	net.PacketConn
	writes [][]byte
	to     []net.Addr
}

func (c *recordingPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.writes = append(c.writes, append([]byte{}, b...))
	c.to = append(c.to, addr)
	return len(b), nil
}

func (c *recordingPacketConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}
}

// FuzzUndelivered drives the malformed-request handler as the UDP guard
// calls it for a datagram sipgo did not deliver: it never panics, answers
// only requests sipgo cannot parse, with one well-framed 4xx/5xx, sent back
// to the source host.
func FuzzUndelivered(f *testing.F) {
	addSeeds(f)
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h:5080;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\nContent-Length: -1\r\n\r\n"))
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &malformedGuard{log: zerolog.Nop(), parser: sip.NewParser()}
		conn := &recordingPacketConn{}
		g.undelivered(conn, data, from)
		if len(conn.writes) > 1 {
			t.Fatalf("%d responses to one datagram", len(conn.writes))
		}
		if g.answered.Load()+g.dropped.Load() > 1 {
			t.Fatal("one datagram counted twice")
		}
		if len(conn.writes) == 0 {
			return
		}
		if _, err := sip.ParseMessage(data); err == nil {
			t.Fatal("answered a datagram sipgo parses")
		}
		res := conn.writes[0]
		checkFraming(t, res)
		switch code := responseCode(res); code {
		case 400, 416, 505:
		default:
			t.Fatalf("status %d:\n%s", code, res)
		}
		if bytes.HasPrefix(bytes.ToUpper(bytes.TrimLeft(data, "\r\n")), []byte("SIP/")) {
			t.Fatal("answered a response")
		}
		if dst := conn.to[0].(*net.UDPAddr); !dst.IP.Equal(from.IP) {
			t.Fatalf("sent to %s, not back to the source host", dst)
		}
		// Copied headers and our own few lines: no amplification.
		if len(res) > len(data)+512 {
			t.Fatalf("%d-byte response to %d bytes", len(res), len(data))
		}
	})
}

// FuzzVetRequest: every request sipgo parses gets a verdict without panic,
// and a refusal is one of the codes vetting gives.
func FuzzVetRequest(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		v := vetRequest(req)
		switch v.code {
		case 0, 400, 406, 415, 416, 420, 501, 505:
		default:
			t.Fatalf("verdict %d %q", v.code, v.reason)
		}
		if v.code != 0 && strings.ContainsAny(v.reason, "\r\n") {
			t.Fatalf("reason %q breaks the status line", v.reason)
		}
	})
}

// pipeConn is the server end of a stream that records what is written.
type pipeConn struct {
	net.Conn
	written bytes.Buffer
}

func (c *pipeConn) Write(b []byte) (int, error) { return c.written.Write(b) }
func (c *pipeConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060}
}
func (c *pipeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}

// FuzzStreamGuard feeds a stream, cut in two chunks at any point, to the
// TCP guard: it never panics, never holds more ready for sipgo than it read,
// holds no more than a message's worth, and answers at most once before it
// gives up.
func FuzzStreamGuard(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(torturePath, "*.dat"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint16(len(data)/2))
	}
	options := "OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKa\r\n" +
		"From: <sip:probe@127.0.0.1>;tag=a\r\nTo: <sip:127.0.0.1:5060>\r\nCall-ID: a\r\n" +
		"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	f.Add([]byte(options+options), uint16(10))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		g := &malformedGuard{log: zerolog.Nop(), parser: sip.NewParser()}
		conn := &pipeConn{}
		c := &guardedStreamConn{Conn: conn, g: g, par: g.parser.NewSIPStream()}
		at := int(cut) % (len(data) + 1)
		for _, chunk := range [][]byte{data[:at], data[at:]} {
			if len(chunk) == 0 {
				continue
			}
			before := len(c.pending)
			bad := c.inspect(chunk)
			if c.ready < 0 || c.ready > len(c.pending) || len(c.pending) > before+len(chunk) {
				t.Fatalf("%d ready of %d pending after a %d-byte chunk", c.ready, len(c.pending), len(chunk))
			}
			if len(c.pending) > sip.ParseMaxMessageLength+len(chunk) {
				t.Fatalf("%d bytes pending", len(c.pending))
			}
			if bad {
				break
			}
		}
		if g.answered.Load()+g.dropped.Load() > 1 {
			t.Fatal("one stream failed twice")
		}
		if conn.written.Len() > 0 {
			if err := checkFramingErr(conn.written.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// checkFramingErr is checkFraming for callers that cannot stop at once.
func checkFramingErr(res []byte) error {
	i := bytes.Index(res, []byte("\r\n\r\n"))
	if i < 0 || i+4 != len(res) || bytes.Count(res, []byte("\n")) != bytes.Count(res, []byte("\r\n")) {
		return errors.New("response is not one CRLF-framed header section: " + string(res))
	}
	return nil
}
