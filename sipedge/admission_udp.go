package sipedge

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// A 503 sent through the transaction layer costs what the call would have
// cost to start: sipgo parses the INVITE, makes a server transaction and a
// goroutine, and over UDP keeps the transaction (~4.6 KB) until the ACK
// plus Timer I (5 s), or, when no ACK comes, retransmits the 503 for Timer
// H (32 s). Under a flood of several times capacity that is most of the
// CPU and, with a sender that never ACKs, hundreds of megabytes. So a new
// INVITE over UDP that admission would refuse is answered here, statelessly
// (RFC 3261 8.2.7, 16.11), before sipgo sees it: one scan of the header, a
// response built in a reused buffer, one write, nothing kept. What this
// path cannot answer with certainty (compact or folded headers it does not
// read, a To with anything like a tag, several From or Call-ID fields, an
// RFC 2543 branch) goes on untouched to the transaction layer, where Admit
// decides; so does every INVITE Screen lets through.

// statelessTag starts the To-tag of every stateless 503. sipgo's tags are
// letters and digits only, so no dialog's tag can start with it, and the
// ACK of such a 503 is known without any state.
const statelessTag = "xb503-"

// maxVias bounds the Via fields a stateless 503 copies; a request with more
// goes to the transaction layer.
const maxVias = 16

// RefuseOverUDP wraps the SIP UDP socket handed to the transaction layer:
// a new INVITE that a refuses (Screen) is answered 503 with Retry-After on
// c itself and never read by the caller; the ACK of such a 503 is dropped.
// onRefuse, if not nil, hears of each such refusal (it runs on the reading
// goroutine: keep it short).
func RefuseOverUDP(c net.PacketConn, a *Admission, onRefuse func(src netip.Addr, retryAfter time.Duration, err error)) net.PacketConn {
	return &refusingConn{PacketConn: c, a: a, onRefuse: onRefuse}
}

type refusingConn struct {
	net.PacketConn
	a        *Admission
	onRefuse func(netip.Addr, time.Duration, error)

	mu  sync.Mutex // guards out; sipgo reads from one goroutine, so never contended
	out []byte
}

func (c *refusingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.PacketConn.ReadFrom(b)
		if err != nil || n == 0 || !c.answered(b[:n], from) {
			return n, from, err
		}
	}
}

var (
	inviteStart = []byte("INVITE ")
	ackStart    = []byte("ACK ")
)

// answered reports whether the datagram was dealt with here: a refused new
// INVITE (answered) or the ACK of a stateless 503 (dropped).
func (c *refusingConn) answered(data []byte, from net.Addr) bool {
	switch {
	case bytes.HasPrefix(data, ackStart):
		return isStatelessACK(data)
	case !bytes.HasPrefix(data, inviteStart):
		return false
	}
	udp, ok := from.(*net.UDPAddr)
	if !ok {
		return false
	}
	// While there is room an INVITE goes straight on, unread: only one
	// about to be refused is worth the scan.
	src := udp.AddrPort().Addr()
	if _, err := c.a.peek(src); err == nil {
		return false
	}
	var inv rawInvite
	if !inv.parse(data) {
		return false
	}
	wait, err := c.a.Screen(src)
	if err == nil {
		return false // room again since the peek
	}
	c.mu.Lock()
	c.out = inv.appendRefusal(c.out[:0], wait)
	_, werr := c.PacketConn.WriteTo(c.out, from)
	c.mu.Unlock()
	if c.onRefuse != nil && werr == nil {
		c.onRefuse(src, wait, err)
	}
	// Even when the write failed the INVITE was refused: the sender
	// retransmits and is screened again.
	return true
}

// rawInvite is what a stateless 503 copies from a new INVITE, as written.
type rawInvite struct {
	vias                   [maxVias][]byte
	nvia                   int
	from, to, callID, cseq []byte
}

