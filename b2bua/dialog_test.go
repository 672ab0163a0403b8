package b2bua

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Requests in a call's dialogs, on the wire: only a leg's own requests
// (Call-ID, both tags, the leg's peer IP) are taken, and one offer/answer
// exchange at a time crosses the call. The parties are the raw UAs of the
// privacy test (privacy_test.go); a stranger sends from 127.0.0.2, another
// address of the loopback network.

// oneShot is a socket that sends a request and waits for its final response:
// a stranger, or a party sending from a port other than its own.
type oneShot struct {
	t    *testing.T
	conn *net.UDPConn
}

func newOneShot(t *testing.T, ip string) *oneShot {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &oneShot{t: t, conn: conn}
}

// ask sends m to addr with its top Via naming this socket, and returns the
// final response (nil when none comes within two seconds).
func (o *oneShot) ask(addr string, m *sipMsg) *sip.Response {
	o.t.Helper()
	m.headers[0] = [2]string{"Via", "SIP/2.0/UDP " + o.conn.LocalAddr().String() + ";branch=" + branch() + ";rport"}
	dst, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		o.t.Fatal(err)
	}
	if _, err := o.conn.WriteToUDP(m.bytes(), dst); err != nil {
		o.t.Fatal(err)
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		_ = o.conn.SetReadDeadline(deadline)
		n, _, err := o.conn.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		if msg, err := sip.ParseMessage(bytes.Clone(buf[:n])); err == nil {
			if res, ok := msg.(*sip.Response); ok && res.StatusCode >= 200 {
				return res
			}
		}
	}
	return nil
}

// setHeader replaces the value of every header called name.
func setHeader(m *sipMsg, name, value string) {
	for i := range m.headers {
		if m.headers[i][0] == name {
			m.headers[i][1] = value
		}
	}
}

// inDialogRequests counts the in-dialog requests of method u received.
func inDialogRequests(u *rawUA, method sip.RequestMethod) int {
	n := 0
	for _, d := range u.received() {
		if req, ok := d.msg.(*sip.Request); ok && req.Method == method && req.To().Params.Has("tag") {
			n++
		}
	}
	return n
}

// infoAcross sends a keypress INFO from by's leg and waits for it on the
// other: the call is up and its dialogs still carry requests.
func (c *privacyCall) infoAcross(by origin) {
	c.t.Helper()
	from, to := c.car, c.tr
	var req *sipMsg
	var seq uint32
	if by == byA {
		c.aCSeq++
		seq = c.aCSeq
		req = c.carrierRequest(sip.INFO, c.engineContact, seq, "")
	} else {
		c.bCSeq++
		seq = c.bCSeq
		req = c.trunkRequest(sip.INFO, seq)
		from, to = c.tr, c.car
	}
	req.add("Content-Type", "application/dtmf-relay")
	req.body = "Signal=7\r\nDuration=160\r\n"
	from.send(c.te.addr, req.bytes())
	got := to.request(sip.INFO, true)
	if by == byA {
		c.trunkAnswer(got, 200, "OK", "")
	} else {
		c.carrierAnswer(got, 200, "OK", "")
	}
	if res := from.response(sip.INFO, seq, 200); res.StatusCode != 200 {
		c.t.Fatalf("%s's INFO got %d", by, res.StatusCode)
	}
}

