package b2bua

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

const torturePath = "../testdata/rfc4475"

// Which part of the engine is expected to deal with a message.
const (
	byRawText = "raw"     // unparseable: answered from its raw text
	byVetting = "vet"     // parsed, refused before any handler
	byHandler = "handler" // parsed and vetted, answered by a handler
	bySipgo   = "sipgo"   // answered by sipgo's transaction layer
	dropRaw   = "drop"    // unparseable, nothing to address: dropped and counted
	silent    = "silent"  // a parsed response: no response to it exists
)

// tortureCase is what the engine must do with one RFC 4475 message sent as
// one UDP datagram. sentBy is the top Via's sent-by as written in the file:
// the test points it at its own socket, as a replaying peer does (SIPp's
// [local_ip]:[local_port]), since responses go to the Via's port (RFC 3261
// 18.2.2) and the files name hosts and ports of their own. Nothing else of
// the message is touched.
type tortureCase struct {
	file   string
	sentBy string
	path   string
	codes  []int // acceptable final responses
	why    string
}

// The verdicts are RFC 4475's (MANIFEST.tsv); where the RFC leaves a choice
// the engine's is named. The torture INVITEs dial "user" and such, which no
// number plan accepts: 484 is the engine's answer once they pass vetting.
var tortureCases = []tortureCase{
	// 3.1.1 valid
	// sipgo reads no tag in "; tag = ..." and, the branch lacking the magic
	// cookie, needs the From tag to match RFC 2543 style: its transaction
	// layer answers 400 before the engine sees the request (known limit).
	{"wsinv.dat", "192.0.2.2", bySipgo, []int{400}, "sipgo: no From tag for RFC 2543 transaction matching"},
	{"intmeth.dat", "host1.example.com", byVetting, []int{501}, "unknown extension method"},
	{"esc01.dat", "host5.example.net", byHandler, []int{484}, "dialled user sips:user@example.com is no number"},
	{"escnull.dat", "host5.example.com", byHandler, []int{405}, "REGISTER: not a registrar"},
	{"esc02.dat", "host.example.com", byVetting, []int{501}, "RE%47IST%45R is an unknown method, not REGISTER"},
	{"lwsdisp.dat", "funky.example.com", byHandler, []int{200}, "OPTIONS"},
	{"longreq.dat", "sip33.example.com", byHandler, []int{484}, "dialled user \"user\" is no number"},
	{"dblreq.dat", "192.0.2.125", byHandler, []int{405}, "the REGISTER; trailing octets ignored"},
	{"semiuri.dat", "192.0.2.1", byHandler, []int{200}, "OPTIONS"},
	{"transports.dat", "t1.example.com", byHandler, []int{200}, "OPTIONS"},
	{"mpart01.dat", "127.0.0.1:5070", byHandler, []int{405}, "MESSAGE is not served (yet)"},
	{"unreason.dat", "", silent, nil, "a 200 response matching no transaction"},
	{"noreason.dat", "", silent, nil, "a 100 response matching no transaction"},
	// 3.1.2 invalid
	{"badinv01.dat", "192.0.2.15", byRawText, []int{400}, "stray separators in Via and Contact"},
	{"clerr.dat", "host5.example.com", byRawText, []int{400}, "Content-Length larger than the datagram"},
	{"ncl.dat", "192.0.2.53", byRawText, []int{400}, "negative Content-Length"},
	{"scalar02.dat", "host129.example.com", byRawText, []int{400}, "CSeq beyond 2**32"},
	{"scalarlg.dat", "", dropRaw, nil, "a response (overlarge scalars): dropped"},
	{"quotbal.dat", "192.0.2.59:5050", byRawText, []int{400}, "unterminated quoted display name"},
	{"ltgtruri.dat", "192.0.2.5", byRawText, []int{400}, "Request-URI in <>"},
	{"lwsruri.dat", "192.0.2.1:5060", byRawText, []int{400}, "LWS inside the Request-URI"},
	{"lwsstart.dat", "host1.example.com", byRawText, []int{400}, "several SP in the request line"},
	{"trws.dat", "host1.examle.com", byRawText, []int{400}, "SP after SIP/2.0"},
	{"escruri.dat", "host-of-the-hour.example.com", byHandler, []int{484}, "headers in the Request-URI are ignored; B legs are built from scratch"},
	{"baddate.dat", "host.example.com", byHandler, []int{484}, "Date is not used"},
	{"regbadct.dat", "135.180.130.133:5060", byHandler, []int{405}, "REGISTER: not a registrar"},
	{"badaspec.dat", "host4.example.com:5060", byRawText, []int{400}, "spaces inside <> of To"},
	{"baddn.dat", "c.example.com:5060", byRawText, []int{400}, "unquoted display name; and the archive's file ends without the empty line"},
	{"badvers.dat", "c.example.com", byVetting, []int{505}, "SIP/7.0"},
	{"mismatch01.dat", "host.example.com", byVetting, []int{400}, "CSeq method INVITE on OPTIONS"},
	{"mismatch02.dat", "host.example.net", byVetting, []int{501}, "unknown method (501 comes before the CSeq check)"},
	{"bigcode.dat", "", dropRaw, nil, "a response (status 4294967301): dropped"},
	// 3.2, 3.3, 3.4
	{"badbranch.dat", "192.0.2.1", byHandler, []int{200}, "branch z9hG4bK alone: RFC 2543 matching, OPTIONS answered"},
	{"insuf.dat", "192.0.2.95", byVetting, []int{400}, "no Call-ID, From or To"},
	{"unkscm.dat", "host9.example.com", byVetting, []int{416}, "Request-URI scheme nobodyKnowsThisScheme"},
	{"novelsc.dat", "host9.example.com", byRawText, []int{416}, "Request-URI scheme soap.beep (sipgo cannot parse it)"},
	{"unksm2.dat", "192.0.2.21:5060", byHandler, []int{405}, "REGISTER: not a registrar"},
	{"bext01.dat", "fold-and-staple.example.com", byVetting, []int{420}, "Require with unknown option tags"},
	{"invut.dat", "somehost.example.com", byVetting, []int{415}, "INVITE body application/unknownformat"},
	{"regaut01.dat", "192.0.2.253", byHandler, []int{405}, "REGISTER: not a registrar"},
	{"multi01.dat", "192.0.2.25", byVetting, []int{400}, "two Call-ID, To, From, Max-Forwards and CSeq"},
	{"mcl01.dat", "host5.example.net", byVetting, []int{400}, "two Content-Length values"},
	{"bcast.dat", "", silent, nil, "a 200 response matching no transaction"},
	{"zeromf.dat", "host1.example.com", byHandler, []int{200}, "Max-Forwards 0 at an endpoint: OPTIONS answered"},
	{"cparam01.dat", "saturn.example.com:5060", byHandler, []int{405}, "REGISTER: not a registrar"},
	{"cparam02.dat", "saturn.example.com:5060", byHandler, []int{405}, "REGISTER: not a registrar"},
	{"regescrt.dat", "host5.example.com", byHandler, []int{405}, "REGISTER: not a registrar"},
	{"sdp01.dat", "192.0.2.15", byVetting, []int{406}, "Accept without application/sdp"},
	{"inv2543.dat", "iftgw.example.com", byHandler, []int{400}, "no Contact: the engine needs one to reach A in the dialog"},
}

