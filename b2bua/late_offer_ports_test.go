package b2bua

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/sipedge"
)

// TestLateOfferPortsTakenBeforeBRings: a call whose INVITE carries no SDP
// takes its relay ports before B is called, as one with SDP does. On a full
// range it gets 503 at once, B is never called and nothing stays
// allocated; a call that got them is answered, B's offer and A's answer
// (in the ACK) crossing, even if the range fills up while B rings. Before,
// the ports were looked for only in B's 2xx, so B was called on a full
// range and the call failed after B had picked up.
func TestLateOfferPortsTakenBeforeBRings(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	te.trunk.setScript(func(*sip.Request) trunkAction {
		return trunkAction{provisional: []int{180}, ringFor: 300 * time.Millisecond, final: 200}
	})
	car := newCarrier(t)
	aRTP := newRTPPeer(t)
	other := newRTPPeer(t).sdp(9)

	held := holdRelayPorts(t, te.relay, other)
	refusedOnFullRange(t, te, car, nil)

	// One call's worth comes free; the range fills up again while B rings.
	held[len(held)-1].Close()
	held = held[:len(held)-1]
	d, err := car.invite(context.Background(), te.addr, "+"+numA, "+"+numX, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	if len(tc.req.Body()) != 0 {
		t.Fatalf("B leg INVITE carries SDP the caller never sent:\n%s", tc.req.Body())
	}
	held = append(held, holdRelayPorts(t, te.relay, other)...)
	res, code := answer(t, d, 5*time.Second)
	if code != 200 {
		t.Fatalf("A got %d when B answered, want 200: B's offer found no relay ports", code)
	}
	offer := res.Body()
	if sdpAudioAddr(t, offer).Port == 0 {
		t.Fatalf("the offer to A has its audio rejected:\n%s", offer)
	}
	bAck := ackLateOffer(t, d, res, tc, aRTP.sdp(1))
	aRTP.send(t, offer, 20, 'a')
	tc.rtp.waitReceived(t, 15)
	tc.rtp.send(t, bAck.Body(), 20, 'b')
	aRTP.waitReceived(t, 15)
	if err := d.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range held {
		s.Close()
	}
	te.waitIdle()
}

// TestLateOfferCancelledGivesPortsBack: the ports a late offer reserved
// while B rings are held for it, and go back when A cancels.
func TestLateOfferCancelledGivesPortsBack(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{provisional: []int{180}, final: 0} })
	car := newCarrier(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := car.invite(context.Background(), te.addr, numA, numX, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	// Both pairs of one audio stream, facing A and B.
	if got := te.relay.PortsInUse(); got != 4 {
		t.Errorf("PortsInUse = %d while the late offer rings, want 4", got)
	}
	// CANCEL once it rings.
	err = d.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if res.StatusCode == 180 {
			cancel()
		}
		return nil
	}})
	if d.InviteResponse == nil || d.InviteResponse.StatusCode != 487 {
		t.Fatalf("A's INVITE ended with %v (%v), want 487", d.InviteResponse, err)
	}
	select {
	case <-tc.cancel:
	case <-time.After(5 * time.Second):
		t.Fatal("B leg was not cancelled")
	}
	te.waitIdle() // no call, no relay port left
}

