package sipedge

import "testing"

// TestIdentityClaims: From and the asserted identity are read apart, so
// routing can choose by the source's trust.
func TestIdentityClaims(t *testing.T) {
	tests := []struct {
		name           string
		headers        string
		from, asserted string
	}{
		{"from only", "From: <sip:+8613800000001@c.example>;tag=1\n", "+8613800000001", ""},
		{"pai", "From: <sip:anonymous@anonymous.invalid>;tag=1\nP-Asserted-Identity: <sip:+8613800000001@c.example;user=phone>\n", "anonymous", "+8613800000001"},
		{"pai lower case, tel", "From: <sip:+8613900000002@c.example>;tag=1\np-asserted-identity: <tel:+8613800000001>\n", "+8613900000002", "tel:+8613800000001"},
		{"first of two pai", "From: <sip:1@c>;tag=1\nP-Asserted-Identity: \"A, B\" <sip:+8613800000001@c>, <tel:+8613800000003>\n", "1", "+8613800000001"},
		{"rpid calling", "From: <sip:1@c>;tag=1\nRemote-Party-ID: \"A\" <sip:+8613800000001@c>;party=calling;screen=yes;privacy=off\n", "1", "+8613800000001"},
		{"rpid without party", "From: <sip:1@c>;tag=1\nRemote-Party-ID: <sip:+8613800000001@c>\n", "1", "+8613800000001"},
		{"rpid called is not the caller", "From: <sip:1@c>;tag=1\nRemote-Party-ID: <sip:+8617000000001@c>;party=called\n", "1", ""},
		{"rpid called then calling", "From: <sip:1@c>;tag=1\nRemote-Party-ID: <sip:+8617000000001@c>;party=called\nremote-party-id: <sip:+8613800000001@c>;party=Calling\n", "1", "+8613800000001"},
		{"pai wins over rpid", "From: <sip:1@c>;tag=1\nRemote-Party-ID: <sip:+8613900000002@c>;party=calling\nP-Asserted-Identity: <sip:+8613800000001@c>\n", "1", "+8613800000001"},
		{"unparseable pai falls back to rpid", "From: <sip:1@c>;tag=1\nP-Asserted-Identity: <<>\nRemote-Party-ID: <sip:+8613800000001@c>\n", "1", "+8613800000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := parseRequest(t, "INVITE sip:+8617000000001@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\n"+
				tt.headers+"To: <sip:+8617000000001@127.0.0.1>\nCall-ID: c\nCSeq: 1 INVITE\nContent-Length: 0\n\n")
			if got := CallerFrom(req); got != tt.from {
				t.Errorf("CallerFrom = %q, want %q", got, tt.from)
			}
			if got := AssertedCaller(req); got != tt.asserted {
				t.Errorf("AssertedCaller = %q, want %q", got, tt.asserted)
			}
		})
	}
}
