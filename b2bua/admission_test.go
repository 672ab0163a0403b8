package b2bua

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/sipedge"
)

// rawInviter sends INVITEs from a chosen loopback address, so tests can
// play several sources, and reads every response to them off the socket.
type rawInviter struct {
	conn *net.UDPConn
	dst  *net.UDPAddr
	n    int
}

func newRawInviter(t *testing.T, ip, engineAddr string) *rawInviter {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	dst, err := net.ResolveUDPAddr("udp", engineAddr)
	if err != nil {
		t.Fatal(err)
	}
	return &rawInviter{conn: c, dst: dst}
}

// call sends an INVITE without SDP from caller to dialled and returns the
// responses up to the final one, which it acknowledges.
func (r *rawInviter) call(t *testing.T, caller, dialled string) []*sip.Response {
	t.Helper()
	r.n++
	local := r.conn.LocalAddr().String()
	cid := fmt.Sprintf("adm-%s-%d", local, r.n)
	branch := "z9hG4bK" + sip.GenerateTagN(12)
	from := "<sip:" + caller + "@carrier.example>;tag=f" + sip.GenerateTagN(6)
	common := "Via: SIP/2.0/UDP " + local + ";branch=" + branch + "\r\n" +
		"From: " + from + "\r\n" +
		"Call-ID: " + cid + "\r\nMax-Forwards: 70\r\n"
	invite := "INVITE sip:" + dialled + "@" + r.dst.String() + " SIP/2.0\r\n" + common +
		"To: <sip:" + dialled + "@" + r.dst.String() + ">\r\n" +
		"Contact: <sip:" + caller + "@" + local + ">\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	if _, err := r.conn.WriteToUDP([]byte(invite), r.dst); err != nil {
		t.Fatal(err)
	}
	var got []*sip.Response
	buf := make([]byte, 65536)
	deadline := time.Now().Add(5 * time.Second)
	for range 100 {
		_ = r.conn.SetReadDeadline(deadline)
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("%s: no final response (%v) after %d responses", cid, err, len(got))
		}
		msg, err := sip.ParseMessage(append([]byte{}, buf[:n]...))
		res, ok := msg.(*sip.Response)
		if err != nil || !ok || sipedge.CallID(res) != cid {
			continue // a retransmitted answer to an earlier call
		}
		got = append(got, res)
		if res.IsProvisional() {
			continue
		}
		ack := "ACK sip:" + dialled + "@" + r.dst.String() + " SIP/2.0\r\n" + common +
			"To: " + res.To().Value() + "\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
		if _, err := r.conn.WriteToUDP([]byte(ack), r.dst); err != nil {
			t.Fatal(err)
		}
		return got
	}
	t.Fatalf("%s: too many responses", cid)
	return nil
}

// tcpInvite sends an INVITE without SDP over a new TCP connection and
// returns the responses up to the final one.
func tcpInvite(t *testing.T, engineAddr, caller, dialled string) []*sip.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", engineAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	invite := "INVITE sip:" + dialled + "@" + engineAddr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP " + local + ";branch=z9hG4bK" + sip.GenerateTagN(12) + "\r\n" +
		"From: <sip:" + caller + "@carrier.example>;tag=f" + sip.GenerateTagN(6) + "\r\n" +
		"To: <sip:" + dialled + "@" + engineAddr + ">\r\nCall-ID: adm-tcp-" + local + "\r\n" +
		"CSeq: 1 INVITE\r\nContact: <sip:" + caller + "@" + local + ";transport=tcp>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(invite)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []*sip.Response
	var pending []byte
	buf := make([]byte, 65536)
	for range 100 {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("tcp: no final response (%v) after %d responses", err, len(got))
		}
		pending = append(pending, buf[:n]...)
		// Responses without a body: each ends at its blank line.
		for {
			end := strings.Index(string(pending), "\r\n\r\n")
			if end < 0 {
				break
			}
			msg, err := sip.ParseMessage(append([]byte{}, pending[:end+4]...))
			pending = pending[end+4:]
			if res, ok := msg.(*sip.Response); err == nil && ok {
				got = append(got, res)
				if !res.IsProvisional() {
					return got
				}
			}
		}
	}
	t.Fatal("tcp: too many responses")
	return nil
}