func readTorture(t testing.TB, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(torturePath, file))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// pointVia replaces the top Via's sent-by with addr.
func pointVia(t testing.TB, data []byte, sentBy, addr string) []byte {
	t.Helper()
	if sentBy == "" {
		return data
	}
	start := topViaStart(data)
	if start < 0 {
		t.Fatal("no Via header")
	}
	i := bytes.Index(data[start:], []byte(sentBy))
	if i < 0 {
		t.Fatalf("top Via has no sent-by %q", sentBy)
	}
	i += start
	out := append([]byte{}, data[:i]...)
	out = append(out, addr...)
	return append(out, data[i+len(sentBy):]...)
}

// topViaStart is where the first Via (or v) header line begins.
func topViaStart(data []byte) int {
	for off := 0; off < len(data); {
		end := bytes.Index(data[off:], []byte("\r\n"))
		if end < 0 {
			return -1
		}
		line := data[off : off+end]
		if len(line) == 0 {
			return -1
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if n := strings.ToLower(strings.TrimSpace(string(name))); ok && (n == "via" || n == "v") {
			return off
		}
		off += end + 2
	}
	return -1
}

func TestTortureFilesMatchManifest(t *testing.T) {
	manifest, err := os.ReadFile(filepath.Join(torturePath, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(string(manifest)), "\n")[1:] {
		files = append(files, strings.Split(line, "\t")[0])
	}
	var covered []string
	for _, tc := range tortureCases {
		covered = append(covered, tc.file)
	}
	slices.Sort(files)
	slices.Sort(covered)
	if !slices.Equal(files, covered) {
		t.Fatalf("table covers %v\nmanifest lists %v", covered, files)
	}
}

// udpPeer is a raw UDP socket on 127.0.0.1 that plays the torture sender.
type udpPeer struct {
	conn *net.UDPConn
	dst  *net.UDPAddr
}

func newUDPPeer(t *testing.T, engineAddr string) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	dst, err := net.ResolveUDPAddr("udp", engineAddr)
	if err != nil {
		t.Fatal(err)
	}
	return &udpPeer{conn: c, dst: dst}
}

func (p *udpPeer) addr() string { return p.conn.LocalAddr().String() }

func (p *udpPeer) send(t *testing.T, data []byte) {
	t.Helper()
	if _, err := p.conn.WriteToUDP(data, p.dst); err != nil {
		t.Fatal(err)
	}
}

// final reads datagrams until a final response (>= 200) for the request
// with Call-ID cid (one of them: a response copies one), or the wait ends. Responses to earlier requests are
// skipped: the engine retransmits its final answer to an INVITE that is
// never acknowledged. Any response to a Call-ID in forbidden fails the test.
func (p *udpPeer) final(t *testing.T, wait time.Duration, cid []string, forbidden ...string) ([]byte, int, error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	buf := make([]byte, 65536)
	for range 200 {
		_ = p.conn.SetReadDeadline(deadline)
		n, _, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return nil, 0, err
		}
		got := rawCallID(buf[:n])
		if slices.Contains(forbidden, got) {
			t.Fatalf("a response to %s, which must get none:\n%s", got, buf[:n])
		}
		if !slices.Contains(cid, got) && !(len(cid) == 0 && got == "") {
			continue
		}
		if code := statusCode(buf[:n]); code >= 200 {
			return append([]byte{}, buf[:n]...), code, nil
		}
	}
	return nil, 0, errors.New("too many unrelated responses")
}

