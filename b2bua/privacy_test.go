package b2bua

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// The privacy invariant, checked on the wire: no SIP message or SDP sent to
// one party contains the other party's number or address, in any header,
// parameter or body line. The carrier and the trunk here are plain UDP
// sockets that send hand-written text and keep every datagram they receive,
// so nothing a SIP stack would normalise away is hidden from the check.
//
// The parties' numbers and addresses appear in every place a carrier or a
// callee may put them. Their addresses are written as 127.0.0.77 (A) and
// 127.0.0.88 (B): text only; every socket stays on 127.0.0.1, and no RTP is
// sent, so the relay never sends to the written addresses.

// party is one side of the masked call as it appears in its own messages.
type party struct {
	e164   string // canonical digits, e.g. 8613800000001
	ip     string // address written in headers and SDP
	domain string // host name written in URIs
	user   string // account name a phone writes into SDP, RTCP and User-Agent
}

var (
	partyA = party{e164: numA, ip: "127.0.0.77", domain: "buyer-a.example", user: "alice.wang"}
	partyB = party{e164: numB, ip: "127.0.0.88", domain: "courier-b.example", user: "bob.chen"}
)

func (p party) national() string { return p.e164[2:] } // 13800000001
func (p party) plus() string     { return "+" + p.e164 }
func (p party) intl00() string   { return "00" + p.e164 }
func (p party) tel() string      { return "tel:+" + p.e164 }

// grouped writes the national number the way it is printed: 138-0000-0001.
func (p party) grouped(sep string) string {
	n := p.national()
	return n[:3] + sep + n[3:7] + sep + n[7:]
}

// secrets are the strings that must never reach the other party. The
// national number is a substring of every format (+86, 0086, tel:, sip:).
func (p party) secrets() []string {
	return []string{p.national(), p.grouped("-"), p.grouped(" "), p.ip, p.domain, p.user}
}

// ---- raw UDP endpoint ----

type datagram struct {
	raw []byte
	msg sip.Message // nil when it did not parse
}

// rawUA is a SIP endpoint without a SIP stack: it writes text and records
// every datagram it receives.
type rawUA struct {
	t    *testing.T
	name string
	conn *net.UDPConn
	port int
	in   chan datagram

	mu  sync.Mutex
	got []datagram
}

func newRawUA(t *testing.T, name string) *rawUA {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUA{t: t, name: name, conn: conn, port: conn.LocalAddr().(*net.UDPAddr).Port, in: make(chan datagram, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			d := datagram{raw: bytes.Clone(buf[:n])}
			d.msg, _ = sip.ParseMessage(d.raw)
			u.mu.Lock()
			u.got = append(u.got, d)
			u.mu.Unlock()
			select {
			case u.in <- d:
			default: // still recorded in got for the leak sweep
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return u
}

func (u *rawUA) addr() string { return "127.0.0.1:" + strconv.Itoa(u.port) }

func (u *rawUA) send(to string, msg []byte) {
	u.t.Helper()
	dst, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		u.t.Fatal(err)
	}
	if _, err := u.conn.WriteToUDP(msg, dst); err != nil {
		u.t.Fatalf("%s send: %v", u.name, err)
	}
}

// wait returns the next received message that matches, passing over others
// (retransmissions, 100 Trying); they stay recorded for the sweep.
func (u *rawUA) wait(what string, match func(sip.Message) bool) sip.Message {
	u.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case d := <-u.in:
			if d.msg != nil && match(d.msg) {
				return d.msg
			}
		case <-deadline:
			u.t.Fatalf("%s: no %s received", u.name, what)
			return nil
		}
	}
}

// request waits for a request of method; inDialog tells an initial INVITE
// (no To-tag) from a re-INVITE.
func (u *rawUA) request(method sip.RequestMethod, inDialog bool) *sip.Request {
	u.t.Helper()
	what := string(method)
	if inDialog {
		what = "in-dialog " + what
	}
	m := u.wait(what, func(m sip.Message) bool {
		req, ok := m.(*sip.Request)
		return ok && req.Method == method && req.To() != nil && req.To().Params.Has("tag") == inDialog
	})
	return m.(*sip.Request)
}

// response waits for a response to the request with cseq and method whose
// status is at least minCode.
func (u *rawUA) response(method sip.RequestMethod, cseq uint32, minCode int) *sip.Response {
	u.t.Helper()
	m := u.wait(fmt.Sprintf("response >= %d to %s %d", minCode, method, cseq), func(m sip.Message) bool {
		res, ok := m.(*sip.Response)
		return ok && res.CSeq() != nil && res.CSeq().MethodName == method && res.CSeq().SeqNo == cseq && res.StatusCode >= minCode
	})
	return m.(*sip.Response)
}

func (u *rawUA) received() []datagram {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]datagram(nil), u.got...)
}

// assertNothingOf fails for every received line that carries one of p's
// secrets, and returns the start lines of everything received so a test can
// check the sweep covered the messages it meant to.
func (u *rawUA) assertNothingOf(p party, whose string) []string {
	u.t.Helper()
	var starts []string
	for _, d := range u.received() {
		first, _, _ := strings.Cut(string(d.raw), "\r\n")
		starts = append(starts, first)
		for _, line := range leakingLines(d.raw, p.secrets()) {
			u.t.Errorf("%s received %s's identity in %q:\n  %s", u.name, whose, first, line)
		}
	}
	return starts
}

// leakingLines returns the lines of msg that contain any secret, compared
// without regard to case (host names are case-insensitive).
func leakingLines(msg []byte, secrets []string) []string {
	var out []string
	for _, line := range strings.Split(string(msg), "\n") {
		lower := strings.ToLower(line)
		for _, s := range secrets {
			if strings.Contains(lower, strings.ToLower(s)) {
				out = append(out, strings.TrimRight(line, "\r"))
				break
			}
		}
	}
	return out
}

// ---- message text ----

// compactNames are the RFC 3261 / 3515 short forms a carrier may use.
var compactNames = map[string]string{
	"Via": "v", "From": "f", "To": "t", "Call-ID": "i", "Contact": "m",
	"Content-Type": "c", "Content-Length": "l", "Subject": "s", "Supported": "k",
	"Referred-By": "b",
}

// sipMsg renders a message: start line, headers in order, Content-Length
// and body. With compact, every header that has a short form uses it.
type sipMsg struct {
	start   string
	headers [][2]string
	body    string
	compact bool
}