// TestStrayInDialogRequestsGet481: a request that names a call's dialog but
// is not that dialog's (tags of another, none, another Call-ID, or right in
// every header but sent from a stranger's address) gets 481, and the call
// stays up with nothing mirrored: no BYE, re-INVITE, UPDATE or INFO reaches
// the other party, and the legs still carry a keypress each way.
func TestStrayInDialogRequestsGet481(t *testing.T) {
	const stranger = "127.0.0.2"
	cases := []struct {
		name   string
		by     origin
		method sip.RequestMethod
		from   string // "" sends from the party's own socket
		spoil  func(c *privacyCall, m *sipMsg)
	}{
		{"A's BYE with another From-tag", byA, sip.BYE, "", func(c *privacyCall, m *sipMsg) {
			setHeader(m, "From", strings.Replace(c.fromA(), c.aFromTag, "f00", 1))
		}},
		{"A's BYE with another To-tag", byA, sip.BYE, "", func(c *privacyCall, m *sipMsg) {
			setHeader(m, "To", "<sip:+"+numX+"@127.0.0.1;user=phone>;tag=f00")
		}},
		{"A's BYE without a To-tag", byA, sip.BYE, "", func(c *privacyCall, m *sipMsg) {
			setHeader(m, "To", "<sip:+"+numX+"@127.0.0.1;user=phone>")
		}},
		{"A's BYE with B's tags", byA, sip.BYE, "", func(c *privacyCall, m *sipMsg) {
			setHeader(m, "From", "<sip:x@127.0.0.1>;tag="+c.bToTag)
			setHeader(m, "To", c.bInvite.From().Value())
		}},
		{"BYE with a Call-ID of no call", byA, sip.BYE, "", func(c *privacyCall, m *sipMsg) {
			setHeader(m, "Call-ID", "no-such-call@127.0.0.1")
		}},
		{"A's BYE from a stranger", byA, sip.BYE, stranger, nil},
		{"A's re-INVITE from a stranger", byA, sip.INVITE, stranger, nil},
		{"A's INFO from a stranger", byA, sip.INFO, stranger, nil},
		{"A's INFO with another From-tag", byA, sip.INFO, "", func(c *privacyCall, m *sipMsg) {
			setHeader(m, "From", strings.Replace(c.fromA(), c.aFromTag, "f00", 1))
		}},
		{"B's BYE with another From-tag", byB, sip.BYE, "", func(c *privacyCall, m *sipMsg) {
			setHeader(m, "From", c.bInvite.To().Value()+";tag=f00")
		}},
		{"B's BYE with another To-tag", byB, sip.BYE, "", func(c *privacyCall, m *sipMsg) {
			setHeader(m, "To", "<sip:+"+numX+"@127.0.0.1>;tag=f00")
		}},
		{"B's BYE from a stranger", byB, sip.BYE, stranger, nil},
		{"B's re-INVITE with A's tags", byB, sip.INVITE, "", func(c *privacyCall, m *sipMsg) {
			setHeader(m, "From", c.fromA())
			setHeader(m, "To", "<sip:+"+numX+"@127.0.0.1>;tag="+c.aToTag)
		}},
		{"B's UPDATE from a stranger", byB, sip.UPDATE, stranger, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newPrivacyCall(t, false)
			c.setup()
			var m *sipMsg
			var seq uint32
			own, other := c.car, c.tr
			if tc.by == byA {
				c.aCSeq++
				seq = c.aCSeq
				m = c.carrierRequest(tc.method, c.engineContact, seq, "")
			} else {
				c.bCSeq++
				seq = c.bCSeq
				m = c.trunkRequest(tc.method, seq)
				own, other = c.tr, c.car
			}
			if tc.method == sip.INVITE || tc.method == sip.UPDATE {
				m.add("Content-Type", "application/sdp")
				if tc.by == byA {
					m.body = c.sdpA(9, "sendonly")
				} else {
					m.body = c.sdpB(9, "sendonly")
				}
			}
			if tc.spoil != nil {
				tc.spoil(c, m)
			}
			var res *sip.Response
			if tc.from != "" {
				res = newOneShot(t, tc.from).ask(c.te.addr, m)
			} else {
				own.send(c.te.addr, m.bytes())
				res = own.response(tc.method, seq, 200)
			}
			if res == nil || res.StatusCode != 481 {
				t.Fatalf("stray %s got %v, want 481", tc.method, res)
			}
			if n := c.te.engine.ActiveCalls(); n != 1 {
				t.Fatalf("%d calls after the stray %s, want the call still up", n, tc.method)
			}
			// A keypress each way: the dialogs are intact, and anything the
			// stray had set off would have reached the other party by now.
			c.infoAcross(byA)
			c.infoAcross(byB)
			wantInfo := 1 // the keypress infoAcross sent
			if n := inDialogRequests(other, tc.method); tc.method == sip.INFO && n != wantInfo || tc.method != sip.INFO && n != 0 {
				t.Errorf("the stray %s was mirrored: the other party got %d", tc.method, n)
			}
			c.byeFromA()
			c.te.waitIdle()
		})
	}
}