// refusedAtOnce checks that a call was answered 503 with Retry-After and
// nothing before it: the engine sends 100 Trying only once the call is
// routed and its dialog made.
func refusedAtOnce(t *testing.T, got []*sip.Response, retryAfter string) {
	t.Helper()
	if len(got) != 1 || got[0].StatusCode != 503 {
		codes := []int{}
		for _, r := range got {
			codes = append(codes, r.StatusCode)
		}
		t.Fatalf("responses %v, want one 503", codes)
	}
	ra := got[0].GetHeader("Retry-After")
	if ra == nil || ra.Value() != retryAfter {
		t.Fatalf("503 carries Retry-After %v, want %q", ra, retryAfter)
	}
}

func finalCode(got []*sip.Response) int { return got[len(got)-1].StatusCode }

// TestAdmissionMaxCalls: with --max-calls 1 and one call up, a new INVITE
// gets 503 with Retry-After at once and nothing is allocated for it (no
// relay ports, no B leg, no call); the call that is up keeps its media both
// ways and ends with its BYE, and then a new call is taken again.
func TestAdmissionMaxCalls(t *testing.T) {
	adm := sipedge.NewAdmission(sipedge.Limits{MaxCalls: 1})
	te := newTestEngineWith(t, nil, []Option{WithAdmission(adm)})
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
		t.Fatalf("first call: A got %d", code)
	}
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	toB, toA := res.Body(), tc.req.Body()
	aRTP.send(t, toB, 10, 'a')
	tc.rtp.waitReceived(t, 8)
	tc.rtp.send(t, toA, 10, 'b')
	aRTP.waitReceived(t, 8)

	// Over UDP the refusal is stateless (ahead of the transaction layer);
	// over TCP it goes through the transaction layer, which ends a reliable
	// transaction as soon as it is answered: the same answer either way.
	for _, refused := range []func() []*sip.Response{
		func() []*sip.Response { return newRawInviter(t, "127.0.0.1", te.addr).call(t, numB, numX) },
		func() []*sip.Response { return tcpInvite(t, te.addr, numB, numX) },
	} {
		ports, calls := te.relay.PortsInUse(), te.engine.ActiveCalls()
		refusedAtOnce(t, refused(), "1")
		if got := te.relay.PortsInUse(); got != ports {
			t.Errorf("relay ports in use %d after the refusal, %d before", got, ports)
		}
		if got := te.engine.ActiveCalls(); got != calls {
			t.Errorf("%d calls after the refusal, %d before", got, calls)
		}
		select {
		case extra := <-te.trunk.calls:
			t.Fatalf("the refused call reached the trunk: %s", extra.req.Recipient.User)
		default:
		}
	}
	if st, _ := te.engine.Admission(); st.RefusedCalls != 2 || st.Stateless != 1 || st.Active != 1 {
		t.Errorf("admission %+v, want 1 active, 2 refused, 1 of them (UDP) stateless", st)
	}

	// The call that was up is untouched: media both ways, then its BYE.
	beforeB, beforeA := tc.rtp.Received(), aRTP.Received()
	aRTP.send(t, toB, 10, 'a')
	tc.rtp.waitReceived(t, beforeB+8)
	tc.rtp.send(t, toA, 10, 'b')
	aRTP.waitReceived(t, beforeA+8)
	if err := d.Bye(context.Background()); err != nil {
		t.Fatalf("bye of the call that was up: %v", err)
	}
	select {
	case <-tc.byeReq:
	case <-time.After(5 * time.Second):
		t.Fatal("B leg got no BYE")
	}
	te.waitIdle()

	// Its slot is free again.
	d2, err := car.invite(context.Background(), te.addr, numB, numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	te.trunk.nextCall(t)
	if _, code := answer(t, d2, 5*time.Second); code != 200 {
		t.Fatalf("call after the first ended: A got %d", code)
	}
	_ = d2.Ack(context.Background())
	_ = d2.Bye(context.Background())
	te.waitIdle()
	if st, _ := te.engine.Admission(); st.Active != 0 || st.Admitted != 2 {
		t.Errorf("admission after all calls ended %+v, want 0 active, 2 admitted", st)
	}
}

