package sipedge

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/number"
)

// The numbers of the cases: the middle number X, buyer A and courier B.
const (
	numX = "8617000000001"
	numA = "8613800000001"
	numB = "8613900000002"
)

// Golden files under testdata/policy pin what the header policy produces;
// regenerate them with go test ./sipedge -run Policy -update and read the diff.
var updateGolden = flag.Bool("update", false, "rewrite testdata/policy/*.golden from the current output")

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "policy", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// parseRequest parses a request written with LF line ends.
func parseRequest(t *testing.T, text string) *sip.Request {
	t.Helper()
	text = strings.ReplaceAll(strings.TrimLeft(text, "\n"), "\n", "\r\n")
	msg, err := sip.ParseMessage([]byte(text))
	if err != nil {
		t.Fatalf("parse request: %v\n%s", err, text)
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		t.Fatalf("not a request:\n%s", text)
	}
	return req
}

// policyEdge is an edge with addresses and no sockets: enough for the
// functions that build messages.
func policyEdge(t *testing.T, listen, trunk, transport string) *Edge {
	t.Helper()
	e := &Edge{}
	var err error
	if e.host, e.port, err = splitHostPort(listen); err != nil {
		t.Fatal(err)
	}
	if e.trunkHost, e.trunkPort, err = splitHostPort(trunk); err != nil {
		t.Fatal(err)
	}
	e.trunkTP = transport
	e.numbers = number.DefaultTrunk()
	return e
}

// randomParts are the values BLegInvite makes up per call.
var randomParts = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^(From: .*;tag=)[0-9A-Za-z]+`), "${1}FROMTAG"},
	{regexp.MustCompile(`(?m)^(Call-ID: )[0-9a-f]{32}\r$`), "${1}CALLID\r"},
}

func normaliseRandom(msg string) string {
	for _, r := range randomParts {
		msg = r.re.ReplaceAllString(msg, r.with)
	}
	return msg
}

// bLegHeaders is every header the B-leg INVITE may carry. Anything else on
// it came from somewhere the policy did not intend.
var bLegHeaders = map[string]bool{
	"from": true, "to": true, "call-id": true, "cseq": true, "max-forwards": true,
	"contact": true, "p-asserted-identity": true, "allow": true, "user-agent": true,
	"content-type": true, "content-length": true,
}

func TestPolicyBLegInvite(t *testing.T) {
	offer := "v=0\r\no=xbridge 42 1 IN IP4 127.0.0.1\r\ns=xbridge\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
	cases := []struct {
		name                    string
		listen, trunk, tp       string
		x, callee, sdp          string
		maxForwards             int
		wantTransport           string
		wantContactHasTransport bool
	}{
		{"udp-offer", "127.0.0.1:5060", "127.0.0.1:5070", "UDP", numX, numB, offer, 69, "UDP", false},
		{"tcp-offer", "127.0.0.1:5060", "127.0.0.1:5070", "TCP", numX, numA, offer, 69, "TCP", true},
		{"udp-late-offer", "127.0.0.1:5060", "127.0.0.1:5070", "UDP", numX, numB, "", 5, "UDP", false},
		{"ipv6", "[::1]:5060", "[2001:db8::5]:5070", "UDP", numX, numB, "", 70, "UDP", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := policyEdge(t, tc.listen, tc.trunk, tc.tp)
			req := e.BLegInvite(tc.x, tc.callee, []byte(tc.sdp), tc.maxForwards)
			raw := req.String()

			for _, h := range req.Headers() {
				if !bLegHeaders[strings.ToLower(h.Name())] {
					t.Errorf("B-leg INVITE carries %s, which the policy does not allow", h.Name())
				}
			}
			if got := req.From().Address.User; got != "+"+tc.x {
				t.Errorf("From user %q, want X", got)
			}
			if req.From().DisplayName != "" {
				t.Errorf("From has a display name %q", req.From().DisplayName)
			}
			if req.Transport() != tc.wantTransport {
				t.Errorf("transport %q, want %q", req.Transport(), tc.wantTransport)
			}
			if got := req.Contact().Address.UriParams.Has("transport"); got != tc.wantContactHasTransport {
				t.Errorf("Contact %s: transport parameter present %v, want %v", req.Contact().Value(), got, tc.wantContactHasTransport)
			}
			// Parsed back, PAI names exactly what From names.
			pai, from := req.GetHeader("P-Asserted-Identity").Value(), req.From().Value()
			var paiURI, fromURI sip.Uri
			_, perr := sip.ParseAddressValue(pai, &paiURI, nil)
			_, ferr := sip.ParseAddressValue(from, &fromURI, nil)
			if perr != nil || ferr != nil || paiURI.User != "+"+tc.x || paiURI.Host != fromURI.Host || paiURI.Port != fromURI.Port {
				t.Errorf("P-Asserted-Identity %q does not parse to X at From's host %q (%v, %v)", pai, from, perr, ferr)
			}
			if req.Contact().Address.User != "" {
				t.Errorf("Contact names a user: %s", req.Contact().Value())
			}
			other := e.BLegInvite(tc.x, tc.callee, []byte(tc.sdp), tc.maxForwards)
			if CallID(other) == CallID(req) || other.From().Value() == req.From().Value() {
				t.Error("two B legs share a Call-ID or From tag")
			}
			checkGolden(t, "b-leg-invite-"+tc.name, []byte(normaliseRandom(raw)))
		})
	}
}

// TestPolicyBLegNumbers pins the four numbers of the B-leg INVITE for each
// trunk number format; TestTrunkNumberFormats checks them on the wire.
func TestPolicyBLegNumbers(t *testing.T) {
	const uk = "447911123456"
	cases := []struct {
		name   string
		trunk  number.Trunk
		callee string
	}{
		{"e164", number.Trunk{Style: number.E164}, numB},
		{"e164-user-phone", number.Trunk{Style: number.E164, UserPhone: true}, numB},
		{"national", number.Trunk{Style: number.National}, numB},
		{"national0-prefix", number.Trunk{Style: number.National0, Prefix: "10193"}, numB},
		{"national-foreign", number.Trunk{Style: number.National}, uk},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := policyEdge(t, "127.0.0.1:5060", "127.0.0.1:5070", "UDP")
			e.numbers = tc.trunk
			req := e.BLegInvite(numX, tc.callee, nil, 70)
			checkGolden(t, "b-leg-numbers-"+tc.name, []byte(normaliseRandom(req.String())))
		})
	}
}

func TestPolicyCallerIdentityAndDialledNumber(t *testing.T) {
	cases := []struct {
		name    string
		request string
	}{
		{"sip from, no pai", `
