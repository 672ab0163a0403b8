package sippscenario

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/internal/testkit"
)

// The numbers of the SMS scenario: the sender starts 138000, which
// uas-sms.xml must find nowhere; the receiver starts 139000.
const (
	smsX        = "8617200000001"
	smsReceiver = "8613900000001"
	smsSender   = "8613800000001"
)

// relayedSMS is what a scripted engine sends the phone, and what it may
// get wrong.
type relayedSMS struct {
	ruri, from, pai string // user parts; no P-Asserted-Identity when pai is ""
	body            string
	extra           []sip.Header
	retryCSeq       uint32 // the second attempt's CSeq
}

func goodSMS() relayedSMS {
	return relayedSMS{ruri: "+" + smsReceiver, from: "+" + smsX, pai: "+" + smsX, body: "pickup code 8842", retryCSeq: 2}
}

// TestSMSPhoneChecks sends uas-sms.xml, run by the real SIPp as the
// receiver's phone, an SMS as the engine relays it (a first attempt the
// phone refuses with 480, then the retry): the right one must pass, and
// each way a relayed SMS can be wrong must fail it, on the check that
// says so.
func TestSMSPhoneChecks(t *testing.T) {
	sippPath(t)
	for _, tc := range []struct {
		name   string
		sms    func(*relayedSMS)
		stat   string
		errLog string
	}{
		{name: "X shown to the receiver", sms: func(*relayedSMS) {}},
		{name: "the sender's number in a header",
			sms:  func(m *relayedSMS) { m.extra = []sip.Header{sip.NewHeader("Subject", "from "+smsSender)} },
			stat: "FailedRegexpShouldntMatch(C)", errLog: "Regexp matched but should not"},
		{name: "another number in From", sms: func(m *relayedSMS) { m.from = "+8617200000009" },
			stat: "FailedRegexpDoesntMatch(C)", errLog: "looking in 'From 8617200000009 X " + smsX + "'"},
		{name: "no P-Asserted-Identity", sms: func(m *relayedSMS) { m.pai = "" },
			stat: "FailedRegexpHdrNotFound(C)", errLog: "header P-Asserted-Identity: not found"},
		{name: "someone else's phone", sms: func(m *relayedSMS) { m.ruri = "+8613900000002" },
			stat: "FailedRegexpDoesntMatch(C)", errLog: "looking in 'Request-URI 8613900000002 receiver " + smsReceiver + "'"},
		{name: "the text lost", sms: func(m *relayedSMS) { m.body = "hello" },
			stat: "FailedRegexpDoesntMatch(C)", errLog: "pickup code"},
		{name: "a retry that is not the next CSeq", sms: func(m *relayedSMS) { m.retryCSeq = 3 },
			stat: "FailedRegexpDoesntMatch(C)", errLog: "2 MESSAGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := goodSMS()
			tc.sms(&m)
			phoneRun{scenario: "uas-sms.xml", x: smsX, party: smsReceiver, stat: tc.stat, errLog: tc.errLog}.
				check(t, func(port int) { sendSMS(t, port, m) })
		})
	}
}

// sendSMS sends m to the phone on 127.0.0.1:port as the relay would: a
// first attempt, and the retry with the same Call-ID once it is refused.
func sendSMS(t *testing.T, port int, m relayedSMS) {
	t.Helper()
	ua := testkit.NewUDPUA(t, "xbridge")
	ua.ServeUDP()
	callID := sip.CallIDHeader(fmt.Sprintf("sms-%d@xbridge", time.Now().UnixNano()))
	tag := sip.GenerateTagN(16)
	for i, cseq := range []uint32{1, m.retryCSeq} {
		req := sip.NewRequest(sip.MESSAGE, sip.Uri{Scheme: "sip", User: m.ruri, Host: "127.0.0.1", Port: port})
		req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: m.from, Host: ua.Host}, Params: testkit.Params("tag", tag)})
		req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: m.ruri, Host: "127.0.0.1"}, Params: sip.NewParams()})
		cid := callID
		req.AppendHeader(&cid)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.MESSAGE})
		if m.pai != "" {
			req.AppendHeader(sip.NewHeader("P-Asserted-Identity", "<sip:"+m.pai+"@"+ua.Host+">"))
		}
		for _, h := range m.extra {
			req.AppendHeader(h)
		}
		req.AppendHeader(sip.NewHeader("Content-Type", "text/plain;charset=UTF-8"))
		req.SetBody([]byte(m.body))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := ua.Client.Do(ctx, req)
		cancel()
		if err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		want := 480
		if i == 1 {
			want = 200
		}
		if res.StatusCode != want {
			t.Fatalf("attempt %d answered %d, want %d", i+1, res.StatusCode, want)
		}
	}
}
