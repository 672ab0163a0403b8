package b2bua

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

const (
	numX = "8617000000001"
	numA = "8613800000001"
	numB = "8613900000002"
)

// answer waits for the final answer of an A-leg INVITE.
func answer(t *testing.T, d *sipgo.DialogClientSession, timeout time.Duration) (*sip.Response, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := d.WaitAnswer(ctx, sipgo.AnswerOptions{})
	var de *sipgo.ErrDialogResponse
	switch {
	case err == nil:
		return d.InviteResponse, 200
	case errors.As(err, &de):
		return de.Res, de.Res.StatusCode
	}
	t.Fatalf("wait answer: %v", err)
	return nil, 0
}

func TestCallAnsweredMediaBothWaysAndByeFromA(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	car := newCarrier(t)
	aRTP := newRTPPeer(t)

	d, err := car.invite(context.Background(), te.addr, "+"+numA, "+"+numX, aRTP.sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)

	// What B sees: X as the caller, B at the trunk, the relay's address.
	if got := fromUser(tc.req); got != "+"+numX {
		t.Errorf("B sees From %q, want +%s", got, numX)
	}
	if dn := tc.req.From().DisplayName; dn != "" {
		t.Errorf("B sees a display name %q", dn)
	}
	pai := tc.req.GetHeader("P-Asserted-Identity")
	if pai == nil || !strings.Contains(pai.Value(), "+"+numX+"@") {
		t.Errorf("B sees P-Asserted-Identity %v, want X", pai)
	}
	if got := tc.req.Recipient.User; got != "+"+numB {
		t.Errorf("B leg Request-URI user %q, want +%s", got, numB)
	}
	if sipedge.CallID(tc.req) == sipedge.CallID(d.InviteRequest) {
		t.Error("B leg reuses the A leg's Call-ID")
	}
	offer := tc.req.Body()
	if sdpAudioAddr(t, offer).Port == aRTP.port() {
		t.Error("B leg SDP points at A's media port, not the relay")
	}

	res, code := answer(t, d, 5*time.Second)
	if code != 200 {
		t.Fatalf("A got %d, want 200", code)
	}
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	ans := res.Body()
	if sdpAudioAddr(t, ans).Port == tc.rtp.port() {
		t.Error("A's answer SDP points at B's media port, not the relay")
	}

	aRTP.send(t, ans, 20, 'a')
	tc.rtp.waitReceived(t, 15)
	tc.rtp.send(t, offer, 20, 'b')
	aRTP.waitReceived(t, 15)
	if aRTP.Saw('a') {
		t.Error("A received its own audio back")
	}
	if tc.rtp.Saw('b') {
		t.Error("B received its own audio back")
	}

	if err := d.Bye(context.Background()); err != nil {
		t.Fatalf("bye: %v", err)
	}
	select {
	case <-tc.byeReq:
	case <-time.After(5 * time.Second):
		t.Fatal("B leg got no BYE")
	}
	te.waitIdle()
}

func TestCallByeFromB(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	car := newCarrier(t)
	aRTP := newRTPPeer(t)
	d, err := car.invite(context.Background(), te.addr, numA, numX, aRTP.sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	if _, code := answer(t, d, 5*time.Second); code != 200 {
		t.Fatalf("A got %d", code)
	}
	_ = d.Ack(context.Background())
	time.Sleep(50 * time.Millisecond) // let the ACK reach the engine before B hangs up
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tc.sess.Bye(ctx); err != nil {
		t.Fatalf("B bye: %v", err)
	}
	bye := car.waitBye(t)
	if sipedge.CallID(bye) != sipedge.CallID(d.InviteRequest) {
		t.Errorf("BYE to A has Call-ID %q, want the A leg's", sipedge.CallID(bye))
	}
	te.waitIdle()
}

func TestCallFailuresReachA(t *testing.T) {
	for _, code := range []int{404, 480, 486, 603} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			te := newTestEngine(t)
			te.bind(numX, numA, numB, time.Hour)
			te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{provisional: []int{180}, final: code} })
			car := newCarrier(t)
			d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
			if err != nil {
				t.Fatal(err)
			}
			if _, got := answer(t, d, 5*time.Second); got != code {
				t.Fatalf("A got %d, want %d", got, code)
			}
			te.waitIdle()
		})
	}
}