// statusCode reads the code off a status line; 0 if data is no response.
func statusCode(data []byte) int {
	line, _, _ := bytes.Cut(data, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) < 2 || f[0] != "SIP/2.0" {
		return 0
	}
	code, _ := strconv.Atoi(f[1])
	return code
}

// rawCallID is the first Call-ID as written, "" if none.
func rawCallID(data []byte) string {
	ids := rawCallIDs(data)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// rawCallIDs are all the Call-IDs as written (RFC 4475 multi01 has two).
func rawCallIDs(data []byte) []string {
	var ids []string
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		name, value, ok := strings.Cut(line, ":")
		if n := strings.ToLower(strings.TrimSpace(name)); ok && (n == "call-id" || n == "i") {
			ids = append(ids, strings.TrimSpace(value))
		}
	}
	return ids
}

// probe sends an OPTIONS and waits for its 200: the engine reads UDP in
// order, so everything sent before has been read once this returns, and a
// response to a Call-ID in silent fails the test.
func (p *udpPeer) probe(t *testing.T, n int, silent ...string) {
	t.Helper()
	cid := fmt.Sprintf("probe-%d", n)
	req := "OPTIONS sip:" + p.dst.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bK" + cid + "\r\n" +
		"From: <sip:probe@127.0.0.1>;tag=p" + strconv.Itoa(n) + "\r\n" +
		"To: <sip:" + p.dst.String() + ">\r\n" +
		"Call-ID: " + cid + "\r\n" +
		"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	p.send(t, []byte(req))
	_, code, err := p.final(t, 5*time.Second, []string{cid}, silent...)
	if err != nil {
		t.Fatalf("probe %s: %v", cid, err)
	}
	if code != 200 {
		t.Fatalf("probe %s got %d", cid, code)
	}
}