// TestInDialogFromAnotherPortOfThePeer: the peer is an IP, not an address
// and port. A caller behind NAT, or an SBC that opens a new TCP connection,
// comes back from another port of the address it set the dialog up from:
// its BYE is taken.
func TestInDialogFromAnotherPortOfThePeer(t *testing.T) {
	c := newPrivacyCall(t, false)
	c.setup()
	c.aCSeq++
	res := newOneShot(t, "127.0.0.1").ask(c.te.addr, c.carrierRequest(sip.BYE, c.engineContact, c.aCSeq, ""))
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("A's BYE from another port got %v, want 200", res)
	}
	c.trunkAnswer(c.tr.request(sip.BYE, true), 200, "OK", "")
	c.te.waitIdle()
}

// reofferFromA sends A's re-INVITE with CSeq seq and a new version of A's
// SDP.
func (c *privacyCall) reofferFromA(seq uint32) {
	req := c.carrierRequest(sip.INVITE, c.engineContact, seq, "")
	req.add("Contact", "<sip:"+partyA.plus()+"@"+c.car.addr()+">")
	req.add("Content-Type", "application/sdp")
	req.body = c.sdpA(int(seq), "sendrecv")
	c.car.send(c.te.addr, req.bytes())
}

// reofferFromB is reofferFromA on B's leg.
func (c *privacyCall) reofferFromB(seq uint32) {
	req := c.trunkRequest(sip.INVITE, seq)
	req.add("Contact", "<sip:"+partyB.plus()+"@"+c.tr.addr()+">")
	req.add("Content-Type", "application/sdp")
	req.body = c.sdpB(int(seq), "sendrecv")
	c.tr.send(c.te.addr, req.bytes())
}

// isFinalTo matches the final response to the request method seq.
func isFinalTo(m sip.Message, method sip.RequestMethod, seq uint32) (*sip.Response, bool) {
	res, ok := m.(*sip.Response)
	return res, ok && res.StatusCode >= 200 && res.CSeq() != nil && res.CSeq().MethodName == method && res.CSeq().SeqNo == seq
}

// mediaFlows checks that RTP crosses the relay both ways: each party sends,
// from where its SDP says it receives, to the relay port facing it.
func (c *privacyCall) mediaFlows(toA, toB []byte) {
	t := c.t
	t.Helper()
	for _, dir := range []struct {
		name     string
		from, to *mediaEnd
		relay    *net.UDPAddr
	}{
		{"A to B", c.mediaA, c.mediaB, sdpAudioAddr(t, toA)},
		{"B to A", c.mediaB, c.mediaA, sdpAudioAddr(t, toB)},
	} {
		pkt := []byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef}
		pkt = append(pkt, bytes.Repeat([]byte{0x55}, 160)...)
		var got []byte
		for try := 0; try < 50 && got == nil; try++ {
			if _, err := dir.from.rtp.Conn().WriteToUDP(pkt, dir.relay); err != nil {
				t.Fatal(err)
			}
			if d, ok := dir.to.rtp.Next(50 * time.Millisecond); ok {
				got = d.Data
			}
		}
		if got == nil {
			t.Fatalf("no RTP from %s after the re-INVITEs", dir.name)
		}
	}
}

