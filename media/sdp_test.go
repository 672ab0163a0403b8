package media

import (
	"bytes"
	"errors"
	"flag"
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
			d, err := parseSDP(raw)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			ports := goldenPorts(d)
			got := d.render(rewriteParams{ip: goldenRelayIP, ports: ports, sessID: goldenSessID, version: goldenVersion})

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
			checkRewritten(t, raw, got, goldenRelayIP, ports)
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
// golden file says: CRLF lines, no address or identity of the sender, and an
// SDP that parses back to the relay's address and ports.
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
	for _, l := range strings.Split(string(in), "\n") {
		l = strings.TrimSuffix(l, "\r")
		switch {
		case strings.HasPrefix(l, "o="):
			if user, _, _ := strings.Cut(l[2:], " "); user != "-" && strings.Contains(text, user) {
				t.Errorf("output leaks o= username %q", user)
			}
		case strings.HasPrefix(l, "s="), strings.HasPrefix(l, "i="), strings.HasPrefix(l, "u="),
			strings.HasPrefix(l, "e="), strings.HasPrefix(l, "p="), strings.HasPrefix(l, "k="):
			if v := strings.TrimSpace(l[2:]); len(v) > 1 && v != "xbridge" && strings.Contains(text, v) {
				t.Errorf("output leaks %q", l)
			}
		case strings.HasPrefix(l, "a=candidate"), strings.HasPrefix(l, "a=ice-"),
			strings.HasPrefix(l, "a=ssrc"), strings.HasPrefix(l, "a=msid:"), strings.HasPrefix(l, "a=label"):
			if strings.Contains(text, l) {
				t.Errorf("output keeps ICE or identity line %q", l)
			}
		}
	}
	back, err := parseSDP(out)
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

func TestRewriteKeepsOtherLinesByteForByte(t *testing.T) {
	raw, err := os.ReadFile("testdata/sdp/webrtc-ice.sdp")
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseSDP(raw)
	if err != nil {
		t.Fatal(err)
	}
	out := string(d.render(rewriteParams{ip: goldenRelayIP, ports: goldenPorts(d), sessID: 1, version: 1}))
	for _, keep := range []string{
		"a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F\r\n",
		"a=fmtp:111 minptime=10;useinbandfec=1\r\n",
		"a=rtcp-mux\r\n",
		"a=msid-semantic: WMS stream\r\n",
		"m=audio 40000 UDP/TLS/RTP/SAVPF 111 0\r\n",
	} {
		if !strings.Contains(out, keep) {
			t.Errorf("output lost %q:\n%s", keep, out)
		}
	}
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
	{"address in m", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nm=audio 5004 RTP/AVP 192.0.2.9\r\n", "address literal in m= line"},
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
			d, err := parseSDP([]byte(tt.sdp))
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
		rtp, rtcp []string // per m= line; "" when unknown
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
			name: "IPv6 with zone and multicast ttl",
			sdp:  "v=0\no=- 1 1 IN IP6 2001:db8::1\ns=-\nc=IN IP6 2001:db8::1%eth0/127\nt=0 0\nm=audio 5004 RTP/AVP 0\n",
			rtp:  []string{"[2001:db8::1]:5004"}, rtcp: []string{"[2001:db8::1]:5005"},
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
			d, err := parseSDP([]byte(tt.sdp))
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
	relay := netip.MustParseAddr("2001:db8::99")
	raw, err := os.ReadFile("testdata/sdp/lf-rtcp-attr.sdp")
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseSDP(raw)
	if err != nil {
		t.Fatal(err)
	}
	ports := goldenPorts(d)
	out := d.render(rewriteParams{ip: relay, ports: ports, sessID: 9, version: 3})
	for _, want := range []string{
		"o=xbridge 9 3 IN IP6 2001:db8::99\r\n",
		"c=IN IP6 2001:db8::99\r\n",
		"a=rtcp:40001 IN IP6 2001:db8::99\r\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	checkRewritten(t, raw, out, relay, ports)
}