func (m *sipMsg) add(name, value string) *sipMsg {
	m.headers = append(m.headers, [2]string{name, value})
	return m
}

func (m *sipMsg) bytes() []byte {
	var b strings.Builder
	name := func(n string) string {
		if short, ok := compactNames[n]; ok && m.compact {
			return short
		}
		return n
	}
	b.WriteString(m.start + "\r\n")
	for _, h := range m.headers {
		b.WriteString(name(h[0]) + ": " + h[1] + "\r\n")
	}
	b.WriteString(name("Content-Length") + ": " + strconv.Itoa(len(m.body)) + "\r\n\r\n")
	b.WriteString(m.body)
	return []byte(b.String())
}

// answerTo starts a response to req, echoing Via, From, To (with toTag when
// the request has none), Call-ID and CSeq as a UAS must.
func answerTo(req *sip.Request, code int, reason, toTag string) *sipMsg {
	m := &sipMsg{start: fmt.Sprintf("SIP/2.0 %d %s", code, reason)}
	for _, v := range req.GetHeaders("Via") {
		m.add("Via", v.Value())
	}
	m.add("From", req.From().Value())
	to := req.To().Value()
	if !req.To().Params.Has("tag") && toTag != "" {
		to += ";tag=" + toTag
	}
	m.add("To", to)
	m.add("Call-ID", req.CallID().Value())
	m.add("CSeq", req.CSeq().Value())
	return m
}

func branch() string { return "z9hG4bK" + sip.GenerateTagN(12) }

// carrierIdentity is every header a carrier may fill with the caller's
// number and address. Record-Route and Contact point at the carrier's real
// socket; the identity rides in their display names and parameters.
func carrierIdentity(p party, carrierPort int) [][2]string {
	here := "127.0.0.1:" + strconv.Itoa(carrierPort)
	return [][2]string{
		{"Via", "SIP/2.0/UDP " + p.ip + ":5060;branch=z9hG4bK-orig-" + p.national() + ";received=" + p.ip + ";rport=5060"},
		{"Record-Route", "<sip:" + here + ";lr;x-orig=" + p.ip + ";x-caller=" + p.intl00() + ">"},
		{"Contact", `"` + p.grouped(" ") + " at " + p.ip + `" <sip:` + p.plus() + "@" + here + ";x-ip=" + p.ip + `>;+sip.instance="<urn:uuid:` + p.national() + `>"`},
		{"P-Asserted-Identity", `"Caller ` + p.national() + `" <sip:` + p.plus() + "@" + p.ip + ";user=phone>"},
		{"P-Asserted-Identity", "<" + p.tel() + ">"},
		{"p-asserted-identity", "<sip:" + p.intl00() + "@" + p.domain + ">"},
		{"P-Preferred-Identity", "<sip:" + p.national() + "@" + p.domain + ">"},
		{"Remote-Party-ID", `"` + p.grouped("-") + `" <sip:` + p.national() + "@" + p.ip + ">;party=calling;screen=yes;privacy=off"},
		{"Diversion", "<sip:" + p.plus() + "@" + p.ip + ">;reason=unconditional;counter=1"},
		{"History-Info", "<sip:" + p.plus() + "@" + p.domain + "?Reason=SIP%3Bcause%3D302>;index=1, <sip:+" + numX + "@127.0.0.1>;index=1.1"},
		{"Call-Info", "<http://" + p.ip + "/photo/" + p.national() + ".jpg>;purpose=icon"},
		{"Subject", "call from " + p.grouped(" ")},
		{"Organization", p.domain + " " + p.plus()},
		{"User-Agent", "BuyerPhone/1.0 (" + p.ip + "; " + p.tel() + "; " + p.user + ")"},
		{"Server", "BuyerPBX/4.2 (" + p.user + "@" + p.domain + ")"},
		{"Warning", `399 ` + p.domain + ` "caller ` + p.national() + ` ` + p.user + `"`},
		{"Retry-After", "60 (" + p.user + " at " + p.domain + " " + p.national() + ");duration=600"},
		{"Referred-By", "<sip:" + p.plus() + "@" + p.ip + ">"},
		{"Reason", `SIP;cause=200;text="` + p.national() + ` ` + p.user + `@` + p.domain + `"`},
		{"X-Caller-Number", p.intl00()},
		{"X-Orig-IP", p.ip},
		{"Supported", "timer, 100rel"},
	}
}

// calleeIdentity is every header a callee's network may fill with its
// number and address in responses and requests.
func calleeIdentity(p party, trunkPort int) [][2]string {
	here := "127.0.0.1:" + strconv.Itoa(trunkPort)
	return [][2]string{
		{"Contact", `"Courier ` + p.grouped("-") + `" <sip:` + p.plus() + "@" + here + ";x-ip=" + p.ip + ">"},
		{"Record-Route", "<sip:" + here + ";lr;x-callee=" + p.plus() + ";x-ip=" + p.ip + ">"},
		{"P-Asserted-Identity", "<sip:" + p.plus() + "@" + p.domain + ";user=phone>"},
		{"p-asserted-identity", "<" + p.tel() + ">"},
		{"Remote-Party-ID", "<sip:" + p.national() + "@" + p.ip + ">;party=called;screen=yes"},
		{"P-Called-Party-ID", "<sip:" + p.intl00() + "@" + p.domain + ">"},
		{"Server", "CourierPBX/2.1 (" + p.ip + "; " + p.intl00() + ")"},
		{"User-Agent", "CourierPhone/3.0 (" + p.user + "@" + p.domain + ")"},
		{"Warning", `399 ` + p.ip + ` "callee ` + p.national() + `"`},
		{"Warning", `301 ` + p.domain + ` "` + p.user + ` is on another call"`},
		{"Reason", `Q.850;cause=16;text="` + p.plus() + ` ` + p.user + `"`},
		{"Retry-After", "120 (callee " + p.user + " " + p.grouped("-") + " busy);duration=3600"},
		{"Error-Info", "<http://" + p.domain + "/busy/" + p.national() + ".wav>"},
		{"X-Callee", p.plus()},
	}
}

// partySDP is an SDP with the party's number, address, host and user name in
// every line that can carry them. direction is sendrecv, sendonly, recvonly
// or inactive.
func partySDP(p party, rtpPort int, version int, direction string) string {
	return partySDPAt(p, p.ip, rtpPort, rtpPort+1, version, direction)
}

