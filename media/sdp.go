package media

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Limits on what Rewrite accepts. A carrier's SDP is a few hundred bytes with
// one or two m= lines; the caps keep a hostile body from allocating the whole
// port range or a large buffer.
const (
	maxSDPSize    = 64 << 10
	maxMediaLines = 16
)

// sdpLine is one "<type>=<value>" line; media is the index of the m= section
// it belongs to, or -1 for the session section; kind is what render makes
// of it, decided once by the parser against the allowlist (sdp_allow.go).
type sdpLine struct {
	typ   byte
	value string
	media int
	kind  lineKind
}

// lineKind is what a line becomes in the SDP sent on.
type lineKind int

const (
	lineDrop       lineKind = iota // not on the allowlist, or its value is not
	lineVersion                    // v=0
	lineOrigin                     // o=: the relay's own
	lineName                       // s=: the relay's own
	lineConn                       // c=: the relay's address
	lineTime                       // t=: "0 0", once
	lineMedia                      // m=: the relay's port, the checked rest
	lineRTCP                       // a=rtcp: the relay's RTCP port
	lineKeep                       // b= or an allowed a= whose value fits its grammar, as sent
	lineFmtp                       // a=fmtp: only the parameters that fit
	lineSessionDir                 // a session-level direction, written into each section without one
)

// mediaDesc is what the relay needs from one m= section.
type mediaDesc struct {
	port      int        // m= port; 0 is a rejected stream, or one the relay refused
	conn      netip.Addr // effective c= address; invalid if it is a host name
	hasConn   bool       // some c= (session or media level) applies
	ownConn   bool       // the section has its own c= line
	conn6     bool       // the effective c= is IN IP6
	rtcpPort  int        // from a=rtcp; 0 when absent
	rtcpAddr  netip.Addr // from a=rtcp; invalid when absent
	rtcpType  string     // addrtype of a=rtcp's address (IP4, IP6), "" when it has none
	kind      string     // m= media: audio, video, ...
	proto     string     // m= proto as sent
	fmts      string     // m= formats as sent, checked
	transport transport
	pts       ptSet  // RTP payload types of the m= line
	hasDir    bool   // the section has its own direction attribute
	hasCrypto bool   // an a=crypto that fits (SRTP can be keyed end to end)
	refused   string // why the relay cannot carry the stream; port is then 0
}