// TestOverlappingReInvitesGet491: ten re-INVITEs from A at once. One is
// mirrored to B; the nine that overlap it get 491 while it is outstanding,
// and only its answer reaches A. The call stays up and media flows.
func TestOverlappingReInvitesGet491(t *testing.T) {
	c := newPrivacyCall(t, false)
	c.mediaA, c.mediaB = newMediaEnd(t), newMediaEnd(t)
	c.setup()
	first := c.aCSeq + 1
	for i := range uint32(10) {
		c.reofferFromA(first + i)
	}
	c.aCSeq = first + 9

	// B holds its answer until A has heard 491 nine times.
	refused := map[uint32]bool{}
	for len(refused) < 9 {
		m := c.car.wait(fmt.Sprintf("491 number %d", len(refused)+1), func(m sip.Message) bool {
			res, ok := m.(*sip.Response)
			return ok && res.StatusCode >= 200 && res.CSeq() != nil && res.CSeq().MethodName == sip.INVITE && res.CSeq().SeqNo >= first
		})
		res := m.(*sip.Response)
		if res.StatusCode != 491 {
			t.Fatalf("re-INVITE %d got %d while another was outstanding, want 491", res.CSeq().SeqNo, res.StatusCode)
		}
		refused[res.CSeq().SeqNo] = true
		c.car.send(c.te.addr, c.carrierRequest(sip.ACK, c.engineContact, res.CSeq().SeqNo, viaBranch(res)).bytes())
	}
	var mirrored uint32
	for seq := first; seq < first+10; seq++ {
		if !refused[seq] {
			mirrored = seq
		}
	}

	got := c.tr.request(sip.INVITE, true)
	c.trunkAnswer(got, 200, "OK", c.sdpB(int(got.CSeq().SeqNo)+10, "sendrecv"))
	c.tr.wait("ACK of the mirrored re-INVITE", func(m sip.Message) bool {
		r, ok := m.(*sip.Request)
		return ok && r.IsAck() && r.CSeq().SeqNo == got.CSeq().SeqNo
	})
	res := c.car.response(sip.INVITE, mirrored, 200)
	if res.StatusCode != 200 {
		t.Fatalf("the mirrored re-INVITE %d got %d, want B's 200", mirrored, res.StatusCode)
	}
	c.car.send(c.te.addr, c.carrierRequest(sip.ACK, c.engineContact, mirrored, "").bytes())

	if n := inDialogRequests(c.tr, sip.INVITE); n != 1 {
		t.Errorf("B got %d re-INVITEs, want 1", n)
	}
	if n := c.te.engine.ActiveCalls(); n != 1 {
		t.Fatalf("%d calls after the re-INVITEs, want the call up", n)
	}
	c.mediaFlows(res.Body(), got.Body())
	// The exchange is over: the next offer, B's, crosses.
	c.bCSeq++
	c.reofferFromB(c.bCSeq)
	toA := c.car.request(sip.INVITE, true)
	c.carrierAnswer(toA, 200, "OK", c.sdpA(40, "sendrecv"))
	if res := c.tr.response(sip.INVITE, c.bCSeq, 200); res.StatusCode != 200 {
		t.Fatalf("B's re-INVITE after the exchange got %d, want A's 200", res.StatusCode)
	}
	c.tr.send(c.te.addr, c.trunkRequest(sip.ACK, c.bCSeq).bytes())
	c.byeFromA()
	c.te.waitIdle()
}

// viaBranch is the branch of a response's top Via: the ACK of a failure
// reuses it (RFC 3261 17.1.1.3).
func viaBranch(res *sip.Response) string {
	b, _ := res.Via().Params.Get("branch")
	return b
}