// partySDPAt is partySDP receiving RTP at conn:rtpPort and RTCP at
// conn:rtcpPort (the party's address is still written everywhere else).
func partySDPAt(p party, conn string, rtpPort, rtcpPort int, version int, direction string) string {
	lines := []string{
		"v=0",
		fmt.Sprintf("o=%s %d %d IN IP4 %s", p.national(), 1000+rtpPort, version, p.ip),
		"s=" + p.grouped(" "),
		"i=call of " + p.tel(),
		"u=http://" + p.domain + "/" + p.national(),
		"e=" + p.national() + "@" + p.domain,
		"p=" + p.plus(),
		"c=IN IP4 " + conn,
		"b=AS:80",
		"t=0 0",
		"a=X-orig-caller:sip:" + p.user + "@pbx." + p.domain,
		"a=tool:SoftPhone 3.1 user=" + p.user,
		"a=X-account:" + p.user,
		fmt.Sprintf("m=audio %d RTP/AVP 0 8 101", rtpPort),
		"i=voice of " + p.grouped("-"),
		"c=IN IP4 " + conn,
		"a=rtpmap:0 PCMU/8000",
		"a=rtpmap:8 PCMA/8000",
		"a=rtpmap:101 telephone-event/8000",
		"a=rtpmap:96 " + p.user + "/8000",
		"a=fmtp:101 0-16;x-user=" + p.user + ";x-host=" + p.domain,
		"a=fmtp:8 x-owner=sip:" + p.user + "@" + p.domain,
		"a=ptime:20 " + p.user,
		"a=rtcp-fb:* nack app " + p.user,
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + p.user + "@" + p.domain,
		"a=fingerprint:sha-256 " + p.user,
		"a=setup:actpass",
		"a=ssrc:4244 cname:" + p.user + "@" + p.domain,
		"a=X-nat-host:" + p.domain,
		"a=" + direction + ":" + p.user,
		fmt.Sprintf("a=rtcp:%d IN IP4 %s", rtcpPort, conn),
		fmt.Sprintf("a=candidate:1 1 UDP 2130706431 %s %d typ host", p.ip, rtpPort),
		fmt.Sprintf("a=candidate:2 1 UDP 1694498815 %s %d typ srflx raddr %s rport %d", p.ip, rtpPort, p.ip, rtpPort),
		"a=ice-ufrag:" + p.national(),
		"a=ssrc:4242 cname:" + p.ip,
		"a=ssrc:4243 cname:" + p.national(),
		"a=label:" + p.grouped(" "),
		"a=x-caller:" + p.tel(),
		"a=x-nat:" + p.ip + ":" + strconv.Itoa(rtpPort),
		"a=" + direction,
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

// onRelay reports whether an SDP the engine sent is the parties' audio
// (PCMU, PCMA, telephone-event as offered) on the relay's address.
func onRelay(sdp string) bool {
	return strings.Contains(sdp, "c=IN IP4 127.0.0.1\r\n") && strings.Contains(sdp, "a=rtpmap:101 telephone-event/8000\r\n")
}

// ---- the call, scripted on both sides ----

// privacyCall holds what both raw ends know of one call.
type privacyCall struct {
	t       *testing.T
	te      *testEngine
	binding store.Binding
	car, tr *rawUA
	compact bool

	// A leg, as the carrier knows it.
	aCallID, aFromTag, aToTag string
	aCSeq                     uint32
	engineContact             string // Request-URI for the carrier's in-dialog requests
	// B leg, as the trunk knows it.
	bInvite      *sip.Request
	bToTag       string
	bCSeq        uint32
	engineTarget string // the engine's Contact on the B leg
	// What each side got from the engine last: the relay's ports facing it.
	aAnswer []byte
	// media, when set, are real sockets on 127.0.0.1 where each party's
	// SDP says it receives; otherwise the SDP names the party's written
	// address and nothing is sent to it.
	mediaA, mediaB *mediaEnd
}

// sdpA is A's SDP (version, direction) as the call's media setting wants.
func (c *privacyCall) sdpA(version int, direction string) string {
	if c.mediaA != nil {
		return partySDPAt(partyA, "127.0.0.1", c.mediaA.rtp.Port(), c.mediaA.rtcp.Port(), version, direction)
	}
	return partySDP(partyA, 40000, version, direction)
}

// sdpB is B's SDP, like sdpA.
func (c *privacyCall) sdpB(version int, direction string) string {
	if c.mediaB != nil {
		return partySDPAt(partyB, "127.0.0.1", c.mediaB.rtp.Port(), c.mediaB.rtcp.Port(), version, direction)
	}
	return partySDP(partyB, 41000, version, direction)
}

// withTrunk points the engine's B legs at addr instead of the harness trunk.
func withTrunk(addr string) engineOpt {
	return func(s *engineSetup) { s.cfg.Trunk = addr }
}

func newPrivacyCall(t *testing.T, compact bool, opts ...engineOpt) *privacyCall {
	t.Helper()
	tr := newRawUA(t, "trunk")
	te := newTestEngine(t, append([]engineOpt{withTrunk(tr.addr())}, opts...)...)
	bd := te.bind(numX, numA, numB, time.Hour)
	return &privacyCall{
		t: t, te: te, binding: bd, car: newRawUA(t, "carrier"), tr: tr, compact: compact,
		aCallID: sip.GenerateTagN(16) + "@" + partyA.ip, aFromTag: sip.GenerateTagN(10),
		bToTag: sip.GenerateTagN(10), bCSeq: 100,
	}
}

// fromA is the carrier's From: display name and URI both name A; the
// number format changes with the variant so every format crosses the engine.
func (c *privacyCall) fromA() string {
	if c.compact {
		return `"` + partyA.grouped(" ") + `" <sip:` + partyA.intl00() + "@" + partyA.ip + ">;tag=" + c.aFromTag
	}
	return `"Buyer ` + partyA.grouped("-") + " " + partyA.ip + `" <sip:` + partyA.plus() + "@" + partyA.domain + ";user=phone>;tag=" + c.aFromTag
}

// carrierRequest starts an A-leg request; an empty branch gets a new one.
func (c *privacyCall) carrierRequest(method sip.RequestMethod, uri string, cseq uint32, br string) *sipMsg {
	if br == "" {
		br = branch()
	}
	m := &sipMsg{start: string(method) + " " + uri + " SIP/2.0", compact: c.compact}
	m.add("Via", "SIP/2.0/UDP "+c.car.addr()+";branch="+br+";rport")
	for _, h := range carrierIdentity(partyA, c.car.port) {
		m.add(h[0], h[1])
	}
	m.add("Max-Forwards", "69")
	m.add("From", c.fromA())
	to := "<sip:+" + numX + "@127.0.0.1;user=phone>"
	if c.aToTag != "" {
		to += ";tag=" + c.aToTag
	}
	m.add("To", to)
	m.add("Call-ID", c.aCallID)
	m.add("CSeq", fmt.Sprintf("%d %s", cseq, method))
	return m
}

// carrierAnswer answers a request the engine sent on the A leg, with A's
// identity in every header a UA may add to a response.
func (c *privacyCall) carrierAnswer(req *sip.Request, code int, reason, sdp string) {
	m := answerTo(req, code, reason, "")
	m.compact = c.compact
	for _, h := range carrierIdentity(partyA, c.car.port) {
		if h[0] != "Via" { // a UAS adds no Via to a response
			m.add(h[0], h[1])
		}
	}
	if sdp != "" {
		m.add("Content-Type", "application/sdp")
		m.body = sdp
	}
	c.car.send(c.te.addr, m.bytes())
}

// trunkAnswer answers a request the engine sent on the B leg.
func (c *privacyCall) trunkAnswer(req *sip.Request, code int, reason, sdp string) {
	ct := ""
	if sdp != "" {
		ct = "application/sdp"
	}
	c.trunkAnswerBody(req, code, reason, ct, sdp)
}

// trunkAnswerBody answers on the B leg with a body of any type: the error
// pages, JSON and sipfrag a callee's network attaches to failures.
func (c *privacyCall) trunkAnswerBody(req *sip.Request, code int, reason, contentType, body string) {
	m := answerTo(req, code, reason, c.bToTag)
	m.compact = c.compact
	for _, h := range calleeIdentity(partyB, c.tr.port) {
		m.add(h[0], h[1])
	}
	if body != "" {
		m.add("Content-Type", contentType)
		m.body = body
	}
	c.tr.send(c.te.addr, m.bytes())
}

// errorPage is an HTML error body naming the party, as PBXs send with a 486.
func errorPage(p party) string {
	return "<html><body><h1>" + p.user + " (" + p.grouped(" ") + ") is busy</h1><p>" + p.domain + " " + p.ip + "</p></body></html>\r\n"
}

// carrierAnswerBody answers on the A leg with a body of any type.
func (c *privacyCall) carrierAnswerBody(req *sip.Request, code int, reason, contentType, body string) {
	m := answerTo(req, code, reason, "")
	m.compact = c.compact
	for _, h := range carrierIdentity(partyA, c.car.port) {
		if h[0] != "Via" {
			m.add(h[0], h[1])
		}
	}
	m.add("Content-Type", contentType)
	m.body = body
	c.car.send(c.te.addr, m.bytes())
}

// trunkRequest starts a B-leg request in the dialog the INVITE created.
func (c *privacyCall) trunkRequest(method sip.RequestMethod, cseq uint32) *sipMsg {
	m := &sipMsg{start: string(method) + " " + c.engineTarget + " SIP/2.0", compact: c.compact}
	m.add("Via", "SIP/2.0/UDP "+c.tr.addr()+";branch="+branch()+";rport")
	for _, h := range calleeIdentity(partyB, c.tr.port) {
		m.add(h[0], h[1])
	}
	m.add("Max-Forwards", "70")
	m.add("From", c.bInvite.To().Value()+";tag="+c.bToTag)
	m.add("To", c.bInvite.From().Value())
	m.add("Call-ID", sipedge.CallID(c.bInvite))
	m.add("CSeq", fmt.Sprintf("%d %s", cseq, method))
	return m
}

// inviteB sends A's INVITE (with A's offer unless lateOffer) and returns
// its branch and the B-leg INVITE the trunk gets, after checking it is the
// masked call to B showing X.
func (c *privacyCall) inviteB(lateOffer bool) (string, *sip.Request) {
	t := c.t
	t.Helper()
	c.aCSeq = 1
	br := branch()
	inv := c.carrierRequest(sip.INVITE, "sip:+"+numX+"@"+c.te.addr+";user=phone", 1, br)
	if !lateOffer {
		inv.add("Content-Type", "application/sdp")
		inv.body = c.sdpA(1, "sendrecv")
	}
	c.car.send(c.te.addr, inv.bytes())

	bInv := c.tr.request(sip.INVITE, false)
	c.bInvite = bInv
	if got := bInv.Recipient.User; got != "+"+numB {
		t.Fatalf("B leg went to %q, want +%s", got, numB)
	}
	if got := bInv.From().Address.User; got != "+"+numX {
		t.Errorf("B leg shows %q as the caller, want +%s", got, numX)
	}
	if body := string(bInv.Body()); lateOffer && body != "" {
		t.Errorf("B leg got an offer A never made:\n%s", body)
	} else if !lateOffer && !onRelay(body) {
		t.Errorf("B leg offer is not A's offer on the relay:\n%s", body)
	}
	c.engineTarget = bInv.Contact().Address.String()
	return br, bInv
}

// setup runs the call to answered: ringing, early media and the answer
// from B, ACK on both legs.
func (c *privacyCall) setup() {
	t := c.t
	t.Helper()
	_, bInv := c.inviteB(false)
	// Each provisional is awaited before the next is sent: sipgo hands each
	// response to its transaction on its own goroutine, so responses sent
	// back to back may be reordered and a 18x overtaken by the final dropped.
	c.trunkAnswer(bInv, 180, "Ringing "+partyB.national(), "")
	if res := c.car.response(sip.INVITE, 1, 180); res.StatusCode != 180 {
		t.Fatalf("A got %d, want 180", res.StatusCode)
	}
	c.trunkAnswer(bInv, 183, "Session Progress from "+partyB.ip, c.sdpB(1, "sendrecv"))
	if res := c.car.response(sip.INVITE, 1, 181); res.StatusCode != 183 || !onRelay(string(res.Body())) {
		t.Fatalf("A got %d, want 183 with the relay's early-media SDP:\n%s", res.StatusCode, res.Body())
	}
	c.trunkAnswer(bInv, 200, "OK "+partyB.plus(), c.sdpB(2, "sendrecv"))
	if ack := c.tr.request(sip.ACK, true); ack.CSeq().SeqNo != bInv.CSeq().SeqNo {
		t.Errorf("B leg ACK has CSeq %d, want %d", ack.CSeq().SeqNo, bInv.CSeq().SeqNo)
	}
	final := c.car.response(sip.INVITE, 1, 200)
	if final.StatusCode != 200 {
		t.Fatalf("A got %d, want 200", final.StatusCode)
	}
	if !onRelay(string(final.Body())) {
		t.Errorf("A's answer is not on the relay:\n%s", final.Body())
	}
	c.aToTag, _ = final.To().Params.Get("tag")
	c.engineContact = final.Contact().Address.String()
	c.aAnswer = final.Body()
	c.car.send(c.te.addr, c.carrierRequest(sip.ACK, c.engineContact, 1, "").bytes())
}

// holdFromA puts the call on hold from A (re-INVITE, a=sendonly): the
// engine mirrors it to B and B's answer back.
func (c *privacyCall) holdFromA() {
	t := c.t
	t.Helper()
	c.aCSeq++
	req := c.carrierRequest(sip.INVITE, c.engineContact, c.aCSeq, "")
	req.add("Contact", "<sip:"+partyA.plus()+"@"+c.car.addr()+">")
	req.add("Content-Type", "application/sdp")
	req.body = c.sdpA(2, "sendonly")
	c.car.send(c.te.addr, req.bytes())

	got := c.tr.request(sip.INVITE, true)
	if sipedge.CallID(got) != sipedge.CallID(c.bInvite) {
		t.Errorf("mirrored re-INVITE has Call-ID %q, want the B leg's", sipedge.CallID(got))
	}
	if !strings.Contains(string(got.Body()), "a=sendonly") {
		t.Errorf("mirrored re-INVITE lost the hold:\n%s", got.Body())
	}
	c.trunkAnswer(got, 200, "OK "+partyB.national(), c.sdpB(3, "recvonly"))
	c.tr.wait("ACK of the mirrored re-INVITE", func(m sip.Message) bool {
		r, ok := m.(*sip.Request)
		return ok && r.IsAck() && r.CSeq().SeqNo == got.CSeq().SeqNo
	})

	res := c.car.response(sip.INVITE, c.aCSeq, 200)
	if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "a=recvonly") {
		t.Errorf("A's hold got %d with SDP:\n%s", res.StatusCode, res.Body())
	}
	c.car.send(c.te.addr, c.carrierRequest(sip.ACK, c.engineContact, c.aCSeq, "").bytes())
}

// holdFromB puts the call on hold from B, mirrored to A.
func (c *privacyCall) holdFromB() {
	t := c.t
	t.Helper()
	c.bCSeq++
	req := c.trunkRequest(sip.INVITE, c.bCSeq)
	req.add("Content-Type", "application/sdp")
	req.body = c.sdpB(4, "sendonly")
	c.tr.send(c.te.addr, req.bytes())

	got := c.car.request(sip.INVITE, true)
	if sipedge.CallID(got) != c.aCallID {
		t.Errorf("mirrored re-INVITE has Call-ID %q, want the A leg's", sipedge.CallID(got))
	}
	if !strings.Contains(string(got.Body()), "a=sendonly") {
		t.Errorf("mirrored re-INVITE lost the hold:\n%s", got.Body())
	}
	c.carrierAnswer(got, 200, "OK "+partyA.national(), c.sdpA(3, "recvonly"))
	c.car.wait("ACK of the mirrored re-INVITE", func(m sip.Message) bool {
		r, ok := m.(*sip.Request)
		return ok && r.IsAck() && r.CSeq().SeqNo == got.CSeq().SeqNo
	})

	res := c.tr.response(sip.INVITE, c.bCSeq, 200)
	if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "a=recvonly") {
		t.Errorf("B's hold got %d with SDP:\n%s", res.StatusCode, res.Body())
	}
	c.tr.send(c.te.addr, c.trunkRequest(sip.ACK, c.bCSeq).bytes())
}

