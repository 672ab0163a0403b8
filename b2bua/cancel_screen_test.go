package b2bua

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestCancelFromAStrangerCancelsNothing: while B rings, a stranger sends
// A's CANCEL to the letter (A's Via, branch, tags, CSeq), which is all
// sipgo's transaction layer matches a CANCEL by. It is dropped before sipgo
// sees it: B gets no CANCEL, A no 487, and the call is answered as if
// nothing had come. Before, sipgo answered it 200, sent A 487 and the call
// was cancelled from someone else's address.
func TestCancelFromAStrangerCancelsNothing(t *testing.T) {
	c := newPrivacyCall(t, false)
	br, bInv := c.inviteB(false)
	c.trunkAnswer(bInv, 180, "Ringing", "")
	c.car.response(sip.INVITE, 1, 180)

	stranger, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.2:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	dst, err := net.ResolveUDPAddr("udp", c.te.addr)
	if err != nil {
		t.Fatal(err)
	}
	cancel := c.carrierRequest(sip.CANCEL, "sip:+"+numX+"@"+c.te.addr+";user=phone", 1, br)
	for range 3 { // and its retransmissions
		if _, err := stranger.WriteToUDP(cancel.bytes(), dst); err != nil {
			t.Fatal(err)
		}
	}
	// Give a cancel the time to reach B had it been taken.
	time.Sleep(300 * time.Millisecond)

	c.trunkAnswer(bInv, 200, "OK", c.sdpB(2, "sendrecv"))
	c.tr.request(sip.ACK, true)
	if final := c.car.response(sip.INVITE, 1, 200); final.StatusCode != 200 {
		t.Fatalf("A's INVITE ended with %d after a stranger's CANCEL, want 200", final.StatusCode)
	} else {
		c.aToTag, _ = final.To().Params.Get("tag")
		c.engineContact = final.Contact().Address.String()
	}
	for _, d := range c.tr.received() {
		if req, ok := d.msg.(*sip.Request); ok && req.IsCancel() {
			t.Fatalf("B got a CANCEL from a stranger's CANCEL")
		}
	}
	c.car.send(c.te.addr, c.carrierRequest(sip.ACK, c.engineContact, 1, "").bytes())
	c.byeFromA()
	c.te.waitIdle()
}

// TestCancelOverTCPFromAStrangerCancelsNothing is the same over TCP: A's
// INVITE comes over its TCP connection, and a stranger opens its own from
// another address and sends A's CANCEL to the letter. The stream guard
// holds it whole and drops it before sipgo's transaction layer, which
// would match it by branch alone: B is not cancelled, the stranger gets no
// 200, and A's call is answered.
func TestCancelOverTCPFromAStrangerCancelsNothing(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	te.trunk.setScript(func(*sip.Request) trunkAction {
		return trunkAction{provisional: []int{180}, final: 200, ringFor: time.Second}
	})
	car := newCarrier(t)
	car.useTCP = true
	d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)

	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	stranger, err := dialer.Dial("tcp", te.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	inv := d.InviteRequest
	cancel := sip.NewRequest(sip.CANCEL, inv.Recipient)
	for _, h := range []sip.Header{inv.Via(), inv.From(), inv.To(), inv.CallID()} {
		cancel.AppendHeader(sip.HeaderClone(h))
	}
	cancel.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	cancel.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	cancel.AppendHeader(sip.NewHeader("Content-Length", "0"))
	if _, err := stranger.Write([]byte(cancel.String())); err != nil {
		t.Fatal(err)
	}
	_ = stranger.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _ := stranger.Read(make([]byte, 4096)); n > 0 {
		t.Errorf("the stranger's CANCEL was answered")
	}
	select {
	case <-tc.cancel:
		t.Fatal("B was cancelled by a stranger's CANCEL over TCP")
	default:
	}
	if _, code := answer(t, d, 5*time.Second); code != 200 {
		t.Fatalf("A's INVITE ended with %d after a stranger's CANCEL, want 200", code)
	}
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	te.waitIdle()
}