// TestReInviteGlare: A and B send re-INVITEs at the same moment. The first
// the engine takes is mirrored; the other side gets 491 (and gets the
// winner's re-INVITE, which it answers); the winner's exchange completes.
// Whichever wins, exactly one side is refused and the other mirrored.
func TestReInviteGlare(t *testing.T) {
	for round := 0; round < 3; round++ {
		c := newPrivacyCall(t, false)
		c.mediaA, c.mediaB = newMediaEnd(t), newMediaEnd(t)
		c.setup()
		c.aCSeq++
		c.bCSeq++
		c.reofferFromA(c.aCSeq)
		c.reofferFromB(c.bCSeq)

		// Each side sees either the other's mirrored re-INVITE or the
		// answer to its own; the loser sees both (a 491 and the mirror).
		type side struct {
			ua       *rawUA
			seq      uint32
			refused  bool
			mirrored *sip.Request
		}
		a, b := &side{ua: c.car, seq: c.aCSeq}, &side{ua: c.tr, seq: c.bCSeq}
		deadline := time.After(5 * time.Second)
		loser := (*side)(nil)
		for loser == nil || loser.mirrored == nil {
			var d datagram
			var s *side
			select {
			case d = <-c.car.in:
				s = a
			case d = <-c.tr.in:
				s = b
			case <-deadline:
				t.Fatalf("round %d: no side refused (A refused %v, mirrored %v; B refused %v, mirrored %v)",
					round, a.refused, a.mirrored != nil, b.refused, b.mirrored != nil)
			}
			if d.msg == nil {
				continue
			}
			if res, ok := isFinalTo(d.msg, sip.INVITE, s.seq); ok {
				if res.StatusCode != 491 {
					t.Fatalf("round %d: a re-INVITE crossing the other's got %d, want 491", round, res.StatusCode)
				}
				s.refused = true
				s.ua.send(c.te.addr, ackOfRefusal(c, s.ua == c.car, res))
				if loser != nil && loser != s {
					t.Fatalf("round %d: both sides got 491", round)
				}
				loser = s
			}
			if req, ok := d.msg.(*sip.Request); ok && req.IsInvite() && req.To().Params.Has("tag") {
				s.mirrored = req
			}
		}
		winner := a
		if loser == a {
			winner = b
		}
		if winner.mirrored != nil {
			t.Fatalf("round %d: the loser's re-INVITE was mirrored to the winner too", round)
		}
		// The loser answers the winner's offer; the winner gets the answer.
		var answer []byte
		if loser == a {
			c.carrierAnswer(loser.mirrored, 200, "OK", c.sdpA(20, "sendrecv"))
			res := c.tr.response(sip.INVITE, winner.seq, 200)
			if res.StatusCode != 200 {
				t.Fatalf("round %d: B's re-INVITE got %d, want 200", round, res.StatusCode)
			}
			answer = res.Body()
			c.tr.send(c.te.addr, c.trunkRequest(sip.ACK, winner.seq).bytes())
		} else {
			c.trunkAnswer(loser.mirrored, 200, "OK", c.sdpB(20, "sendrecv"))
			res := c.car.response(sip.INVITE, winner.seq, 200)
			if res.StatusCode != 200 {
				t.Fatalf("round %d: A's re-INVITE got %d, want 200", round, res.StatusCode)
			}
			answer = res.Body()
			c.car.send(c.te.addr, c.carrierRequest(sip.ACK, c.engineContact, winner.seq, "").bytes())
		}
		if len(answer) == 0 {
			t.Errorf("round %d: the winner's 200 has no answer", round)
		}
		if n := c.te.engine.ActiveCalls(); n != 1 {
			t.Fatalf("round %d: %d calls after the glare, want the call up", round, n)
		}
		c.byeFromA()
		c.te.waitIdle()
	}
}