// TestRFC4475OverUDP feeds every torture message to the engine's UDP socket,
// one at a time, and checks the answer and which path gave it; then a call
// still goes through.
func TestRFC4475OverUDP(t *testing.T) {
	te := newTestEngine(t)
	for i, tc := range tortureCases {
		t.Run(strings.TrimSuffix(tc.file, ".dat"), func(t *testing.T) {
			// A socket of its own: many files share a branch, and with one
			// sent-by they would be one transaction to the engine.
			peer := newUDPPeer(t, te.addr)
			data := pointVia(t, readTorture(t, tc.file), tc.sentBy, peer.addr())
			before := te.engine.Malformed()
			peer.send(t, data)

			cids := rawCallIDs(data)
			if tc.path == dropRaw || tc.path == silent {
				// Nothing may come back before the probe's answer.
				peer.probe(t, i+1, cids...)
			} else {
				res, code, err := peer.final(t, 5*time.Second, cids)
				if err != nil {
					t.Fatalf("no final response (%s): %v", tc.why, err)
				}
				if !slices.Contains(tc.codes, code) {
					t.Fatalf("got %d, want %v (%s):\n%s", code, tc.codes, tc.why, res)
				}
			}

			after := waitMalformed(te, before, tc.path)
			want := before
			switch tc.path {
			case byRawText:
				want.Answered++
			case dropRaw:
				want.Dropped++
			case byVetting:
				want.Refused++
			}
			if after != want {
				t.Errorf("counts %+v -> %+v, want %+v (path %s)", before, after, want, tc.path)
			}
		})
	}
	if te.engine.ActiveCalls() != 0 {
		t.Fatalf("%d calls left by torture messages", te.engine.ActiveCalls())
	}
	normalCall(t, te)
}

// waitMalformed waits (bounded) for the counter path moves: counts are
// taken after the response is written.
func waitMalformed(te *testEngine, before MalformedStats, path string) MalformedStats {
	for range 100 {
		now := te.engine.Malformed()
		if now != before || path == byHandler || path == bySipgo || path == silent {
			return now
		}
		time.Sleep(10 * time.Millisecond)
	}
	return te.engine.Malformed()
}