// TestAdmissionReleasesEveryWayACallEnds: whatever ends a call (routing
// refuses it, B fails, A cancels, a hangup) its admission slot comes back,
// so --max-calls 1 takes call after call.
func TestAdmissionReleasesEveryWayACallEnds(t *testing.T) {
	adm := sipedge.NewAdmission(sipedge.Limits{MaxCalls: 1})
	te := newTestEngineWith(t, nil, []Option{WithAdmission(adm)})
	te.bind(numX, numA, numB, time.Hour)
	inv := newRawInviter(t, "127.0.0.1", te.addr)

	if code := finalCode(inv.call(t, "8613100000007", numX)); code != 404 {
		t.Fatalf("stranger got %d, want 404", code)
	}
	te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{final: 486} })
	if code := finalCode(inv.call(t, numA, numX)); code != 486 {
		t.Fatalf("busy callee: A got %d, want 486", code)
	}
	te.trunk.nextCall(t)
	te.waitIdle()

	te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{provisional: []int{180}, final: 0} })
	d, err := newCarrier(t).invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_ = d.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
			if res.StatusCode == 180 {
				cancel() // CANCEL once it rings
			}
			return nil
		}})
	}()
	select {
	case <-tc.cancel:
	case <-time.After(5 * time.Second):
		t.Fatal("B leg was not cancelled")
	}
	te.waitIdle()

	te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{provisional: []int{180}, final: 200} })
	for i := range 3 {
		d, err := newCarrier(t).invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
		if err != nil {
			t.Fatal(err)
		}
		te.trunk.nextCall(t)
		if _, code := answer(t, d, 5*time.Second); code != 200 {
			t.Fatalf("call %d: A got %d", i, code)
		}
		_ = d.Ack(context.Background())
		if err := d.Bye(context.Background()); err != nil {
			t.Fatal(err)
		}
		te.waitIdle()
	}
	if st, _ := te.engine.Admission(); st.Active != 0 || st.RefusedCalls != 0 {
		t.Errorf("admission %+v, want nothing active and nothing refused", st)
	}
}