INVITE sip:+8617000000001@127.0.0.1:5060;user=phone SIP/2.0
From: <sip:+8613800000001@carrier.example;user=phone>;tag=1
To: <sip:+8617000000001@127.0.0.1>
`},
		{"display name and national from", `
INVITE sip:8617000000001@127.0.0.1 SIP/2.0
From: "Zhang San 13900000002" <sip:13800000001@carrier.example>;tag=1
To: <sip:8617000000001@127.0.0.1>
`},
		{"pai overrides anonymous from", `
INVITE sip:+8617000000001@127.0.0.1 SIP/2.0
From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=1
To: <sip:+8617000000001@127.0.0.1>
P-Asserted-Identity: <sip:+8613800000001@carrier.example;user=phone>
`},
		{"pai tel uri", `
INVITE sip:+8617000000001@127.0.0.1 SIP/2.0
From: <sip:anonymous@anonymous.invalid>;tag=1
To: <sip:+8617000000001@127.0.0.1>
P-Asserted-Identity: <tel:+8613800000001>
`},
		{"pai display name with comma", `
INVITE sip:+8617000000001@127.0.0.1 SIP/2.0
From: <sip:anonymous@anonymous.invalid>;tag=1
To: <sip:+8617000000001@127.0.0.1>
P-Asserted-Identity: "Zhang, San" <sip:+8613800000001@carrier.example>
`},
		{"pai list sip then tel", `
INVITE sip:+8617000000001@127.0.0.1 SIP/2.0
From: <sip:anonymous@anonymous.invalid>;tag=1
To: <sip:+8617000000001@127.0.0.1>
P-Asserted-Identity: <sip:+8613800000001@carrier.example;user=phone>, <tel:+8613800000001>
`},
		{"two pai headers", `
INVITE sip:+8617000000001@127.0.0.1 SIP/2.0
From: <sip:anonymous@anonymous.invalid>;tag=1
To: <sip:+8617000000001@127.0.0.1>
P-Asserted-Identity: <tel:008613800000001>
P-Asserted-Identity: <sip:+8613900000002@carrier.example>
`},
		{"lower-case pai", `
INVITE sip:+8617000000001@127.0.0.1 SIP/2.0
From: <sip:anonymous@anonymous.invalid>;tag=1
To: <sip:+8617000000001@127.0.0.1>
p-asserted-identity: <sip:+8613800000001@carrier.example>
`},
		{"pai addr-spec without brackets", `