func TestCallRedirectDoesNotLeak(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{final: 302} })
	car := newCarrier(t)
	d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	res, got := answer(t, d, 5*time.Second)
	if got != 480 {
		t.Fatalf("A got %d for a 302, want 480", got)
	}
	if res.Contact() != nil && strings.Contains(res.Contact().Address.String(), "trunk") {
		t.Errorf("redirect target leaked: %s", res.Contact().Address.String())
	}
	te.waitIdle()
}

// TestCallCancelBeforeAnswer: A's own CANCEL ends the ringing call, over
// UDP and over TCP (where the stream guard holds every CANCEL whole until
// the screen has judged it).
func TestCallCancelBeforeAnswer(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			te := newTestEngine(t)
			te.bind(numX, numA, numB, time.Hour)
			te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{provisional: []int{180}, final: 0} })
			car := newCarrier(t)
			car.useTCP = transport == "tcp"
			ctx, cancel := context.WithCancel(context.Background())
			d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
			if err != nil {
				t.Fatal(err)
			}
			tc := te.trunk.nextCall(t)
			errc := make(chan error, 1)
			go func() {
				errc <- d.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
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
			select {
			case <-errc:
			case <-time.After(5 * time.Second):
				t.Fatal("A's CANCEL did not complete")
			}
			if d.InviteResponse == nil || d.InviteResponse.StatusCode != 487 {
				t.Fatalf("A's INVITE ended with %v, want 487", d.InviteResponse)
			}
			te.waitIdle()
		})
	}
}

func TestCallRingsTooLongGets408(t *testing.T) {
	te := newTestEngine(t, withAnswerTimeout(500*time.Millisecond))
	te.bind(numX, numA, numB, time.Hour)
	te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{provisional: []int{180}, final: 0} })
	car := newCarrier(t)
	d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	if _, code := answer(t, d, 5*time.Second); code != 408 {
		t.Fatalf("A got %d, want 408", code)
	}
	select {
	case <-tc.cancel:
	case <-time.After(5 * time.Second):
		t.Fatal("B leg was not cancelled after the answer timeout")
	}
	te.waitIdle()
}

func TestCallSilentTrunkGets408(t *testing.T) {
	te := newTestEngine(t, withAnswerTimeout(500*time.Millisecond))
	te.bind(numX, numA, numB, time.Hour)
	te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{noResponse: true} })
	car := newCarrier(t)
	d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, code := answer(t, d, 5*time.Second); code != 408 {
		t.Fatalf("A got %d, want 408", code)
	}
	te.waitIdle()
}