// dtmfInfo sends a SIP INFO keypress from each side to the other.
func (c *privacyCall) dtmfInfo() {
	t := c.t
	t.Helper()
	c.aCSeq++
	req := c.carrierRequest(sip.INFO, c.engineContact, c.aCSeq, "")
	req.add("Content-Type", "application/dtmf-relay;x-from="+partyA.plus())
	req.body = "Signal=5\r\nDuration=160\r\nX-Caller=" + partyA.plus() + "\r\n"
	c.car.send(c.te.addr, req.bytes())
	got := c.tr.request(sip.INFO, true)
	if !strings.Contains(string(got.Body()), "Signal=5") {
		t.Errorf("INFO reached B without its keypress:\n%s", got.Body())
	}
	c.trunkAnswer(got, 200, "OK "+partyB.ip, "")
	if res := c.car.response(sip.INFO, c.aCSeq, 200); res.StatusCode != 200 {
		t.Errorf("A's INFO got %d", res.StatusCode)
	}

	c.bCSeq++
	req = c.trunkRequest(sip.INFO, c.bCSeq)
	req.add("Content-Type", "application/dtmf-relay;x-from="+partyB.plus())
	req.body = "Signal=#\r\nDuration=160\r\nX-Callee=" + partyB.ip + "\r\n"
	c.tr.send(c.te.addr, req.bytes())
	got = c.car.request(sip.INFO, true)
	if !strings.Contains(string(got.Body()), "Signal=#") {
		t.Errorf("INFO reached A without its keypress:\n%s", got.Body())
	}
	c.carrierAnswer(got, 200, "OK "+partyA.ip, "")
	if res := c.tr.response(sip.INFO, c.bCSeq, 200); res.StatusCode != 200 {
		t.Errorf("B's INFO got %d", res.StatusCode)
	}
}

