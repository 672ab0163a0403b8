package b2bua

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// Offers and answers the relay cannot carry (media.ErrUnsupportedMedia) end
// as 488 Not Acceptable Here, never as a call that is up and silent. The
// test engine's relay is IPv4 (127.0.0.1).

// unusableSDP is a body whose only stream the relay cannot carry.
var unusableSDP = []struct {
	name, sdp string
}{
	{"DTLS-SRTP", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n" +
		"a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F\r\na=setup:actpass\r\n"},
	{"SRTP keyed by DTLS", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/SAVP 0\r\na=fingerprint:sha-256 D2:FA:0E:C3\r\n"},
	{"IPv6 media", "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"},
	{"RTP over TCP", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 TCP/RTP/AVP 0\r\na=setup:active\r\n"},
	{"T.38 only", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=image 40000 udptl t38\r\n"},
}

// noneReceived fails if u got a message whose start line begins with prefix.
func noneReceived(t *testing.T, u *rawUA, prefix string) {
	t.Helper()
	for _, d := range u.received() {
		if strings.HasPrefix(string(d.raw), prefix) {
			first, _, _ := strings.Cut(string(d.raw), "\r\n")
			t.Errorf("%s received %q", u.name, first)
		}
	}
}

func TestUnsupportedOfferGets488(t *testing.T) {
	for _, tc := range unusableSDP {
		t.Run(tc.name, func(t *testing.T) {
			c := newPrivacyCall(t, false)
			br := branch()
			ruri := "sip:+" + numX + "@" + c.te.addr + ";user=phone"
			inv := c.carrierRequest(sip.INVITE, ruri, 1, br)
			inv.add("Content-Type", "application/sdp")
			inv.body = tc.sdp
			c.car.send(c.te.addr, inv.bytes())
			res := c.car.response(sip.INVITE, 1, 200)
			if res.StatusCode != 488 {
				t.Fatalf("A got %d, want 488", res.StatusCode)
			}
			c.aToTag, _ = res.To().Params.Get("tag")
			c.car.send(c.te.addr, c.carrierRequest(sip.ACK, ruri, 1, br).bytes())
			c.te.waitIdle() // no call, no relay port
			noneReceived(t, c.tr, "INVITE ")
		})
	}
}

// TestUnsupportedReofferGets488: a re-INVITE the relay cannot carry is
// refused on the leg it came from; the other leg hears nothing of it and
// the call stays up.
func TestUnsupportedReofferGets488(t *testing.T) {
	c := newPrivacyCall(t, false)
	c.setup()
	for _, tc := range unusableSDP {
		c.aCSeq++
		br := branch()
		req := c.carrierRequest(sip.INVITE, c.engineContact, c.aCSeq, br)
		req.add("Content-Type", "application/sdp")
		req.body = tc.sdp
		c.car.send(c.te.addr, req.bytes())
		if res := c.car.response(sip.INVITE, c.aCSeq, 200); res.StatusCode != 488 {
			t.Errorf("%s re-INVITE got %d, want 488", tc.name, res.StatusCode)
		}
		c.car.send(c.te.addr, c.carrierRequest(sip.ACK, c.engineContact, c.aCSeq, br).bytes())
	}
	for _, d := range c.tr.received() {
		if req, ok := d.msg.(*sip.Request); ok && req.IsInvite() && req.To().Params.Has("tag") {
			t.Errorf("B got a re-INVITE:\n%s", d.raw)
		}
	}
	if n := c.te.engine.ActiveCalls(); n != 1 {
		t.Fatalf("%d calls up, want the one call still up", n)
	}
	c.byeFromA()
	c.te.waitIdle()
}

// TestUnsupportedAnswerGets488: B answers with media the relay cannot
// carry; A's INVITE ends with 488 and B, whose dialog is up, gets ACK and
// BYE.
func TestUnsupportedAnswerGets488(t *testing.T) {
	for _, tc := range unusableSDP {
		t.Run(tc.name, func(t *testing.T) {
			c := newPrivacyCall(t, false)
			br, bInv := c.inviteB(false)
			c.trunkAnswer(bInv, 200, "OK", tc.sdp)
			c.tr.request(sip.ACK, true)
			bye := c.tr.request(sip.BYE, true)
			if r := bye.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "cause=488") {
				t.Errorf("B's BYE has Reason %v, want cause=488", r)
			}
			c.trunkAnswer(bye, 200, "OK", "")
			res := c.car.response(sip.INVITE, 1, 200)
			if res.StatusCode != 488 {
				t.Fatalf("A got %d, want 488", res.StatusCode)
			}
			c.aToTag, _ = res.To().Params.Get("tag")
			c.car.send(c.te.addr, c.carrierRequest(sip.ACK, "sip:+"+numX+"@"+c.te.addr+";user=phone", 1, br).bytes())
			c.te.waitIdle()
		})
	}
}

// TestUnsupportedReanswerGets488: B accepts A's re-INVITE with media the
// relay cannot carry. A is not told 200 without an answer (RFC 3264 wants
// one): it gets 488, and the relay keeps the session it had.
func TestUnsupportedReanswerGets488(t *testing.T) {
	c := newPrivacyCall(t, false)
	c.setup()
	c.aCSeq++
	br := branch()
	req := c.carrierRequest(sip.INVITE, c.engineContact, c.aCSeq, br)
	req.add("Content-Type", "application/sdp")
	req.body = c.sdpA(2, "sendrecv")
	c.car.send(c.te.addr, req.bytes())
	got := c.tr.request(sip.INVITE, true)
	c.trunkAnswer(got, 200, "OK", unusableSDP[0].sdp)
	c.tr.wait("ACK of the re-INVITE", func(m sip.Message) bool {
		r, ok := m.(*sip.Request)
		return ok && r.IsAck() && r.CSeq().SeqNo == got.CSeq().SeqNo
	})
	res := c.car.response(sip.INVITE, c.aCSeq, 200)
	if res.StatusCode != 488 {
		t.Errorf("A's re-INVITE got %d with body %q, want 488", res.StatusCode, res.Body())
	}
	c.car.send(c.te.addr, c.carrierRequest(sip.ACK, c.engineContact, c.aCSeq, br).bytes())
	c.byeFromA()
	c.te.waitIdle()
}
