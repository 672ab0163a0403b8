package b2bua

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/store"
)

func TestWatchVerdict(t *testing.T) {
	t0 := time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	p := watchPolicy{rtp: 60 * time.Second, hold: time.Hour, max: 4 * time.Hour}
	heard := func(a, b time.Duration) [2]time.Time { return [2]time.Time{at(a), at(b)} }
	tests := []struct {
		name   string
		p      watchPolicy
		now    time.Duration
		w      watchedCall
		reason string
		silent media.Side
	}{
		{"both talking", p, 10 * time.Minute, watchedCall{answered: t0, heard: heard(10*time.Minute-time.Second, 10*time.Minute-20*time.Millisecond)}, "", 0},
		{"just answered, nothing yet", p, 59 * time.Second, watchedCall{answered: t0}, "", 0},
		{"answered, never heard", p, 60 * time.Second, watchedCall{answered: t0}, reasonMediaTimeout, media.SideA},
		{"b fell silent", p, 5 * time.Minute, watchedCall{answered: t0, heard: heard(5*time.Minute, 4*time.Minute)}, reasonMediaTimeout, media.SideB},
		{"a fell silent", p, 5 * time.Minute, watchedCall{answered: t0, heard: heard(3*time.Minute, 5*time.Minute)}, reasonMediaTimeout, media.SideA},
		{"b silent a second short", p, 5 * time.Minute, watchedCall{answered: t0, heard: heard(5*time.Minute, 4*time.Minute+time.Second)}, "", 0},
		{"on hold, both silent", p, 30 * time.Minute, watchedCall{answered: t0, held: true, changed: at(time.Minute), heard: heard(time.Minute, time.Minute)}, "", 0},
		{"on hold past the hold timeout", p, 62 * time.Minute, watchedCall{answered: t0, held: true, changed: at(time.Minute), heard: heard(time.Minute, time.Minute)}, reasonMediaTimeout, media.SideA},
		{"resumed, not heard since", p, 30*time.Minute + 59*time.Second, watchedCall{answered: t0, changed: at(30 * time.Minute), heard: heard(time.Minute, time.Minute)}, "", 0},
		{"resumed, silent past the timeout", p, 31 * time.Minute, watchedCall{answered: t0, changed: at(30 * time.Minute), heard: heard(time.Minute, 31*time.Minute)}, reasonMediaTimeout, media.SideA},
		{"media before the answer does not count", p, 61 * time.Second, watchedCall{answered: at(2 * time.Second), heard: heard(0, 0)}, "", 0},
		{"max duration, media flowing", p, 4 * time.Hour, watchedCall{answered: t0, heard: heard(4*time.Hour, 4*time.Hour)}, reasonMaxDuration, 0},
		{"max duration wins over silence", p, 5 * time.Hour, watchedCall{answered: t0}, reasonMaxDuration, 0},
		{"rtp timeout off", watchPolicy{hold: time.Hour}, 50 * time.Minute, watchedCall{answered: t0}, "", 0},
		{"hold timeout off", watchPolicy{rtp: time.Minute}, 50 * time.Hour, watchedCall{answered: t0, held: true}, "", 0},
		{"all off", watchPolicy{}, 500 * time.Hour, watchedCall{answered: t0}, "", 0},
		{"binding limit", p, 90 * time.Second, watchedCall{answered: t0, limit: 90 * time.Second, heard: heard(90*time.Second, 90*time.Second)}, reasonCallLimit, 0},
		{"binding limit not yet", p, 89 * time.Second, watchedCall{answered: t0, limit: 90 * time.Second, heard: heard(89*time.Second, 89*time.Second)}, "", 0},
		{"binding limit past the engine's", p, 4 * time.Hour, watchedCall{answered: t0, limit: 5 * time.Hour, heard: heard(4*time.Hour, 4*time.Hour)}, reasonMaxDuration, 0},
		{"binding limit with the engine's off", watchPolicy{}, 3 * time.Hour, watchedCall{answered: t0, limit: 3 * time.Hour}, reasonCallLimit, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reason, silent, end := tc.p.verdict(at(tc.now), tc.w)
			if end != (tc.reason != "") || reason != tc.reason || end && reason == reasonMediaTimeout && silent != tc.silent {
				t.Fatalf("verdict = %q (silent %v, end %v), want %q (silent %v)", reason, silent, end, tc.reason, tc.silent)
			}
		})
	}
}