// TestAdmissionPerSource: one source over its calls/s is refused while
// another source still gets through, and a trusted trunk is not held by the
// per-source rate at all; half a second later the first source is taken
// again. The buckets run on a clock the test moves.
func TestAdmissionPerSource(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	trust := []routing.Option{
		routing.WithTrusted(netip.MustParsePrefix("127.0.0.3/32")),
		routing.WithAllowed(netip.MustParsePrefix("127.0.0.0/8")),
	}
	adm := sipedge.NewAdmission(sipedge.Limits{CPSPerSource: 2}, sipedge.WithAdmissionClock(clock),
		sipedge.WithSourceExempt(routing.NewRouter(nil, trust...).Trusted))
	te := newTestEngineWith(t, trust, []Option{WithAdmission(adm)})
	te.bind(numX, numA, numB, time.Hour)
	te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{final: 486} })
	flood := newRawInviter(t, "127.0.0.1", te.addr)
	other := newRawInviter(t, "127.0.0.2", te.addr)
	trunkSide := newRawInviter(t, "127.0.0.3", te.addr)

	for i := range 2 { // the source's burst: two calls in one instant
		if code := finalCode(flood.call(t, numA, numX)); code != 486 {
			t.Fatalf("call %d within the limit got %d, want the trunk's 486", i, code)
		}
		te.trunk.nextCall(t)
	}
	refusedAtOnce(t, flood.call(t, numA, numX), "1")
	if code := finalCode(other.call(t, numB, numX)); code != 486 {
		t.Fatalf("the other source got %d, want the trunk's 486", code)
	}
	te.trunk.nextCall(t)
	for i := range 5 {
		if code := finalCode(trunkSide.call(t, numA, numX)); code != 486 {
			t.Fatalf("trusted source, call %d: got %d, want the trunk's 486", i, code)
		}
		te.trunk.nextCall(t)
	}
	select {
	case extra := <-te.trunk.calls:
		t.Fatalf("the refused call reached the trunk: %s", extra.req.Recipient.User)
	default:
	}

	mu.Lock()
	now = now.Add(500 * time.Millisecond) // one more call's worth
	mu.Unlock()
	if code := finalCode(flood.call(t, numA, numX)); code != 486 {
		t.Fatalf("after 0.5 s the source got %d, want the trunk's 486", code)
	}
	te.trunk.nextCall(t)
	refusedAtOnce(t, flood.call(t, numA, numX), "1")
	te.waitIdle()
	if st, _ := te.engine.Admission(); st.RefusedSource != 2 || st.Admitted != 9 || st.Active != 0 {
		t.Errorf("admission %+v, want 9 admitted, 2 refused by source, none active", st)
	}
}

// TestAdmissionRefusalKeepsNoTransaction: an INVITE the stateless path
// leaves to the transaction layer (here: more Via fields than it copies) is
// refused there too, and nothing is kept of it: the 503 is not
// retransmitted while no ACK comes, as a kept transaction would (Timer G,
// 500 ms).
func TestAdmissionRefusalKeepsNoTransaction(t *testing.T) {
	adm := sipedge.NewAdmission(sipedge.Limits{MaxCalls: 1})
	if _, err := adm.Admit(netip.MustParseAddr("192.0.2.1")); err != nil { // the one slot, taken
		t.Fatal(err)
	}
	te := newTestEngineWith(t, nil, []Option{WithAdmission(adm)})
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst, _ := net.ResolveUDPAddr("udp", te.addr)
	local := c.LocalAddr().String()
	var vias strings.Builder
	vias.WriteString("Via: SIP/2.0/UDP " + local + ";branch=z9hG4bKkeep1\r\n")
	for i := range 20 { // proxies on the way
		fmt.Fprintf(&vias, "Via: SIP/2.0/UDP 10.0.0.%d:5060;branch=z9hG4bKp%d\r\n", i+1, i)
	}
	invite := "INVITE sip:" + numX + "@" + te.addr + " SIP/2.0\r\n" + vias.String() +
		"From: <sip:" + numA + "@carrier.example>;tag=k1\r\nTo: <sip:" + numX + "@" + te.addr + ">\r\n" +
		"Call-ID: keep-none\r\nCSeq: 1 INVITE\r\nContact: <sip:a@" + local + ">\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.WriteToUDP([]byte(invite), dst); err != nil {
		t.Fatal(err)
	}
	var codes []int
	buf := make([]byte, 65536)
	_ = c.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
	for range 20 {
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			break // the deadline: nothing more came
		}
		if msg, err := sip.ParseMessage(append([]byte{}, buf[:n]...)); err == nil {
			if res, ok := msg.(*sip.Response); ok {
				codes = append(codes, res.StatusCode)
			}
		}
	}
	if len(codes) != 1 || codes[0] != 503 {
		t.Fatalf("responses in 1.5 s without an ACK: %v, want one 503 and no retransmission", codes)
	}
	if st, _ := te.engine.Admission(); st.RefusedCalls != 1 || st.Stateless != 0 {
		t.Errorf("admission %+v, want one refusal, by the transaction layer", st)
	}
}
