package sipedge

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// The header policy is the privacy invariant in code: the B leg is built
// from scratch, and nothing of the A leg crosses except what is listed here.
// Filtering by removal would leak whatever header a carrier invents next
// (and sipgo's RemoveHeader is case-sensitive).

// CallerIdentity is the number the call comes from as a trusted source
// states it: the network-asserted identity when present (carriers often
// withhold From), else From. Routing believes the first only from a trusted
// source (identity.go).
func CallerIdentity(req *sip.Request) string {
	if user := AssertedCaller(req); user != "" {
		return user
	}
	return CallerFrom(req)
}

// DialledNumber is the number the caller dialled: the Request-URI's user,
// falling back to To for trunks that put the number only there.
func DialledNumber(req *sip.Request) string {
	if user := uriUser(&req.Recipient); user != "" {
		return user
	}
	if to := req.To(); to != nil {
		return uriUser(&to.Address)
	}
	return ""
}

// uriUser returns the telephone-number part of a SIP or tel URI.
func uriUser(u *sip.Uri) string {
	if u.Scheme == "tel" {
		return "tel:" + u.Raw()
	}
	return u.User
}

// addressUser parses a name-addr / addr-spec header value (the first of a
// comma-separated list) and returns its URI's user part.
func addressUser(value string) string {
	if i := strings.IndexByte(value, ','); i > 0 && !strings.Contains(value[:i], "\"") {
		value = value[:i]
	}
	var u sip.Uri
	if _, err := sip.ParseAddressValue(strings.TrimSpace(value), &u, nil); err != nil {
		return ""
	}
	return uriUser(&u)
}

// AllowedMethods is what the engine answers in Allow.
const AllowedMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, MESSAGE"