// ackOfRefusal is the ACK of a failure to a party's re-INVITE.
func ackOfRefusal(c *privacyCall, fromA bool, res *sip.Response) []byte {
	seq := res.CSeq().SeqNo
	if fromA {
		return c.carrierRequest(sip.ACK, c.engineContact, seq, viaBranch(res)).bytes()
	}
	m := c.trunkRequest(sip.ACK, seq)
	m.headers[0] = [2]string{"Via", "SIP/2.0/UDP " + c.tr.addr() + ";branch=" + viaBranch(res) + ";rport"}
	return m.bytes()
}

// TestOfferlessReInviteHoldsUntilAck: A's re-INVITE without SDP is answered
// by the engine with an offer, whose answer comes in A's ACK; until then B's
// re-INVITE gets 491, and after it B's re-INVITE crosses.
func TestOfferlessReInviteHoldsUntilAck(t *testing.T) {
	c := newPrivacyCall(t, false)
	c.setup()
	c.aCSeq++
	req := c.carrierRequest(sip.INVITE, c.engineContact, c.aCSeq, "")
	req.add("Contact", "<sip:"+partyA.plus()+"@"+c.car.addr()+">")
	c.car.send(c.te.addr, req.bytes())
	res := c.car.response(sip.INVITE, c.aCSeq, 200)
	if res.StatusCode != 200 || len(res.Body()) == 0 {
		t.Fatalf("A's offerless re-INVITE got %d with body %q, want 200 with an offer", res.StatusCode, res.Body())
	}

	c.bCSeq++
	c.reofferFromB(c.bCSeq)
	refused := c.tr.response(sip.INVITE, c.bCSeq, 200)
	if refused.StatusCode != 491 {
		t.Fatalf("B's re-INVITE while A's answer is pending got %d, want 491", refused.StatusCode)
	}
	c.tr.send(c.te.addr, ackOfRefusal(c, false, refused))

	ack := c.carrierRequest(sip.ACK, c.engineContact, c.aCSeq, "")
	ack.add("Content-Type", "application/sdp")
	ack.body = c.sdpA(30, "sendrecv")
	c.car.send(c.te.addr, ack.bytes())
	// The ACK and B's next re-INVITE are handled on goroutines of their
	// own; a 491 here would be the ACK not yet seen, so B retries (RFC 3261
	// 14.1 has it wait; here a bounded few times).
	for try := 0; ; try++ {
		c.bCSeq++
		c.reofferFromB(c.bCSeq)
		m := c.wait2(c.bCSeq)
		if m == nil {
			break // mirrored to A
		}
		if m.StatusCode != 491 || try == 5 {
			t.Fatalf("B's re-INVITE after A's ACK got %d, want it mirrored", m.StatusCode)
		}
		c.tr.send(c.te.addr, ackOfRefusal(c, false, m))
		time.Sleep(50 * time.Millisecond)
	}
	got := c.car.request(sip.INVITE, true)
	c.carrierAnswer(got, 200, "OK", c.sdpA(31, "sendrecv"))
	if res := c.tr.response(sip.INVITE, c.bCSeq, 200); res.StatusCode != 200 {
		t.Fatalf("B's re-INVITE got %d, want A's 200", res.StatusCode)
	}
	c.tr.send(c.te.addr, c.trunkRequest(sip.ACK, c.bCSeq).bytes())
	c.byeFromA()
	c.te.waitIdle()
}

// wait2 waits for B's re-INVITE seq to be either refused (its final response
// is returned) or mirrored to A (nil; the mirror stays for the caller to
// read).
func (c *privacyCall) wait2(seq uint32) *sip.Response {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case d := <-c.tr.in:
			if res, ok := isFinalTo(d.msg, sip.INVITE, seq); d.msg != nil && ok {
				return res
			}
		case d := <-c.car.in:
			if req, ok := d.msg.(*sip.Request); ok && req.IsInvite() && req.To().Params.Has("tag") {
				// Put it back for the caller's c.car.request.
				c.car.in <- d
				return nil
			}
		case <-deadline:
			c.t.Fatalf("B's re-INVITE %d neither refused nor mirrored", seq)
			return nil
		}
	}
}