// normalCall runs one bridged call A -> X -> B and hangs it up.
func normalCall(t *testing.T, te *testEngine) {
	t.Helper()
	te.bind(numX, numA, numB, time.Hour)
	car := newCarrier(t)
	aRTP := newRTPPeer(t)
	d, err := car.invite(context.Background(), te.addr, numA, numX, aRTP.sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	res, code := answer(t, d, 5*time.Second)
	if code != 200 {
		t.Fatalf("call after torture: A got %d", code)
	}
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	aRTP.send(t, res.Body(), 10, 'a')
	tc.rtp.waitReceived(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	te.waitIdle()
}

// TestUnusableInviteOverUDP: INVITEs that parse, or nearly, but lack what
// the engine needs get a 4xx, whichever layer catches them, and start no call.
func TestUnusableInviteOverUDP(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	sdp := string(newRTPPeer(t).sdp(1))
	invite := func(addr, cid string, drop string, extra string, body string, length int) []byte {
		lines := []string{
			"INVITE sip:" + numX + "@" + te.addr + " SIP/2.0",
			"Via: SIP/2.0/UDP " + addr + ";branch=z9hG4bK" + cid,
			"From: <sip:" + numA + "@carrier.example>;tag=" + cid,
			"To: <sip:" + numX + "@" + te.addr + ">",
			"Call-ID: " + cid,
			"CSeq: 1 INVITE",
			"Contact: <sip:" + numA + "@" + addr + ">",
			"Max-Forwards: 70",
			"Content-Type: application/sdp",
		}
		var out strings.Builder
		for _, l := range lines {
			if drop != "" && strings.HasPrefix(l, drop+":") {
				continue
			}
			out.WriteString(l + "\r\n")
		}
		out.WriteString(extra)
		out.WriteString("Content-Length: " + strconv.Itoa(length) + "\r\n\r\n" + body)
		return []byte(out.String())
	}
	for _, tc := range []struct {
		name   string
		drop   string // header left out
		extra  string // header lines added
		length int    // Content-Length minus the body's length
		code   int
		path   string
	}{
		{name: "no Contact", drop: "Contact", code: 400, path: byHandler},
		{name: "no From", drop: "From", code: 400, path: byVetting},
		{name: "no To", drop: "To", code: 400, path: byVetting},
		{name: "no CSeq", drop: "CSeq", code: 400, path: bySipgo},
		{name: "Max-Forwards not a number", drop: "Max-Forwards", extra: "Max-Forwards: seventy\r\n", code: 400, path: byRawText},
		{name: "Max-Forwards 300", drop: "Max-Forwards", extra: "Max-Forwards: 300\r\n", code: 400, path: byVetting},
		{name: "Max-Forwards 1", drop: "Max-Forwards", extra: "Max-Forwards: 1\r\n", code: 483, path: byHandler},
		{name: "Content-Length past the datagram", length: 100, code: 400, path: byRawText},
		{name: "second Content-Length", extra: "Content-Length: 3\r\n", code: 400, path: byVetting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer := newUDPPeer(t, te.addr)
			cid := "unusable-" + strings.ReplaceAll(tc.name, " ", "-")
			before := te.engine.Malformed()
			peer.send(t, invite(peer.addr(), cid, tc.drop, tc.extra, sdp, len(sdp)+tc.length))
			res, code, err := peer.final(t, 5*time.Second, []string{cid})
			if err != nil {
				t.Fatalf("no final response: %v", err)
			}
			if code != tc.code {
				t.Fatalf("got %d, want %d:\n%s", code, tc.code, res)
			}
			after := waitMalformed(te, before, tc.path)
			want := before
			switch tc.path {
			case byRawText:
				want.Answered++
			case byVetting:
				want.Refused++
			}
			if after != want {
				t.Errorf("counts %+v -> %+v, want %+v (path %s)", before, after, want, tc.path)
			}
			if n := te.engine.ActiveCalls(); n != 0 {
				t.Errorf("%d calls started", n)
			}
		})
	}
	if n := te.relay.PortsInUse(); n != 0 {
		t.Fatalf("%d relay ports held", n)
	}
}

func TestUDPKeepaliveIsNotMalformed(t *testing.T) {
	te := newTestEngine(t)
	peer := newUDPPeer(t, te.addr)
	for _, ka := range []string{"\r\n\r\n", "\r\n", "\x00\x00\x00\x00"} {
		peer.send(t, []byte(ka))
	}
	peer.probe(t, 1)
	if got := te.engine.Malformed(); got != (MalformedStats{}) {
		t.Fatalf("keepalives counted as malformed: %+v", got)
	}
}

// tcpPeer is a raw TCP connection to the engine.
type tcpPeer struct {
	conn net.Conn
	r    *bufio.Reader
}

func newTCPPeer(t *testing.T, engineAddr string) *tcpPeer {
	t.Helper()
	c, err := net.DialTimeout("tcp", engineAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tcpPeer{conn: c, r: bufio.NewReader(c)}
}

// next reads one response off the stream: head and Content-Length body.
func (p *tcpPeer) next(wait time.Duration) ([]byte, error) {
	_ = p.conn.SetReadDeadline(time.Now().Add(wait))
	var head bytes.Buffer
	length := 0
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			return head.Bytes(), err
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
		if n, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(n), "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(p.r, body); err != nil {
		return head.Bytes(), err
	}
	return append(head.Bytes(), body...), nil
}

// closed waits for the engine to end the stream.
func (p *tcpPeer) closed(t *testing.T, wait time.Duration) {
	t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	for range 100 {
		n, err := p.r.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
				return
			}
			t.Fatalf("stream not closed: %v", err)
		}
		if n > 0 {
			t.Fatalf("unexpected bytes before close: %q", buf[:n])
		}
	}
	t.Fatal("stream not closed")
}

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

func tcpOptions(addr, cid string) string {
	return "OPTIONS sip:" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP " + addr + ";branch=z9hG4bK" + cid + "\r\n" +
		"From: <sip:probe@127.0.0.1>;tag=" + cid + "\r\n" +
		"To: <sip:" + addr + ">\r\n" +
		"Call-ID: " + cid + "\r\n" +
		"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
}