// rtpAddr is where this side wants to receive RTP; invalid when unknown.
func (m mediaDesc) rtpAddr() netip.AddrPort {
	if m.port == 0 || !usable(m.conn) {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(m.conn, uint16(m.port))
}

// rtcpAddrPort is where this side wants RTCP: a=rtcp if given (RFC 3605),
// else the RTP port + 1 (RFC 3550).
func (m mediaDesc) rtcpAddrPort() netip.AddrPort {
	if m.port == 0 {
		return netip.AddrPort{}
	}
	addr, port := m.conn, m.port+1
	if m.rtcpPort != 0 {
		port = m.rtcpPort
		if m.rtcpAddr.IsValid() {
			addr = m.rtcpAddr
		}
	}
	if !usable(addr) || port > 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(addr, uint16(port))
}

// usable reports whether packets can be sent to a: c=0.0.0.0 is the old way
// of saying "hold" and a host name cannot be resolved here.
func usable(a netip.Addr) bool { return a.IsValid() && !a.IsUnspecified() }

// sessionDesc is a parsed SDP body.
type sessionDesc struct {
	lines   []sdpLine
	media   []mediaDesc
	sessDir string // session-level direction attribute, "" when none
}

func malformed(line int, format string, args ...any) error {
	if line > 0 {
		return fmt.Errorf("%w: line %d: %s", ErrMalformedSDP, line, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%w: %s", ErrMalformedSDP, fmt.Sprintf(format, args...))
}

func unsupported(line int, format string, args ...any) error {
	if line > 0 {
		return fmt.Errorf("%w: line %d: %s", ErrUnsupportedMedia, line, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%w: %s", ErrUnsupportedMedia, fmt.Sprintf(format, args...))
}

// parseSDP checks the structure of an SDP body (RFC 8866), picks out the
// media addresses, decides for every line what the other side gets of it
// (the allowlist, sdp_allow.go), and marks the streams a relay bound to
// relay cannot carry as rejected (port 0). It is strict about what the relay
// relies on (v=, o=, s=, m=, c=, a=rtcp): a body that breaks those rules is
// ErrMalformedSDP. One that offers only streams the relay cannot carry is
// ErrUnsupportedMedia; when some streams can be carried, the others are
// rejected in what is sent on and the call goes ahead with the rest.
func parseSDP(b []byte, relay netip.Addr) (*sessionDesc, error) {
	if len(b) == 0 {
		return nil, malformed(0, "empty body")
	}
	if len(b) > maxSDPSize {
		return nil, malformed(0, "body of %d bytes exceeds %d", len(b), maxSDPSize)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return nil, malformed(0, "NUL byte at offset %d", i)
	}
	d := &sessionDesc{lines: make([]sdpLine, 0, bytes.Count(b, []byte{'\n'})+1)}
	var (
		sessConn         netip.Addr
		sessHasConn      bool
		sessConn6        bool
		seenO, seenS     bool
		cur              = -1
		lineNo, nonEmpty int
	)
	for rest := string(b); rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		lineNo++
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue // blank lines (a trailing one is common) carry nothing
		}
		if strings.IndexByte(line, '\r') >= 0 {
			return nil, malformed(lineNo, "bare CR inside a line")
		}
		// Trailing blanks (a=rtpmap:101 telephone-event/8000 ) are a
		// common slip that would fail every value grammar.
		line = strings.TrimRight(line, " \t")
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return nil, malformed(lineNo, "not a <type>=<value> line: %.40q", line)
		}
		typ, val := line[0], line[2:]
		kind := lineDrop
		nonEmpty++
		if nonEmpty == 1 && (typ != 'v' || val != "0") {
			return nil, malformed(lineNo, "first line must be v=0, got %.40q", line)
		}
		switch typ {
		case 'v':
			if nonEmpty != 1 {
				return nil, malformed(lineNo, "v= may only be the first line")
			}
			kind = lineVersion
		case 'o':
			if cur >= 0 || seenO {
				return nil, malformed(lineNo, "o= must appear once, before any m=")
			}
			if len(strings.Fields(val)) != 6 {
				return nil, malformed(lineNo, "o= needs 6 fields: %.60q", val)
			}
			seenO, kind = true, lineOrigin
		case 's':
			if cur >= 0 || seenS {
				return nil, malformed(lineNo, "s= must appear once, before any m=")
			}
			seenS, kind = true, lineName
		case 't':
			if cur < 0 {
				kind = lineTime
			}
		case 'b':
			if checkBandwidth(val) {
				kind = lineKeep
			}
		case 'm':
			if len(d.media) == maxMediaLines {
				return nil, malformed(lineNo, "more than %d m= lines", maxMediaLines)
			}
			m, err := parseMediaLine(val, lineNo)
			if err != nil {
				return nil, err
			}
			m.conn, m.hasConn, m.conn6 = sessConn, sessHasConn, sessConn6
			cur++
			d.media = append(d.media, m)
			kind = lineMedia
		case 'c':
			addr, ip6, err := parseConnection(val)
			if err != nil {
				return nil, malformed(lineNo, "%v", err)
			}
			if cur < 0 {
				if sessHasConn {
					return nil, malformed(lineNo, "second session-level c=")
				}
				sessConn, sessHasConn, sessConn6 = addr, true, ip6
			} else {
				// One c= per media section: several would be a layered
				// multicast address list, which a unicast relay cannot serve.
				m := &d.media[cur]
				if m.ownConn {
					return nil, malformed(lineNo, "second c= in m= section %d", cur+1)
				}
				m.conn, m.hasConn, m.ownConn, m.conn6 = addr, true, true, ip6
			}
			kind = lineConn
		case 'a':
			var err error
			if kind, err = d.attribute(val, cur); err != nil {
				return nil, malformed(lineNo, "%v", err)
			}
		}
		d.lines = append(d.lines, sdpLine{typ: typ, value: val, media: cur, kind: kind})
	}
	switch {
	case nonEmpty == 0:
		return nil, malformed(0, "no lines")
	case !seenO:
		return nil, malformed(0, "missing o=")
	case !seenS:
		return nil, malformed(0, "missing s=")
	}
	for i, m := range d.media {
		if m.port != 0 && !m.hasConn {
			return nil, malformed(0, "m= section %d has no c= (none at session level either)", i+1)
		}
	}
	if err := d.fitRelay(relay); err != nil {
		return nil, err
	}
	return d, nil
}

// attribute classifies an a= line of the section cur (-1: session level)
// and records what the relay needs from it. Only a=rtcp can make the body
// malformed: the relay sends RTCP where it says.
func (d *sessionDesc) attribute(val string, cur int) (lineKind, error) {
	name, value, hasValue := strings.Cut(val, ":")
	kind, allowed := mediaAttrs[name]
	if kind == attrRTCP {
		if cur < 0 {
			return lineDrop, fmt.Errorf("a=rtcp outside a media section")
		}
		port, addr, addrType, err := parseRTCPAttr(value)
		if err != nil {
			return lineDrop, err
		}
		m := &d.media[cur]
		m.rtcpPort, m.rtcpAddr, m.rtcpType = port, addr, addrType
		return lineRTCP, nil
	}
	if !allowed {
		return lineDrop, nil
	}
	if cur < 0 {
		// Of the allowed attributes only the direction means something at
		// session level; it is written into the sections instead, so the
		// session level of what is sent stays v, o, s, c, t, b.
		if kind == attrDirection && !hasValue && d.sessDir == "" {
			d.sessDir = name
			return lineSessionDir, nil
		}
		return lineDrop, nil
	}
	m := &d.media[cur]
	if (kind == attrFlag || kind == attrDirection) != !hasValue {
		return lineDrop, nil
	}
	ok := false
	switch kind {
	case attrFlag:
		ok = true
	case attrDirection:
		// A second direction in one section contradicts the first.
		ok, m.hasDir = !m.hasDir, true
	case attrRtpmap:
		ok = checkRtpmap(value, m)
	case attrFmtp:
		ok = checkFmtp(value, m)
	case attrPtime:
		ok = isDecimal(value, 4, 2)
	case attrFramerate:
		ok = isDecimal(value, 3, 2)
	case attrRtcpFB:
		ok = checkRtcpFB(value, m)
	case attrSilenceSupp:
		ok = checkSilenceSupp(value, m)
	case attrCrypto:
		ok = checkCrypto(value, m)
	}
	// The grammars admit no address. The scanner stays as a second net
	// behind the two whose tables are likeliest to grow looser: format
	// parameters and SRTP keys.
	if !ok || (kind == attrFmtp || kind == attrCrypto) && hasForeignAddr(value, netip.Addr{}) {
		return lineDrop, nil
	}
	switch kind {
	case attrCrypto:
		m.hasCrypto = true
	case attrFmtp:
		return lineFmtp, nil
	}
	return lineKeep, nil
}

// fitRelay rejects (port 0) the streams a relay bound to relay cannot carry
// and refuses the body when it offered streams and none is left.
func (d *sessionDesc) fitRelay(relay netip.Addr) error {
	offered, carried := 0, 0
	var why string
	for i := range d.media {
		m := &d.media[i]
		if m.port == 0 {
			continue // rejected by the sender itself
		}
		offered++
		switch {
		case m.transport.refuse != "":
			m.refused = m.transport.refuse
		case m.transport.secure && !m.hasCrypto:
			m.refused = "SRTP without an SDES key (a=crypto): only SDES-SRTP passes the relay"
		case m.conn6 != relay.Is6() || m.rtcpType != "" && (m.rtcpType == "IP6") != relay.Is6():
			m.refused = "IPv4 media on an IPv6 relay"
			if relay.Is4() {
				m.refused = "IPv6 media on an IPv4 relay"
			}
		default:
			carried++
			continue
		}
		m.port = 0
		if why == "" {
			why = fmt.Sprintf("m= section %d (%s %s): %s", i+1, m.kind, m.proto, m.refused)
		}
	}
	if offered > 0 && carried == 0 {
		return unsupported(0, "%s", why)
	}
	return nil
}

// parseMediaLine checks "m=<media> <port>[/<count>] <proto> <fmt> ..." and
// returns what the relay needs of it. The media type and proto must be ones
// the allowlist knows; the formats must be payload types (RTP protos) or the
// few non-RTP formats of nonRTPFormats, since they are sent on as they are.
func parseMediaLine(val string, line int) (mediaDesc, error) {
	var m mediaDesc
	media, after, ok := strings.Cut(val, " ")
	if !ok || media == "" {
		return m, malformed(line, "m= needs <media> <port> <proto> <fmt>: %.60q", val)
	}
	portField, rest, ok := strings.Cut(after, " ")
	if !ok {
		return m, malformed(line, "m= needs <media> <port> <proto> <fmt>: %.60q", val)
	}
	proto, fmts, ok := strings.Cut(rest, " ")
	if !ok || proto == "" || strings.TrimSpace(fmts) == "" {
		return m, malformed(line, "m= needs <proto> and at least one <fmt>: %.60q", val)
	}
	portStr, count, hasCount := strings.Cut(portField, "/")
	port, err := parseUint(portStr, 65535)
	if err != nil {
		return m, malformed(line, "m= port %q: %v", portField, err)
	}
	if hasCount {
		if n, err := parseUint(count, 65535); err != nil || n == 0 {
			return m, malformed(line, "m= port count %q is not a positive number", count)
		}
	}
	if !mediaTypes[media] {
		return m, unsupported(line, "m= media %.20q is not one the relay knows", media)
	}
	tr, known := lookupFold(transports, proto)
	if !known {
		return m, unsupported(line, "m= transport %.30q is not one the relay knows", proto)
	}
	m = mediaDesc{port: port, kind: media, proto: proto, fmts: fmts, transport: tr}
	for f := range strings.FieldsSeq(fmts) {
		if tr.rtp {
			pt, ok := payloadType(f)
			if !ok {
				return m, malformed(line, "m= format %.20q is not an RTP payload type", f)
			}
			m.pts.add(pt)
			continue
		}
		if _, ok := number(f, 5); !ok {
			if _, ok := lookupFold(nonRTPFormats, f); !ok {
				return m, malformed(line, "m= format %.20q is not one the relay knows", f)
			}
		}
	}
	return m, nil
}

// parseConnection checks "c=IN IP4|IP6 <address>[/ttl][/count]" and returns
// the address and whether it is IP6; a host name (legal, rarely seen) gives
// an invalid Addr.
func parseConnection(val string) (netip.Addr, bool, error) {
	f := strings.Split(val, " ")
	if len(f) != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
		return netip.Addr{}, false, fmt.Errorf("c= must be \"IN IP4|IP6 <address>\": %.60q", val)
	}
	host, _, _ := strings.Cut(f[2], "/")
	addr, err := parseAddrField(f[1], host)
	return addr, f[1] == "IP6", err
}

// parseRTCPAttr checks the RFC 3605 value "<port> [IN IP4|IP6 <address>]".
// It returns the port, the address (invalid when absent or a host name) and
// its addrtype ("" when absent).
func parseRTCPAttr(v string) (int, netip.Addr, string, error) {
	f := strings.Split(v, " ")
	port, err := parseUint(f[0], 65535)
	if err != nil || port == 0 {
		return 0, netip.Addr{}, "", fmt.Errorf("a=rtcp port %q is not a port number", f[0])
	}
	switch {
	case len(f) == 1:
		return port, netip.Addr{}, "", nil
	case len(f) == 4 && f[1] == "IN" && (f[2] == "IP4" || f[2] == "IP6"):
		addr, err := parseAddrField(f[2], f[3])
		if err != nil {
			return 0, netip.Addr{}, "", fmt.Errorf("a=rtcp: %w", err)
		}
		return port, addr, f[2], nil
	}
	return 0, netip.Addr{}, "", fmt.Errorf("a=rtcp must be \"<port> [IN IP4|IP6 <address>]\": %.60q", v)
}

// parseAddrField parses an address of the given SDP addrtype.
func parseAddrField(addrType, host string) (netip.Addr, error) {
	if host == "" {
		return netip.Addr{}, fmt.Errorf("empty address")
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		if isHostName(host) {
			return netip.Addr{}, nil
		}
		return netip.Addr{}, fmt.Errorf("address %.60q is neither an IP literal nor a host name", host)
	}
	addr = addr.WithZone("")
	if (addrType == "IP4") != addr.Is4() {
		return netip.Addr{}, fmt.Errorf("address %s does not match address type %s", host, addrType)
	}
	return addr, nil
}

// isHostName accepts the letters-digits-hyphen-dot names of RFC 1123, and
// only those with a letter, so a mangled IP literal is not mistaken for one.
func isHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9', c == '-', c == '.':
		default:
			return false
		}
	}
	return letter
}

// parseUint parses a plain decimal number no larger than limit.
func parseUint(s string, limit int) (int, error) {
	if s == "" || len(s) > 10 {
		return 0, fmt.Errorf("not a number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not a number")
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > limit {
		return 0, fmt.Errorf("out of range (max %d)", limit)
	}
	return n, nil
}
