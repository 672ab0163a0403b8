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

	"github.com/xbridge/xbridge/sipedge"
)

// The RFC 4475 torture messages and other unusable input, sent to the
// running engine: each is answered by the layer that should, counted where
// it should be, starts no call, and a normal call goes through afterwards.
// The guard's own unit tests and fuzz targets are in sipedge.

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
func waitMalformed(te *testEngine, before sipedge.MalformedStats, path string) sipedge.MalformedStats {
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
	if got := te.engine.Malformed(); got != (sipedge.MalformedStats{}) {
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
		count func(sipedge.MalformedStats) uint64
	}{
		{"ncl", readTorture(t, "ncl.dat"), 400, func(s sipedge.MalformedStats) uint64 { return s.Answered }},
		{"mcl01", readTorture(t, "mcl01.dat"), 400, func(s sipedge.MalformedStats) uint64 { return s.Answered }},
		{"no content-length", readTorture(t, "inv2543.dat"), 400, func(s sipedge.MalformedStats) uint64 { return s.Answered }},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0, func(s sipedge.MalformedStats) uint64 { return s.Dropped }},
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
	te := newTestEngine(t, withEdge(sipedge.WithPartialMessageTimeout(300*time.Millisecond)))
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

// TestTCPKeepalivePong: RFC 5626 CRLF pings over TCP get their pong at
// once, before, between and after messages, although the stream guard
// holds every message until it is whole. A carrier's SBC that misses its
// pong drops the flow, and every call on it.
func TestTCPKeepalivePong(t *testing.T) {
	te := newTestEngine(t)
	p := newTCPPeer(t, te.addr)
	pingPong := func(when string) {
		t.Helper()
		if _, err := p.conn.Write([]byte("\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		_ = p.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		pong := make([]byte, 2)
		if _, err := io.ReadFull(p.r, pong); err != nil || string(pong) != "\r\n" {
			t.Fatalf("ping %s: pong %q, %v", when, pong, err)
		}
	}
	pingPong("on a new connection")
	// A message whose header lines arrive one segment at a time, a lone
	// CRLF among them.
	opts := tcpOptions(p.conn.LocalAddr().String(), "ka-1")
	cut := strings.Index(opts, "\r\nCall-ID:")
	for _, chunk := range []string{opts[:cut], "\r\n", opts[cut+2:]} {
		if _, err := p.conn.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
	}
	if res, err := p.next(5 * time.Second); err != nil || statusCode(res) != 200 {
		t.Fatalf("options in pieces: %v %q", err, res)
	}
	pingPong("after a message")
	pingPong("twice in a row")
}