// TestMalformedOverTCP sends framing errors on a stream: the messages
// before the bad one are served, the bad one gets its 400, and the engine
// closes the connection.
func TestMalformedOverTCP(t *testing.T) {
	te := newTestEngine(t)
	goroutines := runtime.NumGoroutine()
	for _, tc := range []struct {
		name  string
		bad   []byte
		code  int
		count func(MalformedStats) uint64
	}{
		{"ncl", readTorture(t, "ncl.dat"), 400, func(s MalformedStats) uint64 { return s.Answered }},
		{"mcl01", readTorture(t, "mcl01.dat"), 400, func(s MalformedStats) uint64 { return s.Answered }},
		{"no content-length", readTorture(t, "inv2543.dat"), 400, func(s MalformedStats) uint64 { return s.Answered }},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0, func(s MalformedStats) uint64 { return s.Dropped }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTCPPeer(t, te.addr)
			before := tc.count(te.engine.Malformed())
			// A good message and the bad one in one write: one chunk.
			msg := append([]byte(tcpOptions(p.conn.LocalAddr().String(), "good-"+strconv.Itoa(len(tc.name)))), tc.bad...)
			if _, err := p.conn.Write(msg); err != nil {
				t.Fatal(err)
			}
			var codes []int
			for range 2 {
				res, err := p.next(5 * time.Second)
				if err != nil {
					break
				}
				codes = append(codes, statusCode(res))
			}
			want := []int{200}
			if tc.code != 0 {
				want = append(want, tc.code)
			}
			slices.Sort(codes)
			if !slices.Equal(codes, want) {
				t.Fatalf("responses %v, want %v", codes, want)
			}
			p.closed(t, 5*time.Second)
			if got := tc.count(te.engine.Malformed()); got != before+1 {
				t.Errorf("count %d -> %d, want +1", before, got)
			}
		})
	}
	// Each connection's reader and every transaction on it are gone.
	for i := 0; runtime.NumGoroutine() > goroutines; i++ {
		if i == 100 {
			t.Fatalf("%d goroutines, %d before the connections", runtime.NumGoroutine(), goroutines)
		}
		time.Sleep(50 * time.Millisecond)
	}
	normalCall(t, te)
}

