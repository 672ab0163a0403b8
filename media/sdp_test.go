package media

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/sdp/*.golden from the current output")

// goldenRelayIP is a documentation address no input uses, so a leak of any
// input address is visible in the output.
var goldenRelayIP = netip.MustParseAddr("203.0.113.7")

const goldenSessID, goldenVersion = 4242, 1

// goldenPorts gives m= section i the relay port 40000+2i, 0 for a rejected one.
func goldenPorts(d *sessionDesc) []int {
	ports := make([]int, len(d.media))
	for i, m := range d.media {
		if m.port != 0 {
			ports[i] = 40000 + 2*i
		}
	}
	return ports
}

// goldenRelay is the relay address a golden input is rendered for: the
// inputs named relay6-* face an IPv6 relay.
func goldenRelay(name string) netip.Addr {
	if strings.HasPrefix(filepath.Base(name), "relay6-") {
		return goldenRelayIP6
	}
	return goldenRelayIP
}

var goldenRelayIP6 = netip.MustParseAddr("2001:db8::99")

// TestRewriteGolden renders every input in testdata/sdp and compares it with
// its golden file: the SDP the other side gets, or, for a body the relay
// refuses, "error: " and the error. The inputs are offers (what B gets of
// A's) and answers (what A gets of B's) with hostile lines of every kind.
func TestRewriteGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/sdp/*.sdp")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".sdp"), func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			relay := goldenRelay(in)
			var got []byte
			var ports []int
			d, err := parseSDP(raw, relay)
			switch {
			case errors.Is(err, ErrUnsupportedMedia):
				got = []byte("error: " + err.Error() + "\n")
			case err != nil:
				t.Fatalf("parse: %v", err)
			default:
				ports = goldenPorts(d)
				got = d.render(rewriteParams{ip: relay, ports: ports, sessID: goldenSessID, version: goldenVersion})
			}

			golden := strings.TrimSuffix(in, ".sdp") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
			if d != nil {
				checkRewritten(t, raw, got, relay, ports)
			}
		})
	}
}

var (
	ipv4Literal = regexp.MustCompile(`\d{1,3}(\.\d{1,3}){3}`)
	ipv6Token   = regexp.MustCompile(`[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*`)
)

// inputAddrs finds address literals in text with regular expressions, apart
// from the scanner under test.
func inputAddrs(text string) []string {
	var out []string
	out = append(out, ipv4Literal.FindAllString(text, -1)...)
	for _, tok := range ipv6Token.FindAllString(text, -1) {
		tok = strings.Trim(tok, ":")
		if a, err := netip.ParseAddr(tok); err == nil && a.Is6() {
			out = append(out, tok)
		}
	}
	return out
}

// checkRewritten asserts the properties every rewrite must have, whatever the
// golden file says: CRLF lines; only allowlisted lines (session level v, o,
// s, c, t, b; media level m, c, b and the attributes of mediaAttrs); no
// address and no other token of the sender's (leakedTokens); and an SDP that
// parses back to the relay's address and ports.
func checkRewritten(t *testing.T, in, out []byte, relay netip.Addr, ports []int) {
	t.Helper()
	text := string(out)
	if !strings.HasSuffix(text, "\r\n") || strings.Count(text, "\n") != strings.Count(text, "\r\n") {
		t.Errorf("output lines must all end in CRLF:\n%q", text)
	}
	for _, a := range inputAddrs(string(in)) {
		if a != relay.String() && strings.Contains(text, a) {
			t.Errorf("output leaks input address %s:\n%s", a, text)
		}
	}
	for _, l := range notAllowlisted(out) {
		t.Errorf("output line %q is not on the allowlist", l)
	}
	for _, tok := range leakedTokens(in, out, relay) {
		t.Errorf("output carries the input's %q:\n%s", tok, text)
	}
	back, err := parseSDP(out, relay)
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, text)
	}
	if len(back.media) != len(ports) {
		t.Fatalf("output has %d m= lines, want %d", len(back.media), len(ports))
	}
	for i, m := range back.media {
		if m.port != ports[i] {
			t.Errorf("m= line %d: port %d, want %d", i+1, m.port, ports[i])
		}
		if m.port == 0 {
			continue
		}
		if m.conn != relay {
			t.Errorf("m= line %d: connection address %v, want %v", i+1, m.conn, relay)
		}
		if got, want := m.rtcpAddrPort(), netip.AddrPortFrom(relay, uint16(ports[i]+1)); got != want {
			t.Errorf("m= line %d: RTCP goes to %v, want %v", i+1, got, want)
		}
	}
}

// notAllowlisted returns the lines of a rendered SDP that the allowlist does
// not admit where they stand, judged by line type and attribute name alone.
func notAllowlisted(out []byte) []string {
	var bad []string
	inMedia := false
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\r\n"), "\r\n") {
		if len(l) < 2 || l[1] != '=' {
			bad = append(bad, l)
			continue
		}
		switch {
		case l[0] == 'm':
			inMedia = true
		case !inMedia && strings.IndexByte("vosctb", l[0]) >= 0:
		case inMedia && strings.IndexByte("cb", l[0]) >= 0:
		case inMedia && l[0] == 'a':
			name, _, _ := strings.Cut(l[2:], ":")
			if _, ok := mediaAttrs[name]; !ok {
				bad = append(bad, l)
			}
		default:
			bad = append(bad, l)
		}
	}
	return bad
}

func TestHasForeignAddr(t *testing.T) {
	relay := netip.MustParseAddr("203.0.113.7")
	tests := []struct {
		line string
		want bool
	}{
		{"rtpmap:0 PCMU/8000", false},
		{"fmtp:101 0-15", false},
		{"tool:libavformat 58.29.100", false},
		{"fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F", false},
		{"fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB", false},
		{"crypto:1 AES_CM_128_HMAC_SHA1_80 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32", false},
		{"x-relay:203.0.113.7", false},
		{"ssrc:1 cname:alice@192.0.2.1", true},
		{"x-nat:192.0.2.1:5004", true},
		{"x-nat:192.000.002.001", true},
		{"x-end 10.0.0.1.", true},
		{"ssrc:1 cname:u@[2001:db8::1]", true},
		{"x-v6 fe80::1%eth0", true},
		{"x-mapped ::ffff:192.0.2.1", true},
		{"x-ver 1.2.3.4.5", false},
		{"x-glued 192.0.2.1abc", true},
		{"x-glued abc2001:db8::1", true},
	}
	for _, tt := range tests {
		if got := hasForeignAddr(tt.line, relay); got != tt.want {
			t.Errorf("hasForeignAddr(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

// malformedSDP is shared with the Session tests, which check that nothing is
// allocated for any of these.
var malformedSDP = []struct {
	name, sdp, want string
}{
	{"empty", "", "empty body"},
	{"only newlines", "\r\n\n", "no lines"},
	{"not v first", "o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\n", "first line must be v=0"},
	{"v=1", "v=1\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n", "first line must be v=0"},
	{"second v", "v=0\r\nv=0\r\n", "v= may only be the first line"},
	{"no equals", "v=0\r\nhello\r\n", "not a <type>=<value> line"},
	{"upper-case type", "v=0\r\nO=- 1 1 IN IP4 192.0.2.1\r\n", "not a <type>=<value> line"},
	{"bare CR", "v=0\r\ns=a\rb\r\n", "bare CR"},
	{"NUL", "v=0\r\ns=\x00\r\n", "NUL byte"},
	{"missing o", "v=0\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n", "missing o="},
	{"missing s", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n", "missing s="},
	{"short o", "v=0\r\no=- 1 IN IP4 192.0.2.1\r\ns=-\r\n", "o= needs 6 fields"},
	{"o in media", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP 0\r\no=- 1 1 IN IP4 192.0.2.1\r\n", "o= must appear once"},
	{"m without fmt", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP\r\n", "m= needs"},
	{"m port text", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio five RTP/AVP 0\r\n", "m= port"},
	{"m port too big", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio 70000 RTP/AVP 0\r\n", "out of range"},
	{"m port negative", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio -1 RTP/AVP 0\r\n", "m= port"},
	{"m port count 0", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio 5004/0 RTP/AVP 0\r\n", "port count"},
	{"address in m", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP 192.0.2.9\r\n", "not an RTP payload type"},
	{"m format text", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP 0 alice\r\n", "not an RTP payload type"},
	{"m payload type 128", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP 128\r\n", "not an RTP payload type"},
	{"m non-RTP format text", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=image 5004 udptl alice.wang\r\n", "not one the relay knows"},
	{"no c at all", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n", "has no c="},
	{"c nettype", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=ATM NSAP 47.0005\r\n", "c= must be"},
	{"c short", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4\r\n", "c= must be"},
	{"c family mismatch", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 2001:db8::1\r\n", "does not match"},
	{"c bad literal", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.999\r\n", "neither an IP literal"},
	{"second session c", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\n", "second session-level c="},
	{"second media c", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 5004 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\n", "second c= in m= section 1"},
	{"rtcp outside media", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\na=rtcp:5005\r\n", "a=rtcp outside"},
	{"rtcp port 0", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP 0\r\na=rtcp:0\r\n", "a=rtcp port"},
	{"rtcp junk", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP 0\r\na=rtcp:5005 IN\r\n", "a=rtcp must be"},
	{"too many m", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n" + strings.Repeat("m=audio 5004 RTP/AVP 0\r\n", maxMediaLines+1), "more than 16 m= lines"},
	{"too big", "v=0\r\ns=" + strings.Repeat("x", maxSDPSize) + "\r\n", "exceeds"},
}

func TestParseSDPMalformed(t *testing.T) {
	for _, tt := range malformedSDP {
		t.Run(tt.name, func(t *testing.T) {
			d, err := parseSDP([]byte(tt.sdp), goldenRelayIP)
			if err == nil {
				t.Fatalf("parsed %q without error: %+v", tt.sdp, d.media)
			}
			if !errors.Is(err, ErrMalformedSDP) {
				t.Errorf("error %v does not wrap ErrMalformedSDP", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestParseSDPAddresses(t *testing.T) {
	tests := []struct {
		name      string
		sdp       string
		relay     netip.Addr // the golden IPv4 relay when not set
		rtp, rtcp []string   // per m= line; "" when unknown
	}{
		{
			name: "session c, rtcp port+1",
			sdp:  "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 5004 RTP/AVP 0\n",
			rtp:  []string{"192.0.2.1:5004"}, rtcp: []string{"192.0.2.1:5005"},
		},
		{
			name: "media c overrides, a=rtcp port and address",
			sdp: "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n" +
				"m=audio 5004 RTP/AVP 0\nc=IN IP4 192.0.2.2\na=rtcp:6000 IN IP4 192.0.2.3\n" +
				"m=audio 5006 RTP/AVP 0\na=rtcp:7000\n",
			rtp:  []string{"192.0.2.2:5004", "192.0.2.1:5006"},
			rtcp: []string{"192.0.2.3:6000", "192.0.2.1:7000"},
		},
		{
			name:  "IPv6 with zone and multicast ttl",
			sdp:   "v=0\no=- 1 1 IN IP6 2001:db8::1\ns=-\nc=IN IP6 2001:db8::1%eth0/127\nt=0 0\nm=audio 5004 RTP/AVP 0\n",
			relay: goldenRelayIP6,
			rtp:   []string{"[2001:db8::1]:5004"}, rtcp: []string{"[2001:db8::1]:5005"},
		},
		{
			name: "hold, host name, rejected",
			sdp: "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 5004 RTP/AVP 0\n" +
				"m=audio 5006 RTP/AVP 0\nc=IN IP4 media.example.com\nm=video 0 RTP/AVP 31\n",
			rtp: []string{"", "", ""}, rtcp: []string{"", "", ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			relay := tt.relay
			if !relay.IsValid() {
				relay = goldenRelayIP
			}
			d, err := parseSDP([]byte(tt.sdp), relay)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.media) != len(tt.rtp) {
				t.Fatalf("%d m= lines, want %d", len(d.media), len(tt.rtp))
			}
			for i, m := range d.media {
				if got := addrString(m.rtpAddr()); got != tt.rtp[i] {
					t.Errorf("m= %d: RTP %q, want %q", i+1, got, tt.rtp[i])
				}
				if got := addrString(m.rtcpAddrPort()); got != tt.rtcp[i] {
					t.Errorf("m= %d: RTCP %q, want %q", i+1, got, tt.rtcp[i])
				}
			}
		})
	}
}

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func TestRenderForIPv6Relay(t *testing.T) {
	raw, err := os.ReadFile("testdata/sdp/rfc5118-ipv6-in-sdp.sdp")
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw, "a=rtcp:6001 IN IP6 2001:db8::21\n"...)
	d, err := parseSDP(raw, goldenRelayIP6)
	if err != nil {
		t.Fatal(err)
	}
	ports := goldenPorts(d)
	out := d.render(rewriteParams{ip: goldenRelayIP6, ports: ports, sessID: 9, version: 3})
	for _, want := range []string{
		"o=xbridge 9 3 IN IP6 2001:db8::99\r\n",
		"c=IN IP6 2001:db8::99\r\n",
		"a=rtcp:40003 IN IP6 2001:db8::99\r\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	checkRewritten(t, raw, out, goldenRelayIP6, ports)
}

// TestAttributeGrammar pins, attribute by attribute, what an allowed
// attribute must look like to cross and what crosses of it: want is the
// line the other side gets ("" when dropped).
func TestAttributeGrammar(t *testing.T) {
	const avp = "m=audio 5004 RTP/AVP 0 8 96 101"
	const savp = "m=audio 5004 RTP/SAVP 0 101"
	const key = "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj" // 30 bytes
	tests := []struct {
		name, mline, attr, want string
	}{
		{"rtpmap", avp, "a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMU/8000"},
		{"rtpmap channels", avp, "a=rtpmap:96 opus/48000/2", "a=rtpmap:96 opus/48000/2"},
		{"rtpmap case kept", avp, "a=rtpmap:96 Telephone-Event/8000", "a=rtpmap:96 Telephone-Event/8000"},
		{"rtpmap pt not on m=", avp, "a=rtpmap:97 PCMU/8000", ""},
		{"rtpmap unknown codec", avp, "a=rtpmap:96 alice.wang/8000", ""},
		{"rtpmap rate text", avp, "a=rtpmap:0 PCMU/alice", ""},
		{"rtpmap rate too long", avp, "a=rtpmap:0 PCMU/13800000001", ""},
		{"rtpmap trailing text", avp, "a=rtpmap:0 PCMU/8000/1/alice", ""},
		{"rtpmap no rate", avp, "a=rtpmap:0 PCMU", ""},
		{"rtpmap trailing blanks", avp, "a=rtpmap:101 telephone-event/8000 \t", "a=rtpmap:101 telephone-event/8000"},
		{"fmtp events", avp, "a=fmtp:101 0-15,66,70-72", "a=fmtp:101 0-15,66,70-72"},
		{"fmtp event 256", avp, "a=fmtp:101 0-256", ""},
		{"fmtp params kept, spaces dropped", avp, "a=fmtp:96 minptime=10; useinbandfec=1", "a=fmtp:96 minptime=10;useinbandfec=1"},
		{"fmtp unknown param dropped", avp, "a=fmtp:96 useinbandfec=1;x-user=alice.wang;stereo=1", "a=fmtp:96 useinbandfec=1;stereo=1"},
		{"fmtp value with address", avp, "a=fmtp:96 maxplaybackrate=192.0.2.1", ""},
		{"fmtp value with uri", avp, "a=fmtp:96 mode=sip:alice@example.com", ""},
		{"fmtp yes/no", avp, "a=fmtp:8 annexb=no", "a=fmtp:8 annexb=no"},
		{"fmtp yes/no text", avp, "a=fmtp:8 annexb=alice", ""},
		{"fmtp mode-set", avp, "a=fmtp:96 mode-set=0,2,4,7;octet-align=1", "a=fmtp:96 mode-set=0,2,4,7;octet-align=1"},
		{"fmtp evs", avp, "a=fmtp:96 br=13.2-24.4;bw=nb-swb;cmr=-1", "a=fmtp:96 br=13.2-24.4;bw=nb-swb;cmr=-1"},
		{"fmtp evs bw word", avp, "a=fmtp:96 bw=alice", ""},
		{"fmtp profile-level-id", avp, "a=fmtp:96 profile-level-id=42E01F", "a=fmtp:96 profile-level-id=42E01F"},
		{"fmtp profile-level-id text", avp, "a=fmtp:96 profile-level-id=alicew", ""},
		{"fmtp base64 dropped", avp, "a=fmtp:96 sprop-parameter-sets=Z0IAH5WoFAFuQA==", ""},
		{"fmtp red", avp, "a=fmtp:96 0/0/0", "a=fmtp:96 0/0/0"},
		{"fmtp number too long", avp, "a=fmtp:96 maxaveragebitrate=138000000011", ""},
		{"fmtp pt not on m=", avp, "a=fmtp:18 annexb=no", ""},
		{"fmtp no params", avp, "a=fmtp:101", ""},
		{"ptime", avp, "a=ptime:20", "a=ptime:20"},
		{"ptime decimal", avp, "a=ptime:20.5", "a=ptime:20.5"},
		{"ptime text", avp, "a=ptime:alice", ""},
		{"maxptime", avp, "a=maxptime:150", "a=maxptime:150"},
		{"framerate", avp, "a=framerate:29.97", "a=framerate:29.97"},
		{"framerate text", avp, "a=framerate:fast", ""},
		{"flag", avp, "a=rtcp-mux", "a=rtcp-mux"},
		{"flag with value", avp, "a=rtcp-mux:alice", ""},
		{"direction", avp, "a=sendonly", "a=sendonly"},
		{"direction with value", avp, "a=inactive:alice", ""},
		{"rtcp-fb", avp, "a=rtcp-fb:96 nack pli", "a=rtcp-fb:96 nack pli"},
		{"rtcp-fb wildcard", avp, "a=rtcp-fb:* ccm fir", "a=rtcp-fb:* ccm fir"},
		{"rtcp-fb trr-int", avp, "a=rtcp-fb:96 trr-int 100", "a=rtcp-fb:96 trr-int 100"},
		{"rtcp-fb app text", avp, "a=rtcp-fb:96 nack app alice", ""},
		{"rtcp-fb pt not on m=", avp, "a=rtcp-fb:100 nack", ""},
		{"silenceSupp", avp, "a=silenceSupp:off - - - -", "a=silenceSupp:off - - - -"},
		{"silenceSupp words", avp, "a=silenceSupp:on 20 standard Fixed Noise 30", "a=silenceSupp:on 20 standard Fixed Noise 30"},
		{"silenceSupp text", avp, "a=silenceSupp:on 20 alice - -", ""},
		{"crypto", savp, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^20|1:32", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^20|1:32"},
		{"crypto session params", savp, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + " UNENCRYPTED_SRTCP KDR=1", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + " UNENCRYPTED_SRTCP KDR=1"},
		{"crypto on RTP/AVP", avp, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key, ""},
		{"crypto short key", savp, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:YWxpY2U=", ""},
		{"crypto unknown suite", savp, "a=crypto:1 ALICE inline:" + key, ""},
		{"crypto unknown session param", savp, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + " x-user=alice", ""},
		{"crypto second key", savp, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + " FEC_KEY=inline:" + key, ""},
		{"crypto lifetime text", savp, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|alice", ""},
		{"fingerprint", savp, "a=fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB", ""},
		{"setup", avp, "a=setup:actpass", ""},
		{"unknown attribute", avp, "a=X-orig-caller:sip:alice@pbx.acme-corp.example", ""},
		{"tool", avp, "a=tool:SoftPhone user=alice.wang", ""},
		{"ssrc", avp, "a=ssrc:1 cname:alice@pbx.acme-corp.example", ""},
		{"case of a name matters", avp, "a=RTPMAP:0 PCMU/8000", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An SRTP stream needs a key to be carried at all: the other
			// attributes are tried beside one that fits, left out of got.
			keyLine := "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key
			in := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" + tt.mline + "\r\n"
			if tt.mline == savp {
				in += keyLine + "\r\n"
			}
			in += tt.attr + "\r\n"
			d, err := parseSDP([]byte(in), goldenRelayIP)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			out := string(d.render(rewriteParams{ip: goldenRelayIP, ports: goldenPorts(d), sessID: 1, version: 1}))
			var got []string
			for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
				if strings.HasPrefix(l, "a=") && l != keyLine {
					got = append(got, l)
				}
			}
			if tt.attr == keyLine && strings.Contains(out, keyLine+"\r\n") {
				got = append(got, keyLine)
			}
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%q crossed as %q, want %q", tt.attr, got, want)
			}
		})
	}
}

// TestSessionLevelStaysMinimal: the session level sent holds v, o, s, c, t,
// b only; a session-level direction goes into each section without its own.
func TestSessionLevelStaysMinimal(t *testing.T) {
	in := "v=0\r\no=alice 1 1 IN IP4 192.0.2.1\r\ns=alice\r\nc=IN IP4 192.0.2.1\r\nb=AS:64\r\nt=5 6\r\nt=7 8\r\n" +
		"a=sendonly\r\na=recvonly\r\na=X-orig-caller:alice\r\na=rtpmap:0 PCMU/8000\r\n" +
		"m=audio 5004 RTP/AVP 0\r\nm=audio 5006 RTP/AVP 0\r\na=inactive\r\nm=audio 0 RTP/AVP 0\r\n"
	d, err := parseSDP([]byte(in), goldenRelayIP)
	if err != nil {
		t.Fatal(err)
	}
	got := string(d.render(rewriteParams{ip: goldenRelayIP, ports: goldenPorts(d), sessID: 1, version: 1}))
	want := "v=0\r\no=xbridge 1 1 IN IP4 203.0.113.7\r\ns=xbridge\r\nc=IN IP4 203.0.113.7\r\nb=AS:64\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0\r\na=sendonly\r\nm=audio 40002 RTP/AVP 0\r\na=inactive\r\nm=audio 0 RTP/AVP 0\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// No t= at all: the relay's own is written before the first m=.
	d, err = parseSDP([]byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP 0\r\n"), goldenRelayIP)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(d.render(rewriteParams{ip: goldenRelayIP, ports: goldenPorts(d)})); !strings.Contains(got, "t=0 0\r\nm=audio") {
		t.Errorf("no t= before the m= line:\n%s", got)
	}
}

// TestParseSDPUnsupported: media the relay cannot carry. A body with only
// such streams is ErrUnsupportedMedia (488); in a mixed body those streams
// are rejected (port 0) and the others carried.
func TestParseSDPUnsupported(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
	const head6 = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n"
	const audio = "m=audio 5004 RTP/AVP 0\r\n"
	tests := []struct {
		name  string
		sdp   string
		relay netip.Addr
		want  string // error text; "" when it parses
		ports []int  // port per m= line when it parses (0: rejected)
	}{
		{"DTLS-SRTP", head + "m=audio 5004 UDP/TLS/RTP/SAVPF 0\r\na=fingerprint:sha-256 AB:CD\r\n", goldenRelayIP, "DTLS-SRTP", nil},
		{"SRTP keyed by DTLS", head + "m=audio 5004 RTP/SAVP 0\r\na=fingerprint:sha-256 AB:CD\r\n", goldenRelayIP, "without an SDES key", nil},
		{"RTP over TCP", head + "m=audio 9 TCP/RTP/AVP 0\r\n", goldenRelayIP, "TCP", nil},
		{"T.38", head + "m=image 5004 udptl t38\r\n", goldenRelayIP, "UDPTL", nil},
		{"MSRP", head + "m=message 5004 TCP/MSRP *\r\n", goldenRelayIP, "MSRP", nil},
		{"data channel", head + "m=application 5004 UDP/DTLS/SCTP webrtc-datachannel\r\n", goldenRelayIP, "SCTP", nil},
		{"unknown transport", head + "m=audio 5004 RTP/XYZ 0\r\n", goldenRelayIP, "transport", nil},
		{"unknown media", head + "m=alice 5004 RTP/AVP 0\r\n", goldenRelayIP, "media", nil},
		{"IPv6 on IPv4 relay", head6 + audio, goldenRelayIP, "IPv6 media on an IPv4 relay", nil},
		{"IPv4 on IPv6 relay", head + audio, goldenRelayIP6, "IPv4 media on an IPv6 relay", nil},
		{"IPv6 a=rtcp on IPv4 relay", head + audio + "a=rtcp:5005 IN IP6 2001:db8::1\r\n", goldenRelayIP, "IPv6 media", nil},
		{"IPv6 host name on IPv4 relay", head + audio + "c=IN IP6 media.example.com\r\n", goldenRelayIP, "IPv6 media", nil},
		{"mixed: T.38 rejected", head + audio + "m=image 5006 udptl t38\r\n", goldenRelayIP, "", []int{40000, 0}},
		{"mixed: IPv6 stream rejected", head + audio + "m=video 5006 RTP/AVP 96\r\nc=IN IP6 2001:db8::1\r\n", goldenRelayIP, "", []int{40000, 0}},
		{"all rejected by the sender", head + "m=audio 0 RTP/AVP 0\r\nm=image 0 udptl t38\r\n", goldenRelayIP, "", []int{0, 0}},
		{"hold on IPv4", head + "m=audio 5004 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\n", goldenRelayIP, "", []int{40000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := parseSDP([]byte(tt.sdp), tt.relay)
			if tt.want != "" {
				if !errors.Is(err, ErrUnsupportedMedia) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want ErrUnsupportedMedia mentioning %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := goldenPorts(d); fmt.Sprint(got) != fmt.Sprint(tt.ports) {
				t.Errorf("ports %v, want %v", got, tt.ports)
			}
		})
	}
}

// TestLeakedTokensFinds checks the checker of the fuzz target and the golden
// test: it must find a user part, a host, an address and a long number
// copied from input to output, and not flag the allowlist's own words.
func TestLeakedTokensFinds(t *testing.T) {
	in := []byte("a=x:alice.wang@pbx.acme-corp.example 192.0.2.1 13800000001 tele PCMU 8000 0-15")
	out := []byte("a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n" +
		"a=x ALICE.WANG@PBX.ACME-CORP.EXAMPLE 192.0.2.1 13800000001\r\n")
	got := leakedTokens(in, out, goldenRelayIP)
	want := []string{"alice.wang@pbx.acme-corp.example", "192.0.2.1", "13800000001"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("leakedTokens = %q, want %q", got, want)
	}
}