// TestLateOfferVideoOnFullRange: B's late offer brings audio and video
// while the range is full. The reserved pairs carry the audio; the video,
// which no port was reserved for, is rejected (port 0) to A and in the
// answer to B, and the call goes on. Before, the whole call failed with
// 488 after B had answered.
func TestLateOfferVideoOnFullRange(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{final: 0} }) // the test answers
	car := newCarrier(t)
	aRTP := newRTPPeer(t)
	d, err := car.invite(context.Background(), te.addr, numA, numX, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	held := holdRelayPorts(t, te.relay, newRTPPeer(t).sdp(9))
	bOffer := append(tc.rtp.sdp(2), "m=video 5010 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"...)
	// Respond waits for B's ACK, which waits for A's answer.
	responded := make(chan error, 1)
	go func() {
		responded <- tc.sess.Respond(200, "OK", bOffer, sip.NewHeader("Content-Type", "application/sdp"))
	}()
	res, code := answer(t, d, 5*time.Second)
	if code != 200 {
		t.Fatalf("A got %d for B's audio and video offer on a full range, want 200", code)
	}
	if ports := mLinePorts(t, res.Body()); len(ports) != 2 || ports[0] == 0 || ports[1] != 0 {
		t.Fatalf("offer to A has m= ports %v, want [relay 0]:\n%s", ports, res.Body())
	}
	bAck := ackLateOffer(t, d, res, tc, append(aRTP.sdp(1), "m=video 0 RTP/AVP 96\r\n"...))
	if ports := mLinePorts(t, bAck.Body()); len(ports) != 2 || ports[0] == 0 || ports[1] != 0 {
		t.Fatalf("answer to B has m= ports %v, want [relay 0]:\n%s", ports, bAck.Body())
	}
	select {
	case err := <-responded:
		if err != nil {
			t.Fatalf("B's 200: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("B's 200 was never acknowledged")
	}
	aRTP.send(t, res.Body(), 20, 'a')
	tc.rtp.waitReceived(t, 15)
	if err := d.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range held {
		s.Close()
	}
	te.waitIdle()
}

// refusedOnFullRange sends A's INVITE with offer (nil: a late offer) on a
// full relay range: A gets 503 with Retry-After at once, B is never called
// and the call leaves nothing allocated.
func refusedOnFullRange(t *testing.T, te *testEngine, car *carrier, offer []byte) {
	t.Helper()
	full := te.relay.PortsInUse()
	d, err := car.invite(context.Background(), te.addr, "+"+numA, "+"+numX, offer)
	if err != nil {
		t.Fatal(err)
	}
	res, code := answer(t, d, 5*time.Second)
	if code != 503 {
		t.Fatalf("A got %d on a full relay range (offer in the INVITE: %t), want 503", code, offer != nil)
	}
	// An overload refusal, like admission's: the carrier is told when to
	// try again.
	if ra := res.GetHeader("Retry-After"); ra == nil || ra.Value() != "1" {
		t.Fatalf("503 on a full relay range has Retry-After %v, want 1", ra)
	}
	select {
	case tc := <-te.trunk.calls:
		t.Fatalf("B was called (%s) although the call had no relay ports", sipedge.CallID(tc.req))
	case <-time.After(100 * time.Millisecond):
	}
	if got := te.relay.PortsInUse(); got != full {
		t.Fatalf("PortsInUse = %d after the refused call, want %d", got, full)
	}
}

// ackLateOffer acknowledges A's 200, which carried B's late offer, with
// A's answer, and returns B's ACK, which must carry that answer rewritten.
func ackLateOffer(t *testing.T, d *sipgo.DialogClientSession, res *sip.Response, tc *trunkCall, answer []byte) *sip.Request {
	t.Helper()
	ack := sip.NewRequest(sip.ACK, res.Contact().Address)
	ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ack.SetBody(answer)
	if err := d.WriteAck(context.Background(), ack); err != nil {
		t.Fatal(err)
	}
	select {
	case bAck := <-tc.acks:
		if len(bAck.Body()) == 0 {
			t.Fatal("B's ACK carries no SDP answer")
		}
		return bAck
	case <-time.After(5 * time.Second):
		t.Fatal("B got no ACK")
		return nil
	}
}

// mLinePorts is the port of every m= line of sdp, in order.
func mLinePorts(t *testing.T, sdp []byte) []int {
	t.Helper()
	var ports []int
	for _, l := range strings.Split(string(sdp), "\r\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(l, "m=") {
			p, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("bad m= line %q", l)
			}
			ports = append(ports, p)
		}
	}
	return ports
}