// TestTCPIncompleteMessageTimesOut: RFC 4475 clerr over a stream promises
// bytes that never come; the engine waits, then closes.
func TestTCPIncompleteMessageTimesOut(t *testing.T) {
	te := newTestEngine(t)
	te.engine.malformed.partialTimeout.Store(int64(300 * time.Millisecond))
	p := newTCPPeer(t, te.addr)
	before := te.engine.Malformed().Dropped
	if _, err := p.conn.Write(readTorture(t, "clerr.dat")); err != nil {
		t.Fatal(err)
	}
	p.closed(t, 10*time.Second)
	if got := te.engine.Malformed().Dropped; got != before+1 {
		t.Errorf("dropped %d -> %d, want +1", before, got)
	}

	// Between messages a connection may idle past the timeout.
	q := newTCPPeer(t, te.addr)
	for i := range 2 {
		if _, err := q.conn.Write([]byte(tcpOptions(q.conn.LocalAddr().String(), "idle-"+strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
		res, err := q.next(5 * time.Second)
		if err != nil || statusCode(res) != 200 {
			t.Fatalf("options %d on an idle connection: %v %q", i, err, res)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

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
			if got := statusCode(res); got != tc.code {
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

func TestVetRequest(t *testing.T) {
	base := func(method, extra string) string {
		return method + " sip:8617000000001@127.0.0.1 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
			"From: <sip:8613800000001@c>;tag=1\r\n" +
			"To: <sip:8617000000001@127.0.0.1>\r\n" +
			"Call-ID: v1\r\n" +
			"CSeq: 1 " + method + "\r\n" +
			"Contact: <sip:127.0.0.1:5070>\r\n" +
			extra
	}
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	withBody := func(ct, body string) string {
		return "Content-Type: " + ct + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	for _, tc := range []struct {
		name   string
		msg    string
		code   int
		header string // a header the refusal must carry
	}{
		{"plain invite", base("INVITE", withBody("application/sdp", sdp)), 0, ""},
		{"invite no body", base("INVITE", "Content-Length: 0\r\n\r\n"), 0, ""},
		{"multipart offer left to the handler", base("INVITE", withBody("multipart/mixed;boundary=x", "--x--\r\n")), 0, ""},
		{"options", base("OPTIONS", "Content-Length: 0\r\n\r\n"), 0, ""},
		{"tel uri", strings.Replace(base("OPTIONS", "Content-Length: 0\r\n\r\n"), "sip:8617000000001@127.0.0.1 SIP", "tel:+8617000000001 SIP", 1), 0, ""},
		{"ack with require is not refused", base("ACK", "Require: 100rel\r\nContent-Length: 0\r\n\r\n"), 0, ""},
		{"version", strings.Replace(base("OPTIONS", "Content-Length: 0\r\n\r\n"), "SIP/2.0\r\n", "SIP/3.0\r\n", 1), 505, ""},
		{"missing call-id", strings.Replace(base("OPTIONS", "Content-Length: 0\r\n\r\n"), "Call-ID: v1\r\n", "", 1), 400, ""},
		{"missing from", strings.Replace(base("OPTIONS", "Content-Length: 0\r\n\r\n"), "From: <sip:8613800000001@c>;tag=1\r\n", "", 1), 400, ""},
		{"two to", base("OPTIONS", "To: <sip:b@c>\r\nContent-Length: 0\r\n\r\n"), 400, ""},
		{"two max-forwards", base("OPTIONS", "Max-Forwards: 70\r\nMax-Forwards: 69\r\nContent-Length: 0\r\n\r\n"), 400, ""},
		{"max-forwards 256", base("OPTIONS", "Max-Forwards: 256\r\nContent-Length: 0\r\n\r\n"), 400, ""},
		{"max-forwards 0 is fine", base("OPTIONS", "Max-Forwards: 0\r\nContent-Length: 0\r\n\r\n"), 0, ""},
		{"two content-length", base("OPTIONS", "Content-Length: 0\r\nl: 0\r\n\r\n"), 400, ""},
		{"unknown method", base("FOO", "Content-Length: 0\r\n\r\n"), 501, "Allow"},
		{"cseq mismatch", strings.Replace(base("BYE", "Content-Length: 0\r\n\r\n"), "CSeq: 1 BYE", "CSeq: 1 INVITE", 1), 400, ""},
		{"scheme", strings.Replace(base("OPTIONS", "Content-Length: 0\r\n\r\n"), "sip:8617000000001@127.0.0.1 SIP", "http://x SIP", 1), 416, ""},
		{"require", base("INVITE", "Require: 100rel, timer\r\n"+withBody("application/sdp", sdp)), 420, "Unsupported"},
		{"unknown body", base("INVITE", withBody("application/isup", "x")), 415, "Accept"},
		{"body without type", base("INVITE", "Content-Length: 3\r\n\r\nabc"), 400, ""},
		{"accept without sdp", base("INVITE", "Accept: text/plain\r\n"+withBody("application/sdp", sdp)), 406, "Accept"},
		{"accept wildcard", base("INVITE", "Accept: text/plain, application/*\r\n"+withBody("application/sdp", sdp)), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := sip.ParseMessage([]byte(tc.msg))
			if err != nil {
				t.Fatalf("test message does not parse: %v", err)
			}
			v := vetRequest(msg.(*sip.Request))
			if v.code != tc.code {
				t.Fatalf("code %d (%s), want %d", v.code, v.reason, tc.code)
			}
			if tc.header != "" && !slices.ContainsFunc(v.headers, func(h sip.Header) bool { return h.Name() == tc.header && h.Value() != "" }) {
				t.Errorf("refusal lacks %s: %v", tc.header, v.headers)
			}
		})
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
	b.ReportAllocs()
	for b.Loop() {
		if _, bad := c.inspect(invite); bad {
			b.Fatal("valid invite refused")
		}
	}
}

func BenchmarkVetRequest(b *testing.B) {
	msg, err := sip.ParseMessage(benchInvite())
	if err != nil {
		b.Fatal(err)
	}
	req := msg.(*sip.Request)
	b.ReportAllocs()
	for b.Loop() {
		if v := vetRequest(req); v.code != 0 {
			b.Fatal(v.reason)
		}
	}
}

func BenchmarkAnswerUnparsed(b *testing.B) {
	data := readTorture(b, "badinv01.dat")
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