// BLegInvite builds the B-leg INVITE from nothing but the routing decision:
// From and P-Asserted-Identity are X (no display name), To and the
// Request-URI are the callee at the trunk, all four numbers written as the
// trunk wants them (trunkURI), and the body is the SDP the relay rewrote.
// Nothing else of the A leg is copied.
func (e *Edge) BLegInvite(x, callee string, sdp []byte, maxForwards int) *sip.Request {
	req := sip.NewRequest(sip.INVITE, e.trunkURI(e.numbers.Callee(callee), e.trunkHost, e.trunkPort))
	shown := e.trunkURI(e.numbers.Shown(x), e.host, 0)
	req.AppendHeader(&sip.FromHeader{Address: shown, Params: params("tag", sip.GenerateTagN(16))})
	req.AppendHeader(&sip.ToHeader{
		Address: e.trunkURI(e.numbers.Callee(callee), e.trunkHost, 0),
		Params:  sip.NewParams(),
	})
	callID := sip.CallIDHeader(newCallID())
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	mf := sip.MaxForwardsHeader(uint32(maxForwards))
	req.AppendHeader(&mf)
	req.AppendHeader(e.Contact(e.trunkTP))
	// Rendered by sipgo so an IPv6 host gets its brackets.
	req.AppendHeader(sip.NewHeader("P-Asserted-Identity", "<"+shown.String()+">"))
	req.AppendHeader(sip.NewHeader("Allow", AllowedMethods))
	req.AppendHeader(sip.NewHeader("User-Agent", "xbridge"))
	if len(sdp) > 0 {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(sdp)
	req.SetTransport(e.trunkTP)
	return req
}

// Bodies of in-dialog requests cross only in types the engine understands:
// SDP (rewritten by the relay) and DTMF keypresses (rebuilt here). Anything
// else (multipart with ISUP, vendor XML) can carry the sender's number, and
// so can the parameters of any Content-Type, which never cross.
const AcceptedBodies = "application/sdp, application/dtmf-relay, application/dtmf"

// MediaType is the type/subtype of a Content-Type value, lower-cased,
// without parameters.
func MediaType(contentType string) string {
	t, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// CrossingBody returns the Content-Type and body an in-dialog request may
// carry to the other leg, or ok false when the body must not cross. SDP is
// returned as is for the caller to rewrite.
func CrossingBody(contentType string, body []byte) (ct string, out []byte, ok bool) {
	if len(body) == 0 {
		return "", nil, true
	}
	switch mt := MediaType(contentType); mt {
	case "application/sdp":
		return mt, body, true
	case "application/dtmf-relay":
		// Signal and Duration are the keypress; other lines are free text.
		var b strings.Builder
		for _, line := range strings.Split(string(body), "\n") {
			line = strings.TrimSpace(line)
			key, value, _ := strings.Cut(line, "=")
			switch strings.ToLower(strings.TrimSpace(key)) {
			case "signal":
				if isDTMFSignal(strings.TrimSpace(value)) {
					b.WriteString("Signal=" + strings.TrimSpace(value) + "\r\n")
				}
			case "duration":
				if d := strings.TrimSpace(value); d != "" && len(d) <= 5 && strings.Trim(d, "0123456789") == "" {
					b.WriteString("Duration=" + d + "\r\n")
				}
			}
		}
		if b.Len() == 0 {
			return "", nil, false
		}
		return mt, []byte(b.String()), true
	case "application/dtmf":
		if v := strings.TrimSpace(string(body)); isDTMFSignal(v) {
			return mt, []byte(v), true
		}
	}
	return "", nil, false
}

// isDTMFSignal reports whether s is one keypress: 0-9, *, #, A-D, or an
// RFC 4733 event code up to 16 (flash).
func isDTMFSignal(s string) bool {
	switch len(s) {
	case 1:
		c := s[0]
		return c >= '0' && c <= '9' || c == '*' || c == '#' || c >= 'A' && c <= 'D' || c >= 'a' && c <= 'd'
	case 2:
		return s[0] == '1' && s[1] >= '0' && s[1] <= '6'
	}
	return false
}

// numberTail is how many trailing digits of a party's number identify it in
// free text: every written form (+86, 0086, trunk 0, national) ends in them.
const numberTail = 9

// ScrubNumbers drops the SDP lines that name one of numbers (canonical
// digits). The relay rewrites addresses and the identifying lines it knows
// (o=, s=, i=, u=, e=, p=, ICE) but knows nothing of numbers, so an
// a=ssrc cname:13800000001 or a vendor attribute carrying the sender's
// number would cross; the engine is the one place that knows both. Visual
// separators are ignored when matching. The lines the relay writes itself
// (v, o, s, c, t, m) are never dropped.
func ScrubNumbers(sdp []byte, numbers ...string) []byte {
	tails := make([][]byte, 0, len(numbers))
	for _, num := range numbers {
		if len(num) >= 6 {
			tails = append(tails, []byte(num[max(0, len(num)-numberTail):]))
		}
	}
	if len(tails) == 0 {
		return sdp
	}
	out := make([]byte, 0, len(sdp))
	var flat []byte // the line without visual separators, reused
	for rest := sdp; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if len(line) > 1 && line[1] == '=' && strings.IndexByte("vosctm", line[0]) >= 0 {
			out = append(out, line...)
			continue
		}
		flat = flat[:0]
		for _, c := range line {
			switch c {
			case ' ', '-', '.', '(', ')':
			default:
				flat = append(flat, c)
			}
		}
		named := false
		for _, t := range tails {
			named = named || bytes.Contains(flat, t)
		}
		if !named {
			out = append(out, line...)
		}
	}
	return out
}

// Contact is the engine's own Contact: no user part, so it names no party.
func (e *Edge) Contact(transport string) *sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", Host: e.host, Port: e.port}
	if sip.NetworkToLower(transport) == "tcp" {
		u.UriParams = params("transport", "tcp")
	}
	return &sip.ContactHeader{Address: u}
}

// RelayedStatus maps the B leg's final failure onto what A is told. 3xx
// would hand A the callee's redirect targets, so it becomes 480; the reason
// phrase is always our own, since a carrier's free text may carry anything.
func RelayedStatus(code int) (int, string) {
	switch {
	case code >= 300 && code < 400:
		return sip.StatusTemporarilyUnavailable, ReasonPhrase(sip.StatusTemporarilyUnavailable)
	case code == sip.StatusUnauthorized || code == sip.StatusProxyAuthRequired:
		// The trunk challenged us; A cannot answer it.
		return sip.StatusServiceUnavailable, ReasonPhrase(sip.StatusServiceUnavailable)
	case code >= 400 && code < 700:
		return code, ReasonPhrase(code)
	}
	return sip.StatusInternalServerError, ReasonPhrase(sip.StatusInternalServerError)
}

// params builds header or URI parameters from key, value pairs.
func params(kv ...string) sip.HeaderParams {
	p := sip.NewParams()
	for i := 0; i+1 < len(kv); i += 2 {
		p.Add(kv[i], kv[i+1])
	}
	return p
}

// newCallID is a fresh Call-ID for a leg the engine places: random, so it
// says nothing of the other leg's.
func newCallID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