// parse reads the header of a new INVITE, and reports whether a 503 can be
// built from it with certainty.
func (r *rawInvite) parse(data []byte) bool {
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		return false
	}
	head := data[:end+2]
	if bytes.Count(head, []byte("\n")) != bytes.Count(head, []byte("\r\n")) {
		return false // a bare LF: leave it to the parser
	}
	line, rest := cutLine(head)
	if !bytes.HasPrefix(line, inviteStart) || !bytes.HasSuffix(line, []byte(" SIP/2.0")) {
		return false
	}
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			return false // a folded line: leave it to the parser
		}
		switch line[0] | 0x20 { // the first letter of the fields read below
		case 'v', 'f', 't', 'i', 'c':
		default:
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return false
		}
		name := bytes.TrimRight(line[:colon], " \t")
		value := bytes.Trim(line[colon+1:], " \t")
		var field *[]byte
		switch {
		case fieldIs(name, "via", "v"):
			if r.nvia == maxVias || len(value) == 0 {
				return false
			}
			r.vias[r.nvia] = value
			r.nvia++
			continue
		case fieldIs(name, "from", "f"):
			field = &r.from
		case fieldIs(name, "to", "t"):
			field = &r.to
		case fieldIs(name, "call-id", "i"):
			field = &r.callID
		case fieldIs(name, "cseq", ""):
			field = &r.cseq
		default:
			continue
		}
		if *field != nil || len(value) == 0 {
			return false // twice, or empty: not ours to judge
		}
		*field = value
	}
	if r.nvia == 0 || r.from == nil || r.to == nil || r.callID == nil || r.cseq == nil {
		return false
	}
	// Only a request that starts a dialog may be refused here: anything in
	// To that could be a tag (an in-dialog re-INVITE, of a call that is up
	// and must never be refused) sends it on to the transaction layer.
	if containsFold(r.to, "tag") {
		return false
	}
	num, method, ok := bytes.Cut(r.cseq, []byte(" "))
	if !ok || !digits(num) || string(bytes.TrimLeft(method, " \t")) != "INVITE" {
		return false
	}
	// RFC 3261 transactions: the ACK of the 503 matches it by this branch.
	return bytes.Contains(r.vias[0], []byte("branch=z9hG4bK"))
}

// appendRefusal appends the 503 for the INVITE to out.
func (r *rawInvite) appendRefusal(out []byte, wait time.Duration) []byte {
	out = append(out, "SIP/2.0 503 Service Unavailable\r\n"...)
	for _, v := range r.vias[:r.nvia] {
		out = appendField(out, "Via", v)
	}
	out = appendField(out, "From", r.from)
	out = append(out, "To: "...)
	out = append(out, r.to...)
	out = append(out, ";tag="+statelessTag...)
	out = strconv.AppendUint(out, r.tag(), 36)
	out = append(out, "\r\n"...)
	out = appendField(out, "Call-ID", r.callID)
	out = appendField(out, "CSeq", r.cseq)
	out = append(out, "Retry-After: "...)
	out = strconv.AppendInt(out, int64((wait+time.Second-1)/time.Second), 10)
	return append(out, "\r\nContent-Length: 0\r\n\r\n"...)
}

// tag is the same for every retransmission of one INVITE (RFC 3261
// 16.11: a stateless response must not depend on the time it is sent).
func (r *rawInvite) tag() uint64 {
	h := uint64(14695981039346656037) // FNV-1a, inline: hash/fnv allocates
	for _, part := range [][]byte{r.callID, r.vias[0], r.from} {
		for _, c := range part {
			h = (h ^ uint64(c)) * 1099511628211
		}
	}
	return h
}

// isStatelessACK: an ACK whose To-tag is a stateless 503's. It belongs to
// no transaction and no dialog.
func isStatelessACK(data []byte) bool {
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		return false
	}
	_, rest := cutLine(data[:end+2])
	for len(rest) > 0 {
		var line []byte
		line, rest = cutLine(rest)
		colon := bytes.IndexByte(line, ':')
		if colon > 0 && fieldIs(bytes.TrimRight(line[:colon], " \t"), "to", "t") {
			return bytes.Contains(line[colon+1:], []byte("tag="+statelessTag))
		}
	}
	return false
}

// cutLine splits off the first CRLF-terminated line; nil line when there is
// no CRLF.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return nil, nil
	}
	return b[:i], b[i+2:]
}

func fieldIs(name []byte, long, compact string) bool {
	return bytes.EqualFold(name, []byte(long)) || compact != "" && bytes.EqualFold(name, []byte(compact))
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func containsFold(b []byte, sub string) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		if bytes.EqualFold(b[i:i+len(sub)], []byte(sub)) {
			return true
		}
	}
	return false
}

func appendField(out []byte, name string, value []byte) []byte {
	out = append(out, name...)
	out = append(out, ": "...)
	out = append(out, value...)
	return append(out, "\r\n"...)
}
