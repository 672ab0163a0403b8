package b2bua

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/number"
)

func withTrunkNumbers(tr number.Trunk) engineOpt {
	return func(s *engineSetup) { s.cfg.TrunkNumbers = &tr }
}

// uriOf parses the URI of a name-addr header value.
func uriOf(t *testing.T, value string) sip.Uri {
	t.Helper()
	var u sip.Uri
	if _, err := sip.ParseAddressValue(value, &u, nil); err != nil {
		t.Fatalf("parse %q: %v", value, err)
	}
	return u
}

// hangUp acknowledges A's 200, sends BYE and waits for the engine to be
// idle.
func hangUp(t *testing.T, te *testEngine, d *sipgo.DialogClientSession) {
	t.Helper()
	if err := d.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	te.waitIdle()
}

// TestTrunkNumberFormats places a call per trunk number format and checks
// what the trunk receives in the Request-URI, To, From and
// P-Asserted-Identity, and that the call completes.
func TestTrunkNumberFormats(t *testing.T) {
	cases := []struct {
		name          string
		trunk         *number.Trunk
		callee, shown string
		userPhone     bool
	}{
		{"default +e164", nil, "+" + numB, "+" + numX, true},
		{"+e164 without user=phone", &number.Trunk{Style: number.PlusE164}, "+" + numB, "+" + numX, false},
		{"e164", &number.Trunk{Style: number.E164}, numB, numX, false},
		{"national", &number.Trunk{Style: number.National}, "13900000002", "17000000001", false},
		{"national0", &number.Trunk{Style: number.National0}, "013900000002", "017000000001", false},
		{"national0 tech prefix user=phone", &number.Trunk{Style: number.National0, Prefix: "10193", UserPhone: true}, "10193013900000002", "017000000001", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []engineOpt
			if tc.trunk != nil {
				opts = append(opts, withTrunkNumbers(*tc.trunk))
			}
			te := newTestEngine(t, opts...)
			te.bind(numX, numA, numB, time.Hour)
			car := newCarrier(t)
			d, err := car.invite(context.Background(), te.addr, "+"+numA, "+"+numX, newRTPPeer(t).sdp(1))
			if err != nil {
				t.Fatal(err)
			}
			req := te.trunk.nextCall(t).req
			pai := req.GetHeader("P-Asserted-Identity")
			if pai == nil {
				t.Fatal("no P-Asserted-Identity")
			}
			for _, u := range []struct {
				what, want string
				uri        sip.Uri
			}{
				{"Request-URI", tc.callee, req.Recipient},
				{"To", tc.callee, req.To().Address},
				{"From", tc.shown, req.From().Address},
				{"P-Asserted-Identity", tc.shown, uriOf(t, pai.Value())},
			} {
				if u.uri.User != u.want {
					t.Errorf("%s user %q, want %q", u.what, u.uri.User, u.want)
				}
				if v, _ := u.uri.UriParams.Get("user"); (v == "phone") != tc.userPhone || (v != "" && v != "phone") {
					t.Errorf("%s %s: user=phone %v, want %v", u.what, u.uri.String(), v == "phone", tc.userPhone)
				}
			}
			if _, code := answer(t, d, 5*time.Second); code != 200 {
				t.Fatalf("A got %d, want 200", code)
			}
			hangUp(t, te, d)
		})
	}
}

// TestTrunkNumbersSoftphone: a softphone registered under the bare digits
// of its number (AOR sip:8613900000002@trunk) is reached with the e164
// format. A registrar matches the Request-URI to the AOR by RFC 3261
// 19.1.4, where a URI with user=phone is not the one without, so the
// default +e164 with user=phone does not reach it.
func TestTrunkNumbersSoftphone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		trunk *number.Trunk
		want  int
	}{
		{"e164 reaches it", &number.Trunk{Style: number.E164}, 200},
		{"default +e164 does not", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []engineOpt
			if tc.trunk != nil {
				opts = append(opts, withTrunkNumbers(*tc.trunk))
			}
			te := newTestEngine(t, opts...)
			te.trunk.setScript(func(req *sip.Request) trunkAction {
				ruri := req.Recipient
				if ruri.User == numB && !ruri.UriParams.Has("user") {
					return trunkAction{provisional: []int{180}, final: 200}
				}
				return trunkAction{final: 404}
			})
			te.bind(numX, numA, numB, time.Hour)
			car := newCarrier(t)
			d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
			if err != nil {
				t.Fatal(err)
			}
			_, code := answer(t, d, 5*time.Second)
			if code != tc.want {
				t.Fatalf("A got %d, want %d", code, tc.want)
			}
			if code == 200 {
				hangUp(t, te, d)
				return
			}
			te.waitIdle()
		})
	}
}

// TestTrunkNumbersScrubCallee: with a tech prefix and the national0 format
// the B leg's Request-URI no longer normalises to B's number; B's number in
// B's answer SDP must still never reach A.
func TestTrunkNumbersScrubCallee(t *testing.T) {
	te := newTestEngine(t, withTrunkNumbers(number.Trunk{Style: number.National0, Prefix: "10193"}))
	te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{final: 0} }) // the test answers
	te.bind(numX, numA, numB, time.Hour)
	car := newCarrier(t)
	d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	sdp := string(tc.rtp.sdp(2)) + "a=X-callee:139-0000-0002\r\n"
	if err := tc.sess.Respond(200, "OK", []byte(sdp), sip.NewHeader("Content-Type", "application/sdp")); err != nil {
		t.Fatal(err)
	}
	res, code := answer(t, d, 5*time.Second)
	if code != 200 {
		t.Fatalf("A got %d, want 200", code)
	}
	if body := string(res.Body()); strings.Contains(strings.ReplaceAll(body, "-", ""), "13900000002") {
		t.Errorf("A's answer SDP carries B's number:\n%s", body)
	}
	hangUp(t, te, d)
}
