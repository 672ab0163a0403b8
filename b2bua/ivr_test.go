package b2bua

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/store"
)

// The courier's call (AXE) on the wire: a carrier's UA (the courier) dials
// X, the engine answers it, plays the prompt, takes the extension, and
// calls the extension's A through the trunk showing X.

const (
	numCourier = "8613700000007"
	extension  = "1234"
)

func testPrompts(t *testing.T) *ivr.Prompts {
	t.Helper()
	p, err := ivr.LoadPrompts(os.DirFS("../testdata/prompts"), "en")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newIVREngine(t *testing.T, opts ...engineOpt) (*testEngine, *ivr.Prompts) {
	t.Helper()
	p := testPrompts(t)
	return newTestEngineWith(t, nil, []Option{WithPrompts(p)}, opts...), p
}

// bindAXE binds A to the extension on X.
func (te *testEngine) bindAXE(x, a, ext string) store.Binding {
	te.t.Helper()
	ctx := context.Background()
	if _, err := te.store.AddNumbers(ctx, "default", []string{x}); err != nil {
		te.t.Fatal(err)
	}
	b, _, err := te.store.CreateBinding(ctx, store.NewBinding{Model: store.ModelAXE, Pool: "default", X: x, A: a, Extension: ext, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		te.t.Fatal(err)
	}
	return b
}

// courierCall is the courier's side of an engine-answered call.
type courierCall struct {
	t      *testing.T
	te     *testEngine
	car    *carrier
	d      *sipgo.DialogClientSession
	rtp    *rtpPeer
	answer []byte // the engine's SDP
}

// dialX has the courier dial dialled (X, perhaps with digits) and waits
// for the engine's answer.
func dialX(t *testing.T, te *testEngine, dialled string) *courierCall {
	t.Helper()
	car := newCarrier(t)
	peer := newRTPPeer(t)
	d, err := car.invite(context.Background(), te.addr, numCourier, dialled, peer.sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	res, code := answer(t, d, 5*time.Second)
	if code != 200 {
		t.Fatalf("courier got %d, want the engine's 200", code)
	}
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &courierCall{t: t, te: te, car: car, d: d, rtp: peer, answer: res.Body()}
}

// info keys digits as SIP INFO application/dtmf-relay, one per key.
func (cc *courierCall) info(digits string) {
	cc.t.Helper()
	for i := 0; i < len(digits); i++ {
		req := sip.NewRequest(sip.INFO, cc.d.InviteResponse.Contact().Address)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
		req.SetBody([]byte("Signal=" + digits[i:i+1] + "\r\nDuration=160\r\n"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := cc.d.Do(ctx, req)
		cancel()
		if err != nil || res.StatusCode != 200 {
			cc.t.Fatalf("INFO %c: %v %v", digits[i], res, err)
		}
	}
}

// events keys digits as RFC 4733 telephone-events on the courier's RTP.
func (cc *courierCall) events(digits string) {
	cc.t.Helper()
	to := testkit.MustAudioAddr(cc.t, cc.answer)
	w := media.EventWriter{PT: 101, SSRC: 0x11223344}
	ts := uint32(8000)
	for i := 0; i < len(digits); i++ {
		pkts, err := w.Event(media.Digit(digits[i]), ts, 100*time.Millisecond)
		if err != nil {
			cc.t.Fatal(err)
		}
		for _, p := range pkts {
			cc.rtp.Send(to, p)
			time.Sleep(5 * time.Millisecond)
		}
		ts += 2000
	}
}

func (cc *courierCall) bye() {
	cc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cc.d.Bye(ctx); err != nil {
		cc.t.Fatal(err)
	}
}

// checkBLeg: the INVITE to A shows X and names nobody but A; the courier's
// number is nowhere in it.
func checkBLeg(t *testing.T, tc *trunkCall, a string) {
	t.Helper()
	if got := tc.req.To().Address.User; !strings.Contains(got, a) {
		t.Errorf("B leg goes to %q, want A %s", got, a)
	}
	if got := tc.req.From().Address.User; !strings.Contains(got, numX) {
		t.Errorf("B leg shows %q, want X %s", got, numX)
	}
	if bytes.Contains([]byte(tc.req.String()), []byte(numCourier[2:])) {
		t.Errorf("the courier's number reached A:\n%s", tc.req)
	}
}

// bridged: the courier and A hear each other through the relay.
func bridged(t *testing.T, cc *courierCall, tc *trunkCall) {
	t.Helper()
	cc.rtp.SendRTP(testkit.MustAudioAddr(t, cc.answer), 20, 'c')
	tc.rtp.WaitReceived(10)
	if !tc.rtp.Saw('c') {
		t.Error("A did not hear the courier")
	}
	tc.rtp.SendRTP(testkit.MustAudioAddr(t, tc.req.Body()), 20, 'a')
	deadline := time.Now().Add(5 * time.Second)
	for !cc.rtp.Saw('a') && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !cc.rtp.Saw('a') {
		t.Error("the courier did not hear A")
	}
}

func TestCourierKeysExtensionByINFO(t *testing.T) {
	te, _ := newIVREngine(t)
	te.bindAXE(numX, numA, extension)
	cc := dialX(t, te, numX)
	cc.rtp.WaitReceived(5) // the prompt plays
	cc.info(extension)
	tc := te.trunk.nextCall(t)
	checkBLeg(t, tc, numA)
	bridged(t, cc, tc)
	// Keys after the bridge (the # many couriers key after the extension)
	// are the engine's: answered 200 by it, never sent to A, whose phone
	// (the trunk here) would refuse an INFO it does not serve.
	cc.info("#")
	cc.bye()
	select {
	case <-tc.byeReq:
	case <-time.After(5 * time.Second):
		t.Fatal("A got no BYE")
	}
	te.waitIdle()
}

func TestCourierKeysExtensionByRFC4733(t *testing.T) {
	te, _ := newIVREngine(t)
	te.bindAXE(numX, numA, extension)
	cc := dialX(t, te, numX)
	cc.rtp.WaitReceived(5)
	cc.events(extension)
	tc := te.trunk.nextCall(t)
	checkBLeg(t, tc, numA)
	bridged(t, cc, tc)
	cc.bye()
	te.waitIdle()
}

func TestCourierDialsExtensionInTheNumber(t *testing.T) {
	te, _ := newIVREngine(t)
	te.bindAXE(numX, numA, extension)
	// X followed by the extension: no prompt, straight to A.
	car := newCarrier(t)
	peer := newRTPPeer(t)
	d, err := car.invite(context.Background(), te.addr, numCourier, numX+extension, peer.sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	checkBLeg(t, tc, numA)
	if _, code := answer(t, d, 5*time.Second); code != 200 {
		t.Fatalf("courier got %d", code)
	}
	_ = d.Ack(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.Bye(ctx)
	te.waitIdle()
}

// TestCourierHearsPromptThenRingback decodes what the courier heard: the
// enter-extension prompt frame for frame until the first key, later the
// ringback tone while A's phone rings.
func TestCourierHearsPromptThenRingback(t *testing.T) {
	te, prompts := newIVREngine(t)
	te.bindAXE(numX, numA, extension)
	te.trunk.setScript(func(*sip.Request) trunkAction {
		return trunkAction{provisional: []int{180}, final: 200, ringFor: 2 * time.Second}
	})
	cc := dialX(t, te, numX)
	prompt, _ := prompts.Sound("default", ivr.PromptEnterExtension)
	heard := receiveFrames(t, cc.rtp, 25)
	if at := findFrames(heard, prompt, 25); at != 0 {
		t.Fatalf("the first 25 frames the courier heard are not the prompt's first 25 (match at %d)", at)
	}
	cc.info(extension)
	tc := te.trunk.nextCall(t)
	ring, _ := prompts.Sound("default", ivr.Ringback)
	heard = receiveFrames(t, cc.rtp, 50) // barge-in stopped the prompt; ringback follows
	if at := findFrames(heard, ring, 10); at < 0 {
		t.Fatal("the courier did not hear the ringback while A's phone rang")
	}
	select {
	case <-tc.acks:
	case <-time.After(5 * time.Second):
		t.Fatal("A's 200 was not acknowledged")
	}
	bridged(t, cc, tc)
	cc.bye()
	te.waitIdle()
}

// receiveFrames is the payload of the next n PCMU packets the peer gets.
func receiveFrames(t *testing.T, p *rtpPeer, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for len(out) < n {
		d, ok := p.Next(3 * time.Second)
		if !ok {
			t.Fatalf("got %d of %d packets", len(out), n)
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(d.Data) != nil || pkt.PayloadType != 0 {
			continue
		}
		out = append(out, pkt.Payload)
	}
	return out
}

// findFrames is where in heard n consecutive frames of s begin (any
// offset into s), -1 when nowhere.
func findFrames(heard [][]byte, s *media.Sound, n int) int {
	for at := 0; at+n <= len(heard); at++ {
		for off := 0; off+n <= s.Frames(); off++ {
			ok := true
			for i := 0; i < n && ok; i++ {
				ok = bytes.Equal(heard[at+i], s.Frame(media.PCMU, off+i))
			}
			if ok {
				return at
			}
		}
	}
	return -1
}

func withMenu(cfg ivr.Config) engineOpt {
	return func(s *engineSetup) { s.opts = append(s.opts, WithMenu(cfg)) }
}

// waitBye waits for the engine's BYE to the courier.
func (cc *courierCall) waitBye() *sip.Request {
	cc.t.Helper()
	return cc.car.waitBye(cc.t)
}

func TestCourierWrongThenRightExtension(t *testing.T) {
	te, _ := newIVREngine(t)
	te.bindAXE(numX, numA, extension)
	cc := dialX(t, te, numX)
	cc.info("9999")
	// Asked again: the retry prompt plays, nobody is called.
	cc.rtp.WaitReceived(5)
	select {
	case tc := <-te.trunk.calls:
		t.Fatalf("a wrong extension called %s", tc.req.To().Address.User)
	case <-time.After(300 * time.Millisecond):
	}
	cc.info(extension)
	tc := te.trunk.nextCall(t)
	checkBLeg(t, tc, numA)
	cc.bye()
	te.waitIdle()
}

// TestCourierFirstDigitTimeout: a courier who keys nothing is asked again,
// up to three times, then hears goodbye and gets the engine's BYE.
func TestCourierFirstDigitTimeout(t *testing.T) {
	te, _ := newIVREngine(t, withMenu(ivr.Config{FirstDigit: 200 * time.Millisecond, InterDigit: 200 * time.Millisecond, Tries: 2}))
	te.bindAXE(numX, numA, extension)
	cc := dialX(t, te, numX)
	start := time.Now()
	var bye *sip.Request
	select { // two prompts of 3.1 s and the goodbye of 1.1 s
	case bye = <-cc.car.byes:
	case <-time.After(20 * time.Second):
		t.Fatal("no BYE after the tries")
	}
	// Two prompts and the goodbye play in full before the BYE.
	if took := time.Since(start); took < 7*time.Second {
		t.Errorf("BYE %v after the answer: the prompts cannot have played", took)
	}
	if bye.GetHeader("Reason") != nil {
		t.Errorf("goodbye BYE carries Reason %v", bye.GetHeader("Reason"))
	}
	te.waitIdle()
}

// TestCourierReachesBusyA: A's phone is busy; the courier hears that A is
// unavailable and then gets the BYE, not silence.
func TestCourierReachesBusyA(t *testing.T) {
	te, prompts := newIVREngine(t)
	te.bindAXE(numX, numA, extension)
	te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{final: 486} })
	cc := dialX(t, te, numX)
	cc.info(extension)
	te.trunk.nextCall(t)
	unavailable, _ := prompts.Sound("default", ivr.PromptUnavailable)
	heard := receiveFrames(t, cc.rtp, 80)
	if findFrames(heard, unavailable, 20) < 0 {
		t.Error("the courier did not hear that A is unavailable")
	}
	cc.waitBye()
	te.waitIdle()
}

// TestCallbackReachesLastCourier: after a courier reached A through the
// extension, A dialling X calls that courier back, showing X; with nobody
// to call back A hears so and the call ends.
func TestCallbackReachesLastCourier(t *testing.T) {
	te, _ := newIVREngine(t)
	te.bindAXE(numX, numA, extension)

	// Nobody called yet: A hears the no-callback prompt, then the BYE.
	car := newCarrier(t)
	d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, code := answer(t, d, 5*time.Second); code != 200 {
		t.Fatalf("A calling X with nobody to call back got %d, want the engine's 200", code)
	}
	_ = d.Ack(context.Background())
	car.waitBye(t)
	te.waitIdle()

	cc := dialX(t, te, numX)
	cc.info(extension)
	tc := te.trunk.nextCall(t)
	// Hang up only once A has answered (the engine's ACK): a BYE that
	// beats A's 200 makes the engine CANCEL A's leg, which sends no BYE.
	select {
	case <-tc.acks:
	case <-time.After(5 * time.Second):
		t.Fatal("the engine did not ACK A's answer")
	}
	cc.bye()
	select {
	case <-tc.byeReq:
	case <-time.After(5 * time.Second):
		t.Fatal("A got no BYE after the courier hung up")
	}
	te.waitIdle()
	// The engine notes the courier in the background (routing's noteCaller:
	// an fsync kept off the INVITE's path); a person calls back seconds
	// later, this test at once, so it waits for the note first.
	te.waitCallerNoted(numX, numA, numCourier)

	d, err = car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	back := te.trunk.nextCall(t)
	if got := back.req.To().Address.User; !strings.Contains(got, numCourier) {
		t.Errorf("callback goes to %q, want the courier %s", got, numCourier)
	}
	if got := back.req.From().Address.User; !strings.Contains(got, numX) {
		t.Errorf("callback shows %q, want X", got)
	}
	if _, code := answer(t, d, 5*time.Second); code != 200 {
		t.Fatalf("callback got %d", code)
	}
	_ = d.Ack(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.Bye(ctx)
	te.waitIdle()
}

// TestUnknownCallerHearsAnnouncement: a pool whose policy is to announce
// answers a caller nobody is bound for, plays the unknown-number prompt,
// then hangs up; without that policy the caller gets 404.
func TestUnknownCallerHearsAnnouncement(t *testing.T) {
	te, prompts := newIVREngine(t)
	te.bind(numX, numA, numB, time.Hour)
	car := newCarrier(t)
	d, err := car.invite(context.Background(), te.addr, numCourier, numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, code := answer(t, d, 5*time.Second); code != 404 {
		t.Fatalf("stranger got %d under the default policy, want 404", code)
	}
	if err := te.store.SetPoolSettings(context.Background(), "default", store.PoolSettings{UnknownCaller: store.UnknownCaller{Action: store.UnknownAnnounce}}); err != nil {
		t.Fatal(err)
	}
	cc := dialX(t, te, numX)
	unknown, _ := prompts.Sound("default", ivr.PromptUnknownNumber)
	if findFrames(receiveFrames(t, cc.rtp, 30), unknown, 20) < 0 {
		t.Error("the stranger did not hear the unknown-number prompt")
	}
	select {
	case <-cc.car.byes:
	case <-time.After(10 * time.Second):
		t.Fatal("no BYE after the announcement")
	}
	te.waitIdle()
}

// TestCourierDialsWrongExtension: X with a mistyped extension is answered
// and the courier asked again; the right extension then reaches A.
func TestCourierDialsWrongExtension(t *testing.T) {
	te, prompts := newIVREngine(t)
	te.bindAXE(numX, numA, extension)
	cc := dialX(t, te, numX+"9999")
	notFound, _ := prompts.Sound("default", ivr.PromptNotFound)
	if findFrames(receiveFrames(t, cc.rtp, 30), notFound, 20) < 0 {
		t.Error("the courier did not hear that the extension was not found")
	}
	cc.info(extension)
	tc := te.trunk.nextCall(t)
	checkBLeg(t, tc, numA)
	cc.bye()
	te.waitIdle()
}

// waitCallerNoted waits until the store has caller as who last reached a's
// AXE binding on x: the note the callback calls.
func (te *testEngine) waitCallerNoted(x, a, caller string) {
	te.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := te.store.Resolve(context.Background(), x, a)
		if err == nil && strings.Contains(res.LastCaller, caller) {
			return
		}
		if time.Now().After(deadline) {
			te.t.Fatalf("caller %s not noted on x %s for %s within 5s (last %q, %v)", caller, x, a, res.LastCaller, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