INVITE sip:+8617000000001@127.0.0.1 SIP/2.0
From: <sip:anonymous@anonymous.invalid>;tag=1
To: <sip:+8617000000001@127.0.0.1>
P-Asserted-Identity: sip:+8613800000001@carrier.example
`},
		{"unparseable pai falls back to from", `
INVITE sip:+8617000000001@127.0.0.1 SIP/2.0
From: <sip:+8613800000001@carrier.example>;tag=1
To: <sip:+8617000000001@127.0.0.1>
P-Asserted-Identity: <<<
`},
		{"compact from", `
INVITE sip:+8617000000001@127.0.0.1 SIP/2.0
f: <sip:008613800000001@carrier.example>;tag=1
t: <sip:+8617000000001@127.0.0.1>
`},
		{"tel request-uri", `
INVITE tel:+8617000000001 SIP/2.0
From: <tel:+8613800000001>;tag=1
To: <tel:+8617000000001>
`},
		{"tel with phone-context", `
INVITE tel:17000000001;phone-context=+86 SIP/2.0
From: <tel:13800000001;phone-context=+86>;tag=1
To: <tel:17000000001;phone-context=+86>
`},
		{"request-uri without user uses to", `
INVITE sip:127.0.0.1:5060 SIP/2.0
From: <sip:+8613800000001@carrier.example>;tag=1
To: <sip:+8617000000001@127.0.0.1>
`},
		{"extension in user part", `