// updateBothWays sends an UPDATE with a new offer from each side (RFC
// 3311); each is mirrored with its SDP rewritten, and the answer back.
func (c *privacyCall) updateBothWays() {
	t := c.t
	t.Helper()
	c.aCSeq++
	req := c.carrierRequest(sip.UPDATE, c.engineContact, c.aCSeq, "")
	req.add("Contact", "<sip:"+partyA.plus()+"@"+c.car.addr()+">")
	req.add("Content-Type", "application/sdp")
	req.body = c.sdpA(5, "sendrecv")
	c.car.send(c.te.addr, req.bytes())
	got := c.tr.request(sip.UPDATE, true)
	if !onRelay(string(got.Body())) {
		t.Errorf("mirrored UPDATE is not A's offer on the relay:\n%s", got.Body())
	}
	c.trunkAnswer(got, 200, "OK "+partyB.user, c.sdpB(5, "sendrecv"))
	if res := c.car.response(sip.UPDATE, c.aCSeq, 200); res.StatusCode != 200 || !onRelay(string(res.Body())) {
		t.Errorf("A's UPDATE got %d with SDP:\n%s", res.StatusCode, res.Body())
	}

	c.bCSeq++
	breq := c.trunkRequest(sip.UPDATE, c.bCSeq)
	breq.add("Contact", "<sip:"+partyB.plus()+"@"+c.tr.addr()+">")
	breq.add("Content-Type", "application/sdp")
	breq.body = c.sdpB(6, "sendrecv")
	c.tr.send(c.te.addr, breq.bytes())
	got = c.car.request(sip.UPDATE, true)
	if !onRelay(string(got.Body())) {
		t.Errorf("mirrored UPDATE is not B's offer on the relay:\n%s", got.Body())
	}
	c.carrierAnswer(got, 200, "OK "+partyA.user, c.sdpA(6, "sendrecv"))
	if res := c.tr.response(sip.UPDATE, c.bCSeq, 200); res.StatusCode != 200 || !onRelay(string(res.Body())) {
		t.Errorf("B's UPDATE got %d with SDP:\n%s", res.StatusCode, res.Body())
	}
}

