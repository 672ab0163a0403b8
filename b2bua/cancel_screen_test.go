package b2bua

import (
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
