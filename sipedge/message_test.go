package sipedge

import (
	"strings"
	"testing"
)

// messageHeaders is every header a relayed MESSAGE may carry.
var messageHeaders = map[string]bool{
	"from": true, "to": true, "call-id": true, "cseq": true, "max-forwards": true,
	"p-asserted-identity": true, "user-agent": true, "content-type": true, "content-length": true,
}

// TestPolicyOutMessage pins the relayed MESSAGE: built from X, the
// receiver and the body alone, with the sender's Content-Type untouched.
func TestPolicyOutMessage(t *testing.T) {
	for _, tc := range []struct {
		name, tp, ct, body string
	}{
		{"udp-text", "UDP", "text/plain;charset=UTF-8", "1234 取件码 8842"},
		{"tcp-no-type", "TCP", "", "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := policyEdge(t, "127.0.0.1:5060", "127.0.0.1:5070", tc.tp)
			req := e.OutMessage("0123456789abcdef0123456789abcdef", 1, numX, numB, tc.ct, []byte(tc.body))
			if req.Transport() != tc.tp {
				t.Errorf("transport %s, want %s", req.Transport(), tc.tp)
			}
			for _, h := range req.Headers() {
				if !messageHeaders[strings.ToLower(h.Name())] {
					t.Errorf("header %s is not on the MESSAGE allowlist", h.Name())
				}
			}
			if string(req.Body()) != tc.body {
				t.Errorf("body %q, want %q", req.Body(), tc.body)
			}
			checkGolden(t, "message-"+tc.name, []byte(normaliseRandom(req.String())))
		})
	}
}