// failuresWithBodies has each side refuse a request of the other with an
// error page naming itself: the code crosses, the page and headers do not.
func (c *privacyCall) failuresWithBodies() {
	t := c.t
	t.Helper()
	// B refuses A's re-INVITE with 488 and an HTML page.
	c.aCSeq++
	br := branch()
	req := c.carrierRequest(sip.INVITE, c.engineContact, c.aCSeq, br)
	req.add("Contact", "<sip:"+partyA.plus()+"@"+c.car.addr()+">")
	req.add("Content-Type", "application/sdp")
	req.body = c.sdpA(7, "sendrecv")
	c.car.send(c.te.addr, req.bytes())
	got := c.tr.request(sip.INVITE, true)
	c.trunkAnswerBody(got, 488, "Not Acceptable for "+partyB.user, "text/html", errorPage(partyB))
	c.tr.wait("ACK of the refused re-INVITE", func(m sip.Message) bool {
		r, ok := m.(*sip.Request)
		return ok && r.IsAck() && r.CSeq().SeqNo == got.CSeq().SeqNo
	})
	res := c.car.response(sip.INVITE, c.aCSeq, 300)
	if res.StatusCode != 488 || len(res.Body()) != 0 {
		t.Errorf("A's refused re-INVITE got %d with body %q, want 488 and none", res.StatusCode, res.Body())
	}
	c.car.send(c.te.addr, c.carrierRequest(sip.ACK, c.engineContact, c.aCSeq, br).bytes())

	// A refuses B's INFO with 480 and a plain-text explanation.
	c.bCSeq++
	info := c.trunkRequest(sip.INFO, c.bCSeq)
	info.add("Content-Type", "application/dtmf-relay")
	info.body = "Signal=1\r\nDuration=100\r\n"
	c.tr.send(c.te.addr, info.bytes())
	gotInfo := c.car.request(sip.INFO, true)
	c.carrierAnswerBody(gotInfo, 480, "Away: "+partyA.user, "text/plain", partyA.user+" at "+partyA.domain+" ("+partyA.plus()+") is away\r\n")
	if res := c.tr.response(sip.INFO, c.bCSeq, 300); res.StatusCode != 480 || len(res.Body()) != 0 {
		t.Errorf("B's refused INFO got %d with body %q, want 480 and none", res.StatusCode, res.Body())
	}
}

// foreignBodyRefused sends an INFO whose body the engine cannot vet (an
// ISUP-style multipart naming A) and expects 415 instead of a mirror.
func (c *privacyCall) foreignBodyRefused() {
	c.t.Helper()
	c.aCSeq++
	req := c.carrierRequest(sip.INFO, c.engineContact, c.aCSeq, "")
	req.add("Content-Type", "multipart/mixed;boundary=unique")
	req.body = "--unique\r\nContent-Type: application/isup;version=itu-t92+\r\n\r\ncalling " + partyA.national() + "\r\n--unique--\r\n"
	c.car.send(c.te.addr, req.bytes())
	res := c.car.response(sip.INFO, c.aCSeq, 200)
	if res.StatusCode != 415 {
		c.t.Errorf("INFO with a multipart body got %d, want 415", res.StatusCode)
	}
	if a := res.GetHeader("Accept"); a == nil || !strings.Contains(a.Value(), "application/sdp") {
		c.t.Errorf("415 has no Accept naming what may cross: %v", a)
	}
}

func (c *privacyCall) byeFromA() {
	c.t.Helper()
	c.aCSeq++
	c.car.send(c.te.addr, c.carrierRequest(sip.BYE, c.engineContact, c.aCSeq, "").bytes())
	if res := c.car.response(sip.BYE, c.aCSeq, 200); res.StatusCode != 200 {
		c.t.Errorf("A's BYE got %d", res.StatusCode)
	}
	c.trunkAnswer(c.tr.request(sip.BYE, true), 200, "Bye "+partyB.national(), "")
}

func (c *privacyCall) byeFromB() {
	c.t.Helper()
	c.bCSeq++
	c.tr.send(c.te.addr, c.trunkRequest(sip.BYE, c.bCSeq).bytes())
	if res := c.tr.response(sip.BYE, c.bCSeq, 200); res.StatusCode != 200 {
		c.t.Errorf("B's BYE got %d", res.StatusCode)
	}
	c.carrierAnswer(c.car.request(sip.BYE, true), 200, "Bye "+partyA.national(), "")
}

// bindingDeleted ends the call from the engine: the platform deletes the
// binding and both legs get a BYE, answered with each party's identity.
func (c *privacyCall) bindingDeleted() {
	c.t.Helper()
	if _, err := c.te.store.DeleteBinding(context.Background(), c.binding.ID); err != nil {
		c.t.Fatal(err)
	}
	c.carrierAnswer(c.car.request(sip.BYE, true), 200, "Bye "+partyA.national(), "")
	c.trunkAnswer(c.tr.request(sip.BYE, true), 200, "Bye "+partyB.national(), "")
}

