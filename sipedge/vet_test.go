package sipedge

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestVetRequest(t *testing.T) {
	base := func(method, extra string) string {
		return method + " sip:8617000000001@127.0.0.1 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
			"From: <sip:8613800000001@c>;tag=1\r\n" +
			"To: <sip:8617000000001@127.0.0.1>\r\n" +
			"Call-ID: v1\r\n" +
			"CSeq: 1 " + method + "\r\n" +
			"Contact: <sip:127.0.0.1:5070>\r\n" +
			extra
	}
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	withBody := func(ct, body string) string {
		return "Content-Type: " + ct + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	for _, tc := range []struct {
		name   string
		msg    string
		code   int
		header string // a header the refusal must carry
	}{
		{"plain invite", base("INVITE", withBody("application/sdp", sdp)), 0, ""},
		{"invite no body", base("INVITE", "Content-Length: 0\r\n\r\n"), 0, ""},
		{"multipart offer left to the handler", base("INVITE", withBody("multipart/mixed;boundary=x", "--x--\r\n")), 0, ""},
		{"options", base("OPTIONS", "Content-Length: 0\r\n\r\n"), 0, ""},
		{"tel uri", strings.Replace(base("OPTIONS", "Content-Length: 0\r\n\r\n"), "sip:8617000000001@127.0.0.1 SIP", "tel:+8617000000001 SIP", 1), 0, ""},
		{"ack with require is not refused", base("ACK", "Require: 100rel\r\nContent-Length: 0\r\n\r\n"), 0, ""},
		{"version", strings.Replace(base("OPTIONS", "Content-Length: 0\r\n\r\n"), "SIP/2.0\r\n", "SIP/3.0\r\n", 1), 505, ""},
		{"missing call-id", strings.Replace(base("OPTIONS", "Content-Length: 0\r\n\r\n"), "Call-ID: v1\r\n", "", 1), 400, ""},
		{"missing from", strings.Replace(base("OPTIONS", "Content-Length: 0\r\n\r\n"), "From: <sip:8613800000001@c>;tag=1\r\n", "", 1), 400, ""},
		{"two to", base("OPTIONS", "To: <sip:b@c>\r\nContent-Length: 0\r\n\r\n"), 400, ""},
		{"two max-forwards", base("OPTIONS", "Max-Forwards: 70\r\nMax-Forwards: 69\r\nContent-Length: 0\r\n\r\n"), 400, ""},
		{"max-forwards 256", base("OPTIONS", "Max-Forwards: 256\r\nContent-Length: 0\r\n\r\n"), 400, ""},
		{"max-forwards 0 is fine", base("OPTIONS", "Max-Forwards: 0\r\nContent-Length: 0\r\n\r\n"), 0, ""},
		{"two content-length", base("OPTIONS", "Content-Length: 0\r\nl: 0\r\n\r\n"), 400, ""},
		{"unknown method", base("FOO", "Content-Length: 0\r\n\r\n"), 501, "Allow"},
		{"cseq mismatch", strings.Replace(base("BYE", "Content-Length: 0\r\n\r\n"), "CSeq: 1 BYE", "CSeq: 1 INVITE", 1), 400, ""},
		{"scheme", strings.Replace(base("OPTIONS", "Content-Length: 0\r\n\r\n"), "sip:8617000000001@127.0.0.1 SIP", "http://x SIP", 1), 416, ""},
		{"require", base("INVITE", "Require: 100rel, timer\r\n"+withBody("application/sdp", sdp)), 420, "Unsupported"},
		{"unknown body", base("INVITE", withBody("application/isup", "x")), 415, "Accept"},
		{"body without type", base("INVITE", "Content-Length: 3\r\n\r\nabc"), 400, ""},
		{"accept without sdp", base("INVITE", "Accept: text/plain\r\n"+withBody("application/sdp", sdp)), 406, "Accept"},
		{"accept wildcard", base("INVITE", "Accept: text/plain, application/*\r\n"+withBody("application/sdp", sdp)), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := sip.ParseMessage([]byte(tc.msg))
			if err != nil {
				t.Fatalf("test message does not parse: %v", err)
			}
			v := vetRequest(msg.(*sip.Request))
			if v.code != tc.code {
				t.Fatalf("code %d (%s), want %d", v.code, v.reason, tc.code)
			}
			if tc.header != "" && !slices.ContainsFunc(v.headers, func(h sip.Header) bool { return h.Name() == tc.header && h.Value() != "" }) {
				t.Errorf("refusal lacks %s: %v", tc.header, v.headers)
			}
		})
	}
}

func BenchmarkVetRequest(b *testing.B) {
	msg, err := sip.ParseMessage(benchInvite())
	if err != nil {
		b.Fatal(err)
	}
	req := msg.(*sip.Request)
	b.ReportAllocs()
	for b.Loop() {
		if v := vetRequest(req); v.code != 0 {
			b.Fatal(v.reason)
		}
	}
}