func TestWatchTick(t *testing.T) {
	tests := []struct {
		p    watchPolicy
		want time.Duration
	}{
		{watchPolicy{rtp: time.Minute, hold: time.Hour, max: 4 * time.Hour}, time.Second},
		{watchPolicy{rtp: 300 * time.Millisecond, hold: time.Hour}, 30 * time.Millisecond},
		{watchPolicy{max: 50 * time.Millisecond}, minWatchTick},
		{watchPolicy{hold: 5 * time.Second}, 500 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := tc.p.tick(); got != tc.want {
			t.Errorf("tick of %+v = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestOnHold(t *testing.T) {
	const (
		sr = media.DirSendRecv
		so = media.DirSend
		ro = media.DirRecv
		in = media.DirInactive
	)
	tests := []struct {
		name string
		a, b []media.Direction
		want bool
	}{
		{"no sdp yet", nil, nil, false},
		{"offer only", []media.Direction{sr}, nil, false},
		{"offer sendonly, no answer yet", []media.Direction{so}, nil, true},
		{"both ways", []media.Direction{sr}, []media.Direction{sr}, false},
		{"a holds, b answers recvonly", []media.Direction{so}, []media.Direction{ro}, true},
		{"b holds", []media.Direction{ro}, []media.Direction{so}, true},
		{"a inactive", []media.Direction{in}, []media.Direction{in}, true},
		{"sendonly answered sendrecv", []media.Direction{so}, []media.Direction{sr}, true},
		{"video held, audio flows", []media.Direction{sr, so}, []media.Direction{sr, ro}, false},
		{"audio rejected by the answer", []media.Direction{sr, sr}, []media.Direction{in, sr}, false},
		{"answer with fewer streams", []media.Direction{sr, sr}, []media.Direction{in}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := onHold([2][]media.Direction{tc.a, tc.b}); got != tc.want {
				t.Fatalf("onHold(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestWatchConfigRefused(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative rtp timeout":  {RTPTimeout: -time.Second},
		"negative max duration": {MaxCallDuration: -time.Second},
		"hold below rtp":        {RTPTimeout: time.Minute, RTPHoldTimeout: time.Second},
	} {
		if err := cfg.checkWatch(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for name, cfg := range map[string]Config{
		"defaults":          {RTPTimeout: time.Minute, RTPHoldTimeout: time.Hour, MaxCallDuration: 4 * time.Hour},
		"hold off":          {RTPTimeout: time.Minute},
		"all off":           {},
		"hold without rtp":  {RTPHoldTimeout: time.Hour},
		"hold equal to rtp": {RTPTimeout: time.Minute, RTPHoldTimeout: time.Minute},
	} {
		if err := cfg.checkWatch(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// ---- on the wire ----

func withLimits(rtpTimeout, holdTimeout, maxDuration time.Duration) engineOpt {
	return func(s *engineSetup) {
		c := &s.cfg
		c.RTPTimeout, c.RTPHoldTimeout, c.MaxCallDuration = rtpTimeout, holdTimeout, maxDuration
	}
}

// streamer sends a PCMU packet every 20 ms from peer to dst until stopped.
type streamer struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func stream(peer *rtpPeer, dst *net.UDPAddr) *streamer {
	s := &streamer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: uint32(peer.port())}, Payload: make([]byte, 160)}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 100_000; i++ { // bounded: half an hour of audio
			pkt.SequenceNumber, pkt.Timestamp = uint16(i), uint32(i*160)
			if raw, err := pkt.Marshal(); err == nil {
				_, _ = peer.Conn().WriteToUDP(raw, dst)
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *streamer) halt() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// upCall is a call answered through the harness with media streaming both
// ways.
type upCall struct {
	te       *testEngine
	car      *carrier
	tc       *trunkCall
	aRTP     *rtpPeer
	aStream  *streamer
	bStream  *streamer
	answered time.Time
}

func answeredCall(t *testing.T, te *testEngine) *upCall {
	t.Helper()
	return answeredCallWith(t, te, store.Policy{})
}

// answeredCallWith is answeredCall on a binding with policy.
func answeredCallWith(t *testing.T, te *testEngine, policy store.Policy) *upCall {
	t.Helper()
	return answeredCallOn(t, te, policy, time.Hour)
}

// answeredCallExpiring is answeredCall on a binding that expires ttl from
// now.
func answeredCallExpiring(t *testing.T, te *testEngine, ttl time.Duration) *upCall {
	t.Helper()
	return answeredCallOn(t, te, store.Policy{}, ttl)
}

func answeredCallOn(t *testing.T, te *testEngine, policy store.Policy, ttl time.Duration) *upCall {
	t.Helper()
	ctx := context.Background()
	if _, err := te.store.AddNumbers(ctx, "default", []string{numX}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := te.store.CreateBinding(ctx, store.NewBinding{Pool: "default", X: numX, A: numA, B: numB,
		Policy: policy, ExpiresAt: time.Now().Add(ttl)}); err != nil {
		t.Fatal(err)
	}
	car := newCarrier(t)
	aRTP := newRTPPeer(t)
	d, err := car.invite(context.Background(), te.addr, "+"+numA, "+"+numX, aRTP.sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	res, code := answer(t, d, 5*time.Second)
	if code != 200 {
		t.Fatalf("A got %d", code)
	}
	answered := time.Now()
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	u := &upCall{te: te, car: car, tc: tc, answered: answered, aRTP: aRTP,
		aStream: stream(aRTP, sdpAudioAddr(t, res.Body())),
		bStream: stream(tc.rtp, sdpAudioAddr(t, tc.req.Body())),
	}
	t.Cleanup(u.aStream.halt)
	t.Cleanup(u.bStream.halt)
	aRTP.waitReceived(t, 5)
	tc.rtp.waitReceived(t, 5)
	return u
}

// noBye fails if either leg gets a BYE within d.
func (u *upCall) noBye(t *testing.T, d time.Duration, why string) {
	t.Helper()
	select {
	case r := <-u.car.byes:
		t.Fatalf("%s: A got a BYE (%v) %v after the answer", why, r.GetHeader("Reason"), time.Since(u.answered))
	case r := <-u.tc.byeReq:
		t.Fatalf("%s: B got a BYE (%v) %v after the answer", why, r.GetHeader("Reason"), time.Since(u.answered))
	case <-time.After(d):
	}
}

// byeBoth waits for the BYE of each leg and checks its Reason.
func (u *upCall) byeBoth(t *testing.T, reason string) {
	t.Helper()
	for _, leg := range []struct {
		name string
		bye  func() *sip.Request
	}{
		{"A", func() *sip.Request { return u.car.waitBye(t) }},
		{"B", func() *sip.Request {
			select {
			case r := <-u.tc.byeReq:
				return r
			case <-time.After(5 * time.Second):
				t.Fatal("B got no BYE")
				return nil
			}
		}},
	} {
		r := leg.bye()
		if h := r.GetHeader("Reason"); h == nil || h.Value() != reason {
			t.Errorf("%s's BYE has Reason %v, want %s", leg.name, h, reason)
		}
	}
	u.te.waitIdle()
}

// TestMediaTimeoutOneSideSilent: both parties talk past the RTP timeout and
// the call stays up; then B falls silent and both legs get a BYE saying
// why. A still talking does not keep the call alive.
func TestMediaTimeoutOneSideSilent(t *testing.T) {
	te := newTestEngine(t, withLimits(300*time.Millisecond, time.Hour, 0))
	u := answeredCall(t, te)
	u.noBye(t, 900*time.Millisecond, "both talking")
	u.bStream.halt()
	u.byeBoth(t, reasonMediaTimeout)
}

// TestMaxCallDuration: media flows both ways the whole time, and the call
// still ends at the maximum duration, with a Reason saying so.
func TestMaxCallDuration(t *testing.T) {
	te := newTestEngine(t, withLimits(300*time.Millisecond, time.Hour, 1200*time.Millisecond))
	u := answeredCall(t, te)
	u.noBye(t, 600*time.Millisecond, "within the max duration")
	u.byeBoth(t, reasonMaxDuration)
	if talk := time.Since(u.answered); talk < 1200*time.Millisecond {
		t.Errorf("call ended %v after the answer, before the max duration", talk)
	}
}

func TestCallLimits(t *testing.T) {
	t0 := time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		p           store.Policy
		limit, warn time.Duration
		warnsAt     time.Duration // -1: never
	}{
		{store.Policy{}, 0, 0, -1},
		{store.Policy{WarnSeconds: 30}, 0, 0, -1},
		{store.Policy{MaxCallSeconds: 300}, 300 * time.Second, 0, -1},
		{store.Policy{MaxCallSeconds: 300, WarnSeconds: 60}, 300 * time.Second, 60 * time.Second, 240 * time.Second},
		{store.Policy{MaxCallSeconds: 30, WarnSeconds: 60}, 30 * time.Second, 30 * time.Second, 0},
	} {
		limit, warn := callLimits(tc.p)
		if limit != tc.limit || warn != tc.warn {
			t.Errorf("%+v: limit %v warn %v, want %v %v", tc.p, limit, warn, tc.limit, tc.warn)
		}
		w := watchedCall{answered: t0, limit: limit, warn: warn}
		for _, at := range []time.Duration{0, 239 * time.Second, 240 * time.Second, 400 * time.Second} {
			want := tc.warnsAt >= 0 && at >= tc.warnsAt
			if got := w.warns(t0.Add(at)); got != want {
				t.Errorf("%+v at %v: warns %v, want %v", tc.p, at, got, want)
			}
		}
	}
}

// TestBindingCallLimit: a binding's max_call_seconds ends its call, talking
// or not, with a Reason saying so, after both parties heard the warning
// tone warn_seconds before, in place of each other's audio.
func TestBindingCallLimit(t *testing.T) {
	te := newTestEngine(t, withLimits(time.Minute, time.Hour, 0), func(s *engineSetup) {
		s.opts = append(s.opts, WithWatchTick(50*time.Millisecond))
	})
	u := answeredCallWith(t, te, store.Policy{MaxCallSeconds: 2, WarnSeconds: 1})
	u.noBye(t, 900*time.Millisecond, "before the warning")
	u.byeBoth(t, reasonCallLimit)
	if talk := time.Since(u.answered); talk < 2*time.Second {
		t.Errorf("call ended %v after the answer, before its limit", talk)
	}
	for name, peer := range map[string]*rtpPeer{"A": u.aRTP, "B": u.tc.rtp} {
		if findFrames(drainFrames(peer), te.engine.warnTone, 10) < 0 {
			t.Errorf("%s did not hear the warning tone", name)
		}
	}
}

// drainFrames is the payload of every PCMU packet the peer has unread.
func drainFrames(p *rtpPeer) [][]byte {
	var out [][]byte
	for {
		d, ok := p.Next(0)
		if !ok {
			return out
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(d.Data) == nil && pkt.PayloadType == 0 {
			out = append(out, pkt.Payload)
		}
	}
}

// TestHoldOutlivesMediaTimeout: A puts the call on hold (a=sendonly, B
// answers a=recvonly) and nobody sends any RTP; the call outlives the RTP
// timeout many times over, then ends at the hold timeout. Without the hold
// the same silence ends it at the RTP timeout (TestMediaTimeoutSilentCall).
func TestHoldOutlivesMediaTimeout(t *testing.T) {
	c := newPrivacyCall(t, false, withLimits(500*time.Millisecond, 3*time.Second, 0))
	c.setup()
	c.holdFromA()
	held := time.Now()
	time.Sleep(1500 * time.Millisecond)
	for _, ua := range []*rawUA{c.car, c.tr} {
		for _, d := range ua.received() {
			if req, ok := d.msg.(*sip.Request); ok && req.Method == sip.BYE {
				t.Fatalf("%s got a BYE while the call was on hold: %v", ua.name, req.GetHeader("Reason"))
			}
		}
	}
	for _, ua := range []*rawUA{c.car, c.tr} {
		bye := ua.request(sip.BYE, true)
		if h := bye.GetHeader("Reason"); h == nil || h.Value() != reasonMediaTimeout {
			t.Errorf("%s's BYE has Reason %v, want %s", ua.name, h, reasonMediaTimeout)
		}
		if ua == c.car {
			c.carrierAnswer(bye, 200, "OK", "")
		} else {
			c.trunkAnswer(bye, 200, "OK", "")
		}
	}
	if d := time.Since(held); d < 3*time.Second {
		t.Errorf("held call ended %v after the hold, before the hold timeout", d)
	}
	c.sweep([]string{"BYE "}, []string{"BYE "})
}

// TestMediaTimeoutSilentCall is the same call as above without the hold:
// no RTP from anyone ends it at the RTP timeout.
func TestMediaTimeoutSilentCall(t *testing.T) {
	c := newPrivacyCall(t, false, withLimits(300*time.Millisecond, 3*time.Second, 0))
	c.setup()
	for _, ua := range []*rawUA{c.car, c.tr} {
		bye := ua.request(sip.BYE, true)
		if h := bye.GetHeader("Reason"); h == nil || !strings.Contains(h.Value(), "media timeout") {
			t.Errorf("%s's BYE has Reason %v, want media timeout", ua.name, h)
		}
		if ua == c.car {
			c.carrierAnswer(bye, 200, "OK", "")
		} else {
			c.trunkAnswer(bye, 200, "OK", "")
		}
	}
	c.sweep([]string{"BYE "}, []string{"BYE "})
}

func TestExpiryWarns(t *testing.T) {
	t0 := time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC)
	w := watchedCall{answered: t0, expires: t0.Add(10 * time.Minute)}
	teardown := store.ExpiryPolicy{Mode: store.ExpiryTeardown, WarnSeconds: 60}
	for _, tc := range []struct {
		policy store.ExpiryPolicy
		at     time.Duration
		want   bool
	}{
		{teardown, 8*time.Minute + 59*time.Second, false},
		{teardown, 9 * time.Minute, true},
		{teardown, 11 * time.Minute, true},
		{store.ExpiryPolicy{Mode: store.ExpiryTeardown}, 9*time.Minute + 59*time.Second, false},
		{store.ExpiryPolicy{Mode: store.ExpiryFinish, WarnSeconds: 60}, 9*time.Minute + 30*time.Second, false},
	} {
		if got := w.expiryWarns(t0.Add(tc.at), tc.policy); got != tc.want {
			t.Errorf("%+v at %v: %v, want %v", tc.policy, tc.at, got, tc.want)
		}
	}
}

// TestExpiryPolicy: at its binding's expiry a call is torn down after the
// warning tone (teardown, the default), or runs on (finish) while new
// calls are refused.
func TestExpiryPolicy(t *testing.T) {
	for _, mode := range []store.ExpiryMode{store.ExpiryTeardown, store.ExpiryFinish} {
		t.Run(string(mode), func(t *testing.T) {
			te := newTestEngine(t, withLimits(time.Minute, time.Hour, 0), func(s *engineSetup) {
				s.opts = append(s.opts, WithWatchTick(50*time.Millisecond))
			})
			ctx := context.Background()
			if _, err := te.store.AddNumbers(ctx, "default", []string{numX}); err != nil {
				t.Fatal(err)
			}
			policy := store.ExpiryPolicy{Mode: mode}
			if mode == store.ExpiryTeardown {
				policy.WarnSeconds = 1
			}
			if err := te.store.SetPoolSettings(ctx, "default", store.PoolSettings{Expiry: policy}); err != nil {
				t.Fatal(err)
			}
			u := answeredCallExpiring(t, te, 2500*time.Millisecond)
			if mode == store.ExpiryFinish {
				u.noBye(t, 3500*time.Millisecond, "a finish pool's call past its binding's expiry")
				return
			}
			u.byeBoth(t, `SIP;cause=480;text="binding expired"`)
			if findFrames(drainFrames(u.aRTP), te.engine.warnTone, 10) < 0 {
				t.Error("A did not hear the warning before the expiry")
			}
		})
	}
}