// sweep checks everything each side received and that the sweep saw the
// messages the scenario is about: each side's list of start-line prefixes.
func (c *privacyCall) sweep(carrierWants, trunkWants []string) {
	c.t.Helper()
	c.te.waitIdle()
	for _, side := range []struct {
		ua    *rawUA
		other party
		whose string
		wants []string
	}{
		{c.car, partyB, "B", carrierWants},
		{c.tr, partyA, "A", trunkWants},
	} {
		starts := side.ua.assertNothingOf(side.other, side.whose)
		for _, want := range side.wants {
			found := false
			for _, s := range starts {
				found = found || strings.HasPrefix(s, want)
			}
			if !found {
				c.t.Errorf("%s never received %q; got %q", side.ua.name, want, starts)
			}
		}
	}
}

func TestPrivacyEstablishedCall(t *testing.T) {
	cases := []struct {
		name    string
		compact bool
		hangup  origin
	}{
		{"long headers, A hangs up", false, byA},
		{"compact headers, B hangs up", true, byB},
		{"long headers, binding deleted", false, byEngine},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newPrivacyCall(t, tc.compact)
			c.setup()
			c.holdFromA()
			c.holdFromB()
			c.dtmfInfo()
			c.updateBothWays()
			c.failuresWithBodies()
			c.foreignBodyRefused()
			carrierWants := []string{"SIP/2.0 180", "SIP/2.0 183", "SIP/2.0 200", "SIP/2.0 488", "INVITE ", "ACK ", "INFO ", "UPDATE "}
			trunkWants := []string{"INVITE ", "ACK ", "INFO ", "UPDATE ", "SIP/2.0 200", "SIP/2.0 480"}
			switch tc.hangup {
			case byA:
				c.byeFromA()
				trunkWants = append(trunkWants, "BYE ")
			case byB:
				c.byeFromB()
				carrierWants = append(carrierWants, "BYE ")
			default:
				c.bindingDeleted()
				trunkWants = append(trunkWants, "BYE ")
				carrierWants = append(carrierWants, "BYE ")
			}
			c.sweep(carrierWants, trunkWants)
		})
	}
}

// TestPrivacyCancelledCall: A gives up while B rings; the CANCEL, B's 487
// and everything around them stay masked.
func TestPrivacyCancelledCall(t *testing.T) {
	c := newPrivacyCall(t, false)
	br, bInv := c.inviteB(false)
	c.trunkAnswer(bInv, 180, "Ringing "+partyB.grouped(" "), "")
	c.car.response(sip.INVITE, 1, 180)

	cancel := c.carrierRequest(sip.CANCEL, "sip:+"+numX+"@"+c.te.addr+";user=phone", 1, br)
	c.car.send(c.te.addr, cancel.bytes())
	if res := c.car.response(sip.CANCEL, 1, 200); res.StatusCode != 200 {
		t.Errorf("A's CANCEL got %d", res.StatusCode)
	}
	bCancel := c.tr.request(sip.CANCEL, false)
	c.trunkAnswer(bCancel, 200, "OK "+partyB.ip, "")
	c.trunkAnswer(bInv, 487, "Request Terminated by "+partyB.plus(), "")
	c.tr.wait("ACK of the 487", func(m sip.Message) bool {
		r, ok := m.(*sip.Request)
		return ok && r.IsAck()
	})
	res := c.car.response(sip.INVITE, 1, 300)
	if res.StatusCode != 487 {
		t.Errorf("A's INVITE ended with %d, want 487", res.StatusCode)
	}
	c.aToTag, _ = res.To().Params.Get("tag")
	c.car.send(c.te.addr, c.carrierRequest(sip.ACK, "sip:+"+numX+"@"+c.te.addr+";user=phone", 1, br).bytes())
	c.sweep([]string{"SIP/2.0 180", "SIP/2.0 200", "SIP/2.0 487"}, []string{"INVITE ", "CANCEL ", "ACK "})
}

// TestPrivacyFailedCall: B's failure reaches A as a code with our own reason
// phrase and none of B's headers; a redirect hands A no target.
func TestPrivacyFailedCall(t *testing.T) {
	cases := []struct {
		code        int
		reason      string
		contentType string // of the error body B attaches
		body        string
		wantCode    int
	}{
		{486, "Busy Here " + partyB.national(), "text/html", errorPage(partyB), 486},
		{404, "Not Found: " + partyB.plus() + " at " + partyB.ip, "application/json", `{"callee":"` + partyB.plus() + `","user":"` + partyB.user + `"}`, 404},
		{302, "Moved to " + partyB.grouped("-"), "message/sipfrag", "SIP/2.0 302 Moved\r\nContact: <sip:" + partyB.user + "@" + partyB.domain + ">\r\n", 480},
		{503, "Service Unavailable at " + partyB.domain, "text/plain", partyB.user + " overloaded, retry later\r\n", 503},
		{603, "Decline", "application/sdp", partySDP(partyB, 41000, 1, "inactive"), 603},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			c := newPrivacyCall(t, false)
			br, bInv := c.inviteB(false)
			c.trunkAnswer(bInv, 183, "Session Progress", partySDP(partyB, 41000, 1, "sendrecv"))
			c.car.response(sip.INVITE, 1, 183) // before the final overtakes it
			c.trunkAnswerBody(bInv, tc.code, tc.reason, tc.contentType, tc.body)
			c.tr.wait("ACK of the failure", func(m sip.Message) bool {
				r, ok := m.(*sip.Request)
				return ok && r.IsAck()
			})
			res := c.car.response(sip.INVITE, 1, 200)
			if res.StatusCode != tc.wantCode || len(res.Body()) != 0 {
				t.Errorf("A got %d with body %q, want %d and none", res.StatusCode, res.Body(), tc.wantCode)
			}
			c.aToTag, _ = res.To().Params.Get("tag")
			c.car.send(c.te.addr, c.carrierRequest(sip.ACK, "sip:+"+numX+"@"+c.te.addr+";user=phone", 1, br).bytes())
			c.sweep([]string{"SIP/2.0 183", "SIP/2.0 " + strconv.Itoa(tc.wantCode)}, []string{"INVITE ", "ACK "})
		})
	}
}