INVITE sip:+8617000000001;ext=1234@127.0.0.1;user=phone SIP/2.0
From: <sip:+8613800000001;npdi;rn=+8613800000000@carrier.example;user=phone>;tag=1
To: <sip:+8617000000001@127.0.0.1>
`},
	}
	var golden strings.Builder
	for _, tc := range cases {
		req := parseRequest(t, tc.request+"Call-ID: c\nCSeq: 1 INVITE\nContent-Length: 0\n\n")
		caller, dialled := CallerIdentity(req), DialledNumber(req)
		fmt.Fprintf(&golden, "%-40s caller=%-34q dialled=%q\n", tc.name, caller, dialled)
		if caller == "" || dialled == "" {
			t.Errorf("%s: caller %q dialled %q: nothing extracted", tc.name, caller, dialled)
		}
	}
	checkGolden(t, "identity", []byte(golden.String()))
}

func TestPolicyRelayedStatus(t *testing.T) {
	for code := 300; code < 700; code++ {
		got, reason := RelayedStatus(code)
		switch {
		case code < 400 && got != 480:
			t.Errorf("%d: redirect relayed as %d, want 480 (A must get no redirect target)", code, got)
		case got < 400 || got >= 700:
			t.Errorf("%d: relayed as %d, not a failure", code, got)
		case reason != ReasonPhrase(got):
			t.Errorf("%d: reason %q is not our own phrase for %d", code, reason, got)
		}
	}
	var golden strings.Builder
	for _, code := range []int{
		0, 99, 100, 180, 200, 299,
		300, 301, 302, 305, 380, 399,
		400, 401, 402, 403, 404, 407, 408, 410, 415, 420, 480, 481, 483, 484, 485, 486, 487, 488, 491, 494, 499,
		500, 501, 502, 503, 504, 580, 599,
		600, 603, 604, 606, 699, 700, 999,
	} {
		got, reason := RelayedStatus(code)
		fmt.Fprintf(&golden, "%d -> %d %s\n", code, got, reason)
	}
	checkGolden(t, "relayed-status", []byte(golden.String()))
}

func TestPolicyCrossingBody(t *testing.T) {
	cases := []struct {
		name, contentType, body string
		wantType, wantBody      string
		wantOK                  bool
	}{
		{"no body", "", "", "", "", true},
		{"sdp keeps body for the relay", "application/sdp", "v=0\r\n", "application/sdp", "v=0\r\n", true},
		{"content-type parameters dropped", "Application/SDP; charset=x; x-from=+8613800000001", "v=0\r\n", "application/sdp", "v=0\r\n", true},
		{"dtmf-relay rebuilt", "application/dtmf-relay;x=1", "Signal=5\r\nDuration=160\r\nX-Caller=+8613800000001\r\n", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", true},
		{"dtmf-relay lf and spaces", "application/dtmf-relay", "signal = #\nduration= 250\n", "application/dtmf-relay", "Signal=#\r\nDuration=250\r\n", true},
		{"dtmf-relay flash", "application/dtmf-relay", "Signal=16\r\n", "application/dtmf-relay", "Signal=16\r\n", true},
		{"dtmf-relay number as signal", "application/dtmf-relay", "Signal=13800000001\r\nDuration=x\r\n", "", "", false},
		{"dtmf", "application/dtmf", "7\r\n", "application/dtmf", "7", true},
		{"dtmf with text", "application/dtmf", "call 13800000001", "", "", false},
		{"multipart isup", "multipart/mixed;boundary=b", "--b\r\n\r\n13800000001\r\n--b--\r\n", "", "", false},
		{"body without type", "", "Signal=5\r\n", "", "", false},
		// Error and information bodies a party attaches name it; none crosses.
		{"html error page", "text/html", "<h1>bob.chen 139-0000-0002 is busy</h1>", "", "", false},
		{"plain text", "text/plain", "alice.wang@buyer-a.example is away", "", "", false},
		{"json", "application/json", `{"callee":"+8613900000002"}`, "", "", false},
		{"sipfrag", "message/sipfrag", "SIP/2.0 486 Busy\r\nContact: <sip:bob.chen@courier-b.example>\r\n", "", "", false},
		{"isup", "application/isup;version=itu-t92+", "\x01\x13\x80", "", "", false},
		{"sdp spelled as a parameter", "text/plain;type=application/sdp", "v=0\r\n", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ct, body, ok := CrossingBody(tc.contentType, []byte(tc.body))
			if ct != tc.wantType || string(body) != tc.wantBody || ok != tc.wantOK {
				t.Errorf("CrossingBody(%q, %q) = %q, %q, %v; want %q, %q, %v", tc.contentType, tc.body, ct, body, ok, tc.wantType, tc.wantBody, tc.wantOK)
			}
		})
	}
}

func TestPolicyScrubNumbers(t *testing.T) {
	const relayed = "v=0\r\no=xbridge 13800000001 1 IN IP4 127.0.0.1\r\ns=xbridge\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	cases := []struct {
		name, line string
		dropped    bool
	}{
		{"cname national", "a=ssrc:1 cname:13800000001", true},
		{"cname e164", "a=ssrc:1 cname:+8613800000001@host", true},
		{"grouped with spaces", "a=label:138 0000 0001", true},
		{"grouped with dashes", "a=x-caller:(+86) 138-0000-0001", true},
		{"dotted", "a=x-caller:138.0000.0001", true},
		{"tel uri", "a=x-caller:tel:008613800000001", true},
		{"callee", "a=x-callee:13900000002", true},
		{"other digits kept", "a=ssrc:2989172741 cname:u1", false},
		{"fingerprint kept", "a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB", false},
		{"x number kept", "a=x-shown:+8617000000001", false},
		{"direction kept", "a=sendonly", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := relayed + tc.line + "\r\n"
			got := string(ScrubNumbers([]byte(in), numA, numB))
			want := in
			if tc.dropped {
				want = relayed
			}
			if got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
	if got := string(ScrubNumbers([]byte(relayed + "a=ssrc:1 cname:13800000001\r\n"))); got != relayed+"a=ssrc:1 cname:13800000001\r\n" {
		t.Errorf("with no numbers known, scrubNumbers changed the SDP:\n%s", got)
	}
}

// BenchmarkScrubNumbers is the cost the number scrub adds to every SDP that
// crosses a call (a typical relayed offer, nothing to drop).
func BenchmarkScrubNumbers(b *testing.B) {
	sdp := []byte("v=0\r\no=xbridge 4242 1 IN IP4 127.0.0.1\r\ns=xbridge\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 30000 RTP/AVP 0 8 101\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=rtcp:30001 IN IP4 127.0.0.1\r\na=sendrecv\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if out := ScrubNumbers(sdp, numA, numB); len(out) != len(sdp) {
			b.Fatal("scrubbed a clean SDP")
		}
	}
}

func BenchmarkBLegInvite(b *testing.B) {
	e := &Edge{host: "127.0.0.1", port: 5060, trunkHost: "127.0.0.1", trunkPort: 5070, trunkTP: "UDP"}
	sdp := []byte("v=0\r\no=xbridge 4242 1 IN IP4 127.0.0.1\r\ns=xbridge\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n")
	b.ReportAllocs()
	for b.Loop() {
		_ = e.BLegInvite(numX, numB, sdp, 69).String()
	}
}

func TestTrunkNumbersRefused(t *testing.T) {
	_, err := trunkNumbers(&number.Trunk{Style: number.PlusE164, Prefix: "10193"})
	if err == nil || !strings.Contains(err.Error(), "tech prefix") {
		t.Fatalf("trunkNumbers(+e164 with prefix) = %v, want a tech prefix error", err)
	}
}
