package sippscenario

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/internal/testkit"
)

// The numbers of these calls, as the API writes them: X the middle number,
// A the binding's party; the courier's number starts 138000, which
// uas-axe.xml must find nowhere.
const (
	phoneX       = "8617100000001"
	phoneA       = "8613900000001"
	phoneCourier = "8613800000001"
)

// bLeg is the INVITE the engine sends A's phone, and what it may get wrong.
type bLeg struct {
	ruri, from, pai string // user parts; no P-Asserted-Identity when pai is ""
	formats         []int
	extra           []sip.Header
	sdpUser         string // the SDP o= user name
	sdpSession      int
}

func goodBLeg() bLeg {
	return bLeg{ruri: "+" + phoneA, from: "+" + phoneX, pai: "+" + phoneX, formats: []int{0, 101}, sdpUser: "-", sdpSession: 1}
}

// TestPhoneChecks sends uas-axe.xml, run by the real SIPp as A's phone,
// the B leg of an AXE call from a scripted engine (sipgo): the right one
// must pass, and each way a B leg can show the wrong party must fail the
// call, on the check that says so.
func TestPhoneChecks(t *testing.T) {
	sippPath(t)
	for _, tc := range []struct {
		name   string
		leg    func(*bLeg)
		stat   string // the failure SIPp must count, "" for a call that passes
		errLog string // and what its error log must say
	}{
		{name: "X shown to A", leg: func(*bLeg) {}},
		{name: "X without a plus", leg: func(l *bLeg) { l.ruri, l.from, l.pai = phoneA, phoneX, phoneX }},
		{name: "the courier's digits inside a longer SDP session id",
			leg: func(l *bLeg) { l.sdpSession = 9 + 10*138000123456 }},
		{name: "PCMU alone", leg: func(l *bLeg) { l.formats = []int{0} }},

		{name: "the courier's number in From", leg: func(l *bLeg) { l.from = phoneCourier },
			stat: "FailedRegexpShouldntMatch(C)", errLog: "Regexp matched but should not"},
		{name: "the courier's national number in a header",
			leg:  func(l *bLeg) { l.extra = []sip.Header{sip.NewHeader("Subject", "call from 13800000001")} },
			stat: "FailedRegexpShouldntMatch(C)", errLog: "Regexp matched but should not"},
		{name: "the courier's number in the SDP", leg: func(l *bLeg) { l.sdpUser = phoneCourier },
			stat: "FailedRegexpShouldntMatch(C)", errLog: "Regexp matched but should not"},
		{name: "another X in From", leg: func(l *bLeg) { l.from = "+8617100000002" },
			stat: "FailedRegexpDoesntMatch(C)", errLog: "looking in 'From 8617100000002 X " + phoneX + "'"},
		{name: "another X in P-Asserted-Identity", leg: func(l *bLeg) { l.pai = "+8617100000002" },
			stat: "FailedRegexpDoesntMatch(C)", errLog: "looking in 'P-Asserted-Identity 8617100000002 X " + phoneX + "'"},
		{name: "X in From with a longer number", leg: func(l *bLeg) { l.from = "+" + phoneX + "1" },
			stat: "FailedRegexpDoesntMatch(C)", errLog: "looking in 'From " + phoneX + "1 X " + phoneX + "'"},
		{name: "no P-Asserted-Identity", leg: func(l *bLeg) { l.pai = "" },
			stat: "FailedRegexpHdrNotFound(C)", errLog: "header P-Asserted-Identity: not found"},
		{name: "someone else called", leg: func(l *bLeg) { l.ruri = "+8613900000002" },
			stat: "FailedRegexpDoesntMatch(C)", errLog: "looking in 'Request-URI 8613900000002 A " + phoneA + "'"},
		{name: "PCMA offered too", leg: func(l *bLeg) { l.formats = []int{0, 8, 101} },
			stat: "FailedRegexpDoesntMatch(C)", errLog: "RTP/AVP 0 8 101"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			leg := goodBLeg()
			tc.leg(&leg)
			phoneRun{scenario: "uas-axe.xml", x: phoneX, party: phoneA, extra: []string{"-mp", strconv.Itoa(freePortPair(t))},
				stat: tc.stat, errLog: tc.errLog}.check(t, func(port int) { callPhone(t, port, leg) })
		})
	}
}

// callPhone places leg at A's phone on 127.0.0.1:port as the engine would:
// INVITE, then ACK for the 200, then BYE. The phone's scenario plays on
// after a failed check, so every call runs to its end.
func callPhone(t *testing.T, port int, leg bLeg) {
	t.Helper()
	ua := testkit.NewUDPUA(t, "xbridge")
	ua.ServeUDP()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: leg.ruri, Host: "127.0.0.1", Port: port})
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: leg.from, Host: ua.Host}, Params: testkit.Params("tag", sip.GenerateTagN(16))})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: leg.ruri, Host: "127.0.0.1"}, Params: sip.NewParams()})
	if leg.pai != "" {
		req.AppendHeader(sip.NewHeader("P-Asserted-Identity", "<sip:"+leg.pai+"@"+ua.Host+">"))
	}
	for _, h := range leg.extra {
		req.AppendHeader(h)
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(testkit.Offer{User: leg.sdpUser, Session: leg.sdpSession, Port: testkit.NewPeer(t).Port(), Formats: leg.formats}.SDP())
	sess, err := ua.Dialog.WriteInvite(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatalf("A's phone did not answer: %v", err)
	}
	if err := sess.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sess.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
}