func TestCallEarlyMedia(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	te.trunk.setScript(func(*sip.Request) trunkAction {
		return trunkAction{provisional: []int{183}, ringFor: 400 * time.Millisecond, final: 200}
	})
	car := newCarrier(t)
	aRTP := newRTPPeer(t)
	d, err := car.invite(context.Background(), te.addr, numA, numX, aRTP.sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	var early *sip.Response
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = d.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if res.StatusCode == 183 {
			early = res
			tc.rtp.send(t, tc.req.Body(), 10, 'e') // ringback tone
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if early == nil || len(early.Body()) == 0 {
		t.Fatal("A got no 183 with SDP")
	}
	if sdpAudioAddr(t, early.Body()).Port == tc.rtp.port() {
		t.Error("183 SDP points at B's media, not the relay")
	}
	_ = d.Ack(context.Background())
	aRTP.waitReceived(t, 5)
	_ = d.Bye(context.Background())
	te.waitIdle()
}

func TestCallRejections(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	// An expired binding on another X: 480, not 404.
	ctx := context.Background()
	expiredX := "8617000000009"
	te.bind(expiredX, numA, numB, 150*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // swept into quarantine
	// B against the binding's direction: 403; an X with AXE extensions:
	// 480 until the IVR answers such calls.
	const xDir, xExt = "8617000000011", "8617000000012"
	if _, err := te.store.AddNumbers(ctx, "default", []string{xDir, xExt}); err != nil {
		t.Fatal(err)
	}
	for _, nb := range []store.NewBinding{
		{X: xDir, A: numA, B: numB, Policy: store.Policy{Direction: store.DirectionAToB}},
		{X: xExt, Model: store.ModelAXE, A: numA},
	} {
		nb.Pool, nb.ExpiresAt = "default", time.Now().Add(time.Hour)
		if _, _, err := te.store.CreateBinding(ctx, nb); err != nil {
			t.Fatal(err)
		}
	}

	car := newCarrier(t)
	cases := []struct {
		name            string
		caller, dialled string
		want            int
	}{
		{"stranger", "8613700000000", numX, 404},
		{"unknown X", numA, "8617000000099", 404},
		{"expired binding", numA, expiredX, 480},
		{"anonymous", "anonymous", numX, 403},
		{"b against the direction", numB, xDir, 403},
		{"extension call without ivr", "8613700000000", xExt, 480},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := car.invite(ctx, te.addr, tc.caller, tc.dialled, newRTPPeer(t).sdp(1))
			if err != nil {
				t.Fatal(err)
			}
			if _, got := answer(t, d, 5*time.Second); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
	select {
	case tc := <-te.trunk.calls:
		t.Fatalf("a rejected call reached the trunk: %s", tc.req.Recipient.String())
	default:
	}
	te.waitIdle()
}

func TestCallBCallsBackAndNumberFormats(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	car := newCarrier(t)
	formats := []struct{ caller, dialled string }{
		{"+" + numB, "+" + numX},
		{"0086" + numB[2:], "tel:+" + numX},
		{numB[2:], "0" + "086" + numX[2:]},
	}
	for _, f := range formats {
		d, err := car.invite(context.Background(), te.addr, f.caller, strings.TrimPrefix(f.dialled, "tel:"), newRTPPeer(t).sdp(1))
		if err != nil {
			t.Fatal(err)
		}
		tc := te.trunk.nextCall(t)
		if got := tc.req.Recipient.User; got != "+"+numA {
			t.Errorf("%v: B's call went to %q, want A (+%s)", f, got, numA)
		}
		if _, code := answer(t, d, 5*time.Second); code != 200 {
			t.Fatalf("%v: got %d", f, code)
		}
		_ = d.Ack(context.Background())
		_ = d.Bye(context.Background())
	}
	te.waitIdle()
}

func TestCallTelURIAndPAI(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	car := newCarrier(t)
	// From is withheld; the carrier asserts the caller in PAI as a tel URI.
	d, err := car.invite(context.Background(), te.addr, "anonymous", "+"+numX, newRTPPeer(t).sdp(1),
		sip.NewHeader("P-Asserted-Identity", "<tel:+"+numA+">"))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	if got := tc.req.Recipient.User; got != "+"+numB {
		t.Errorf("call went to %q, want B", got)
	}
	if _, code := answer(t, d, 5*time.Second); code != 200 {
		t.Fatalf("got %d", code)
	}
	_ = d.Ack(context.Background())
	_ = d.Bye(context.Background())
	te.waitIdle()
}

func TestBindingEndsDuringCall(t *testing.T) {
	for _, how := range []string{"expired", "deleted"} {
		t.Run(how, func(t *testing.T) {
			te := newTestEngine(t)
			ttl := time.Hour
			if how == "expired" {
				ttl = 1500 * time.Millisecond
			}
			bd := te.bind(numX, numA, numB, ttl)
			car := newCarrier(t)
			d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
			if err != nil {
				t.Fatal(err)
			}
			tc := te.trunk.nextCall(t)
			if _, code := answer(t, d, 5*time.Second); code != 200 {
				t.Fatalf("got %d", code)
			}
			_ = d.Ack(context.Background())
			if how == "deleted" {
				if _, err := te.store.DeleteBinding(context.Background(), bd.ID); err != nil {
					t.Fatal(err)
				}
			}
			byeA := car.waitBye(t)
			var byeB *sip.Request
			select {
			case byeB = <-tc.byeReq:
			case <-time.After(5 * time.Second):
				t.Fatal("B got no BYE")
			}
			for leg, bye := range map[string]*sip.Request{"A": byeA, "B": byeB} {
				r := bye.GetHeader("Reason")
				if r == nil || !strings.Contains(r.Value(), how) {
					t.Errorf("BYE to %s has Reason %v, want one saying %q", leg, r, how)
				}
			}
			te.waitIdle()
			if _, err := te.store.Lookup(context.Background(), numX, numA); err == nil {
				t.Error("ended binding still resolves")
			}
		})
	}
}

func TestCallLateOffer(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	car := newCarrier(t)
	aRTP := newRTPPeer(t)
	// No SDP in the INVITE: B's 200 carries the offer, A's ACK the answer.
	d, err := car.invite(context.Background(), te.addr, numA, numX, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	if len(tc.req.Body()) != 0 {
		t.Fatalf("B leg INVITE carries SDP the caller never sent:\n%s", tc.req.Body())
	}
	res, code := answer(t, d, 5*time.Second)
	if code != 200 {
		t.Fatalf("A got %d", code)
	}
	offer := res.Body()
	if sdpAudioAddr(t, offer).Port == tc.rtp.port() {
		t.Fatal("offer to A points at B's media")
	}
	ack := sip.NewRequest(sip.ACK, res.Contact().Address)
	ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ack.SetBody(aRTP.sdp(1))
	if err := d.WriteAck(context.Background(), ack); err != nil {
		t.Fatal(err)
	}
	var bAck *sip.Request
	select {
	case bAck = <-tc.acks:
	case <-time.After(5 * time.Second):
		t.Fatal("B got no ACK")
	}
	if len(bAck.Body()) == 0 {
		t.Fatal("B's ACK carries no SDP answer")
	}
	aRTP.send(t, offer, 20, 'a')
	tc.rtp.waitReceived(t, 15)
	tc.rtp.send(t, bAck.Body(), 20, 'b')
	aRTP.waitReceived(t, 15)
	_ = d.Bye(context.Background())
	te.waitIdle()
}

func TestCallOverTCP(t *testing.T) {
	te := newTestEngine(t, withTrunkTransport("tcp"))
	te.bind(numX, numA, numB, time.Hour)
	car := newCarrier(t)
	car.useTCP = true
	aRTP := newRTPPeer(t)
	d, err := car.invite(context.Background(), te.addr, numA, numX, aRTP.sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	if tp := tc.req.Transport(); tp != "TCP" {
		t.Errorf("B leg arrived over %s, want TCP", tp)
	}
	res, code := answer(t, d, 5*time.Second)
	if code != 200 {
		t.Fatalf("A got %d", code)
	}
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	aRTP.send(t, res.Body(), 10, 'a')
	tc.rtp.waitReceived(t, 8)
	// B hangs up: the engine's BYE to A goes back over A's TCP connection.
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tc.sess.Bye(ctx); err != nil {
		t.Fatalf("B bye: %v", err)
	}
	if bye := car.waitBye(t); bye.Transport() != "TCP" {
		t.Errorf("BYE to A arrived over %s, want TCP", bye.Transport())
	}
	te.waitIdle()
}

// TestCallsListsTheCallTable: what an operator's GET /v1/calls reads, while
// B rings and once the call is up.
func TestCallsListsTheCallTable(t *testing.T) {
	te := newTestEngine(t)
	te.bind(numX, numA, numB, time.Hour)
	te.trunk.setScript(func(*sip.Request) trunkAction {
		return trunkAction{provisional: []int{180}, final: 200, ringFor: 300 * time.Millisecond}
	})
	car := newCarrier(t)
	d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	calls := te.engine.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls listed while B rings, want 1", len(calls))
	}
	c := calls[0]
	if c.X != numX || c.Caller != numA || c.Callee != numB || c.ACallID != sipedge.CallID(d.InviteRequest) ||
		c.BCallID != sipedge.CallID(tc.req) || c.BindingID == "" || c.Started.IsZero() || !c.Answered.IsZero() {
		t.Fatalf("ringing call listed as %+v", c)
	}
	if _, code := answer(t, d, 5*time.Second); code != 200 {
		t.Fatalf("A got %d", code)
	}
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls := te.engine.Calls(); len(calls) != 1 || calls[0].Answered.Before(calls[0].Started) {
		t.Fatalf("answered call listed as %+v", calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	te.waitIdle()
	if calls := te.engine.Calls(); len(calls) != 0 {
		t.Fatalf("%d calls listed after the BYE", len(calls))
	}
}
