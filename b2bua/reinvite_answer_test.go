package b2bua

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestReInviteAnswerWithMoreStreamsRefused: B answers A's mirrored
// re-INVITE (one audio stream) with an extra video stream, which RFC 3264 6
// forbids. A gets 488, the relay takes no ports for it, and the call goes
// on as it was. Before, only the call's first answer was checked: this one
// took two port pairs for a stream A never offered, and A got it in a 200.
func TestReInviteAnswerWithMoreStreamsRefused(t *testing.T) {
	c := newPrivacyCall(t, false)
	c.setup()
	inUse := c.te.relay.PortsInUse()

	c.aCSeq++
	br := branch()
	req := c.carrierRequest(sip.INVITE, c.engineContact, c.aCSeq, br)
	req.add("Contact", "<sip:"+partyA.plus()+"@"+c.car.addr()+">")
	req.add("Content-Type", "application/sdp")
	req.body = c.sdpA(2, "sendonly")
	c.car.send(c.te.addr, req.bytes())

	got := c.tr.request(sip.INVITE, true)
	c.trunkAnswer(got, 200, "OK", c.sdpB(3, "recvonly")+"m=video 41010 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n")
	c.tr.wait("ACK of the mirrored re-INVITE", func(m sip.Message) bool {
		r, ok := m.(*sip.Request)
		return ok && r.IsAck() && r.CSeq().SeqNo == got.CSeq().SeqNo
	})
	res := c.car.response(sip.INVITE, c.aCSeq, 200)
	if res.StatusCode != sip.StatusNotAcceptableHere {
		t.Fatalf("A's re-INVITE got %d for an answer with more streams than offered, want 488:\n%s", res.StatusCode, res.Body())
	}
	c.car.send(c.te.addr, c.carrierRequest(sip.ACK, c.engineContact, c.aCSeq, br).bytes())
	if got := c.te.relay.PortsInUse(); got != inUse {
		t.Fatalf("PortsInUse = %d after the refused answer, want %d", got, inUse)
	}

	c.holdFromA() // the call goes on
	c.byeFromA()
	c.te.waitIdle()
}

// TestAnswerAfterEarlyMediaTakesNoPorts: B answers A's INVITE (one audio
// stream) in a 183 with SDP, then sends its 200 with an extra video stream,
// which RFC 3264 6 forbids. The 200's SDP is the same answer, not a new
// offer: the relay takes no ports for it after B answered, A gets 488 and
// B, whose dialog is up, ACK and BYE. Before, the 200's SDP went through
// the offer path and took two port pairs for the stream A never offered,
// so on a full range an answered call failed for lack of ports.
func TestAnswerAfterEarlyMediaTakesNoPorts(t *testing.T) {
	c := newPrivacyCall(t, false)
	br, bInv := c.inviteB(false)
	c.trunkAnswer(bInv, 183, "Session Progress", c.sdpB(3, "sendrecv"))
	c.car.response(sip.INVITE, 1, 183)
	inUse := c.te.relay.PortsInUse()
	c.trunkAnswer(bInv, 200, "OK", c.sdpB(3, "sendrecv")+"m=video 41010 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n")
	c.tr.request(sip.ACK, true)
	bye := c.tr.request(sip.BYE, true)
	if got := c.te.relay.PortsInUse(); got > inUse {
		t.Errorf("PortsInUse = %d after B's 200, want at most %d: the answer took ports", got, inUse)
	}
	c.trunkAnswer(bye, 200, "OK", "")
	res := c.car.response(sip.INVITE, 1, 200)
	if res.StatusCode != sip.StatusNotAcceptableHere {
		t.Fatalf("A got %d for a 200 adding a stream to B's early answer, want 488", res.StatusCode)
	}
	c.aToTag, _ = res.To().Params.Get("tag")
	c.car.send(c.te.addr, c.carrierRequest(sip.ACK, "sip:+"+numX+"@"+c.te.addr+";user=phone", 1, br).bytes())
	c.te.waitIdle()
}