// TestPrivacyLateOffer: A's INVITE has no SDP, so B's offer travels in the
// 200 and A's answer in its ACK, which the engine carries to B in B's ACK.
func TestPrivacyLateOffer(t *testing.T) {
	c := newPrivacyCall(t, false)
	_, bInv := c.inviteB(true)
	c.trunkAnswer(bInv, 200, "OK "+partyB.plus(), partySDP(partyB, 41000, 1, "sendrecv"))
	final := c.car.response(sip.INVITE, 1, 200)
	if final.StatusCode != 200 || !onRelay(string(final.Body())) {
		t.Fatalf("A got %d, want 200 with B's offer on the relay:\n%s", final.StatusCode, final.Body())
	}
	c.aToTag, _ = final.To().Params.Get("tag")
	c.engineContact = final.Contact().Address.String()
	ack := c.carrierRequest(sip.ACK, c.engineContact, 1, "")
	ack.add("Content-Type", "application/sdp")
	ack.body = partySDP(partyA, 40000, 1, "sendrecv")
	c.car.send(c.te.addr, ack.bytes())
	if bAck := c.tr.request(sip.ACK, true); !onRelay(string(bAck.Body())) {
		t.Errorf("B's ACK does not carry A's answer on the relay:\n%s", bAck.Body())
	}
	c.byeFromA()
	c.sweep([]string{"SIP/2.0 200"}, []string{"INVITE ", "ACK ", "BYE "})
}

// ---- RTCP ----

// mediaEnd is where one party receives RTP and RTCP.
type mediaEnd struct{ rtp, rtcp *testkit.Peer }

func newMediaEnd(t *testing.T) *mediaEnd {
	return &mediaEnd{rtp: testkit.NewPeer(t), rtcp: testkit.NewPeer(t)}
}

// relayRTCPPort reads the relay's RTCP port (a=rtcp) from an SDP the engine
// sent.
func relayRTCPPort(t *testing.T, sdp []byte) int {
	t.Helper()
	port, err := testkit.RTCPPort(sdp)
	if err != nil {
		t.Fatalf("%v in:\n%s", err, sdp)
	}
	return port
}

// rtcpWords frames one RTCP packet: header (count, type, length) and body
// padded with zeros to 32-bit words.
func rtcpWords(count, typ byte, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	h := []byte{0x80 | count, typ, 0, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(len(body)/4))
	return append(h, body...)
}

// identityRTCP is the compound packet a phone sends that names its owner
// everywhere RTCP has text: an SR, SDES with every item type (CNAME, NAME,
// EMAIL, PHONE, LOC, TOOL, NOTE, PRIV), an APP packet and a BYE with reason.
func identityRTCP(p party, ssrc uint32) []byte {
	ssrcBytes := binary.BigEndian.AppendUint32(nil, ssrc)
	sr := rtcpWords(0, 200, append(bytes.Clone(ssrcBytes), make([]byte, 20)...))
	sdes := bytes.Clone(ssrcBytes)
	for i, text := range []string{
		p.user + "@" + p.domain,                  // CNAME
		p.user + " " + p.grouped(" "),            // NAME
		p.user + "@" + p.domain,                  // EMAIL
		p.plus(),                                 // PHONE
		p.ip + " " + p.domain,                    // LOC
		"SoftPhone " + p.user,                    // TOOL
		"calling from " + p.grouped("-"),         // NOTE
		"\x06x-user" + p.user + " " + p.e164[2:], // PRIV: prefix length, prefix, value
	} {
		sdes = append(sdes, byte(i+1), byte(len(text)))
		sdes = append(sdes, text...)
	}
	sdes = append(sdes, 0) // end of items; rtcpWords pads the chunk
	app := append(bytes.Clone(ssrcBytes), []byte("XBRG"+p.national()+" "+p.user+"@"+p.domain)...)
	reason := p.user + " hung up " + p.national()
	bye := append(bytes.Clone(ssrcBytes), byte(len(reason)))
	bye = append(bye, reason...)
	out := sr
	out = append(out, rtcpWords(1, 202, sdes)...)
	out = append(out, rtcpWords(0, 204, app)...)
	return append(out, rtcpWords(1, 203, bye)...)
}

// rtcpTypes lists the packet types of a compound RTCP datagram.
func rtcpTypes(b []byte) []int {
	var types []int
	for len(b) >= 4 {
		types = append(types, int(b[1]))
		size := 4 * (int(binary.BigEndian.Uint16(b[2:])) + 1)
		if size > len(b) {
			break
		}
		b = b[size:]
	}
	return types
}

// TestPrivacyRTCP: RTCP crosses the relay without the sender's identity.
// Each party sends, from the RTCP address its SDP names, a compound packet
// naming itself in every SDES item, an APP packet and a BYE reason; the
// other party gets the report and the SDES and BYE framing with none of
// that text, and no APP.
func TestPrivacyRTCP(t *testing.T) {
	c := newPrivacyCall(t, false)
	c.mediaA, c.mediaB = newMediaEnd(t), newMediaEnd(t)
	c.setup()
	toA := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(relayRTCPPort(t, c.aAnswer)))
	toB := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(relayRTCPPort(t, c.bInvite.Body())))
	for _, dir := range []struct {
		name     string
		from, to *mediaEnd
		relay    netip.AddrPort
		sender   party
	}{
		{"A to B", c.mediaA, c.mediaB, toA, partyA},
		{"B to A", c.mediaB, c.mediaA, toB, partyB},
	} {
		t.Run(dir.name, func(t *testing.T) {
			pkt := identityRTCP(dir.sender, 0x5eed0001)
			var got []byte
			// RTCP is UDP: resend (a bounded few times) until one arrives.
			for try := 0; try < 20 && got == nil; try++ {
				dir.from.rtcp.Send(dir.relay, pkt)
				if d, ok := dir.to.rtcp.Next(100 * time.Millisecond); ok {
					got = d.Data
				}
			}
			if got == nil {
				t.Fatalf("no RTCP crossed the relay")
			}
			if types := rtcpTypes(got); fmt.Sprint(types) != "[200 202 203]" {
				t.Errorf("RTCP packet types %v, want SR, SDES, BYE (APP removed)", types)
			}
			lower := strings.ToLower(string(got))
			for _, secret := range append(dir.sender.secrets(), dir.sender.e164, "x-user", "softphone", "hung up") {
				if strings.Contains(lower, strings.ToLower(secret)) {
					t.Errorf("RTCP from %s reached the other side with %q:\n%q", dir.name, secret, got)
				}
			}
		})
	}
	c.byeFromA()
	c.sweep([]string{"SIP/2.0 200"}, []string{"INVITE ", "ACK ", "BYE "})
}
