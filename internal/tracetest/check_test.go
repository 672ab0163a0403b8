package tracetest

import (
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

var sample = "INVITE sip:+8613900000002@127.0.0.1:5070;user=phone SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport\r\n" +
	"Max-Forwards: 69\r\n" +
	"f: \"X\" <sip:+8617000000001@127.0.0.1;user=phone>;tag=ftag\r\n" +
	"To: <sip:+8613900000002@127.0.0.1;user=phone>\r\n" +
	"i: call-1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:127.0.0.1:5060>\r\n" +
	"p-asserted-identity: <sip:+8617000000001@127.0.0.1;user=phone>\r\n" +
	"Reason: SIP;cause=480;text=\"binding expired; sorry\"\r\n" +
	"Reason: Q.850;cause=16\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: " + strconv.Itoa(len(sampleSDP)) + "\r\n\r\n" + sampleSDP

const sampleSDP = "v=0\r\no=xbridge 1 1 IN IP4 127.0.0.1\r\ns=xbridge\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\nc=IN IP4 127.0.0.3\r\n"

func sampleMessage(t *testing.T) *received {
	t.Helper()
	msg, err := sip.ParseMessage([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	return &received{raw: sample, msg: msg}
}

func TestEval(t *testing.T) {
	rc := sampleMessage(t)
	cases := []struct {
		subject subject
		want    string
		present bool
	}{
		{subject{kind: "ruri"}, "sip:+8613900000002@127.0.0.1:5070;user=phone", true},
		{subject{kind: "ruri", part: "user"}, "+8613900000002", true},
		{subject{kind: "ruri", part: "host"}, "127.0.0.1", true},
		{subject{kind: "ruri", part: "user", name: ""}, "+8613900000002", true},
		{subject{kind: "ruri", part: "transport"}, "", false},
		{subject{kind: "header", name: "From", part: "user"}, "+8617000000001", true},
		{subject{kind: "header", name: "from", part: "display"}, "X", true},
		{subject{kind: "header", name: "f", part: "tag"}, "ftag", true},
		{subject{kind: "header", name: "Call-ID"}, "call-1", true},
		{subject{kind: "header", name: "To", part: "tag"}, "", false},
		{subject{kind: "header", name: "P-Asserted-Identity", part: "user"}, "+8617000000001", true},
		{subject{kind: "header", name: "Via", part: "branch"}, "z9hG4bKabc", true},
		{subject{kind: "header", name: "Reason", part: "cause"}, "480, 16", true},
		{subject{kind: "header", name: "Reason", part: "text"}, "binding expired; sorry", true},
		{subject{kind: "header", name: "Remote-Party-ID"}, "", false},
		{subject{kind: "header", name: "CSeq"}, "1 INVITE", true},
		{subject{kind: "status"}, "", false},
		{subject{kind: "sdp", name: "c="}, "IN IP4 127.0.0.2\nIN IP4 127.0.0.3", true},
		{subject{kind: "sdp", name: "port"}, "30000", true},
		{subject{kind: "sdp", name: "addr"}, "127.0.0.3", true},
		{subject{kind: "sdp", name: "b="}, "", false},
	}
	for _, tc := range cases {
		got, ok := eval(tc.subject, rc)
		if got != tc.want || ok != tc.present {
			t.Errorf("eval(%+v) = %q, %v; want %q, %v", tc.subject, got, ok, tc.want, tc.present)
		}
	}
}

func TestEvalResponseAndSDPSessionAddr(t *testing.T) {
	raw := "SIP/2.0 183 Session Progress\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n" +
		"To: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 42\r\n\r\n" +
		"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 8\r\n"
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	rc := &received{raw: raw, msg: msg}
	for s, want := range map[subject]string{
		{kind: "status"}:              "183",
		{kind: "reason"}:              "Session Progress",
		{kind: "ruri"}:                "",
		{kind: "sdp", name: "addr"}:   "10.0.0.1",
		{kind: "sdp", name: "port"}:   "4000",
		{kind: "header", name: "to"}:  "<sip:b@h>;tag=2",
		{kind: "header", name: "Via"}: "SIP/2.0/UDP h;branch=z9hG4bK1",
	} {
		if got, _ := eval(s, rc); got != want {
			t.Errorf("eval(%+v) = %q, want %q", s, got, want)
		}
	}
	if !kindMatches(step{what: "183", to: "INVITE"}, rc) || kindMatches(step{what: "183", to: "BYE"}, rc) || kindMatches(step{what: "180"}, rc) {
		t.Error("kindMatches does not tell status and CSeq method apart")
	}
}

func TestCompare(t *testing.T) {
	cases := []struct {
		op, got string
		present bool
		want    string
		ok      bool
	}{
		{"==", "a", true, "a", true},
		{"==", "a", true, "b", false},
		{"==", "", false, "", true},
		{"!=", "a", true, "b", true},
		{"!=", "a", true, "a", false},
		{"contains", "abc", true, "b", true},
		{"contains", "abc", true, "d", false},
		{"contains", "", false, "", false},
		{"!contains", "abc", true, "d", true},
		{"!contains", "abc", true, "b", false},
		{"matches", "z9hG4bK123", true, `^z9hG4bK\d+$`, true},
		{"matches", "abc", true, `^\d+$`, false},
		{"matches", "abc", true, `(`, false},
		{"bogus", "a", true, "a", false},
	}
	for _, tc := range cases {
		if got := compare(tc.op, tc.got, tc.present, tc.want); got != tc.ok {
			t.Errorf("compare(%s, %q, %v, %q) = %v, want %v", tc.op, tc.got, tc.present, tc.want, got, tc.ok)
		}
	}
}

func TestAssemble(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"no body", "BYE sip:a SIP/2.0\nCall-ID: x", "BYE sip:a SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"},
		{"body", "INVITE sip:a SIP/2.0\nContent-Length: 999\n\nv=0\nm=audio 1 RTP/AVP 0",
			"INVITE sip:a SIP/2.0\r\nContent-Length: 26\r\n\r\nv=0\r\nm=audio 1 RTP/AVP 0\r\n"},
		{"compact length replaced", "SIP/2.0 200 OK\nl: 5", "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"},
	}
	for _, tc := range cases {
		if got := string(assemble(tc.in)); got != tc.want {
			t.Errorf("%s: assemble = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRawHeaders(t *testing.T) {
	raw := "SIP/2.0 200 OK\r\nVia: a\r\nv: b\r\nFrom: <sip:x>;\r\n tag=1\r\nTo: y\r\n\r\nVia: body"
	got := rawHeaders(raw, "via", "from")
	want := []string{"Via: a", "v: b", "From: <sip:x>; tag=1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("rawHeaders = %q, want %q", got, want)
	}
}
