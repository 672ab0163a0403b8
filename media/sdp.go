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
// it belongs to, or -1 for the session section.
type sdpLine struct {
	typ   byte
	value string
	media int
}

// mediaDesc is what the relay needs from one m= section.
type mediaDesc struct {
	port     int        // m= port; 0 is a rejected stream
	conn     netip.Addr // effective c= address; invalid if it is a host name
	hasConn  bool       // some c= (session or media level) applies
	ownConn  bool       // the section has its own c= line
	rtcpPort int        // from a=rtcp; 0 when absent
	rtcpAddr netip.Addr // from a=rtcp; invalid when absent
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
	lines []sdpLine
	media []mediaDesc
}

func malformed(line int, format string, args ...any) error {
	if line > 0 {
		return fmt.Errorf("%w: line %d: %s", ErrMalformedSDP, line, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%w: %s", ErrMalformedSDP, fmt.Sprintf(format, args...))
}

// parseSDP checks the structure of an SDP body (RFC 8866) and picks out the
// media addresses. It is strict about what the relay relies on (v=, o=, s=,
// m=, c=, a=rtcp) and keeps every other line as opaque text.
func parseSDP(b []byte) (*sessionDesc, error) {
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
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return nil, malformed(lineNo, "not a <type>=<value> line: %.40q", line)
		}
		typ, val := line[0], line[2:]
		nonEmpty++
		if nonEmpty == 1 && (typ != 'v' || val != "0") {
			return nil, malformed(lineNo, "first line must be v=0, got %.40q", line)
		}
		switch typ {
		case 'v':
			if nonEmpty != 1 {
				return nil, malformed(lineNo, "v= may only be the first line")
			}
		case 'o':
			if cur >= 0 || seenO {
				return nil, malformed(lineNo, "o= must appear once, before any m=")
			}
			if len(strings.Fields(val)) != 6 {
				return nil, malformed(lineNo, "o= needs 6 fields: %.60q", val)
			}
			seenO = true
		case 's':
			if cur >= 0 || seenS {
				return nil, malformed(lineNo, "s= must appear once, before any m=")
			}
			seenS = true
		case 'm':
			if len(d.media) == maxMediaLines {
				return nil, malformed(lineNo, "more than %d m= lines", maxMediaLines)
			}
			port, err := parseMediaLine(val)
			if err != nil {
				return nil, malformed(lineNo, "%v", err)
			}
			cur++
			d.media = append(d.media, mediaDesc{port: port, conn: sessConn, hasConn: sessHasConn})
		case 'c':
			addr, err := parseConnection(val)
			if err != nil {
				return nil, malformed(lineNo, "%v", err)
			}
			if cur < 0 {
				if sessHasConn {
					return nil, malformed(lineNo, "second session-level c=")
				}
				sessConn, sessHasConn = addr, true
			} else {
				// One c= per media section: several would be a layered
				// multicast address list, which a unicast relay cannot serve.
				m := &d.media[cur]
				if m.ownConn {
					return nil, malformed(lineNo, "second c= in m= section %d", cur+1)
				}
				m.conn, m.hasConn, m.ownConn = addr, true, true
			}
		case 'a':
			if v, ok := strings.CutPrefix(val, "rtcp:"); ok {
				if cur < 0 {
					return nil, malformed(lineNo, "a=rtcp outside a media section")
				}
				port, addr, err := parseRTCPAttr(v)
				if err != nil {
					return nil, malformed(lineNo, "%v", err)
				}
				d.media[cur].rtcpPort, d.media[cur].rtcpAddr = port, addr
			}
		}
		d.lines = append(d.lines, sdpLine{typ: typ, value: val, media: cur})
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
	return d, nil
}

// parseMediaLine checks "m=<media> <port>[/<count>] <proto> <fmt> ..." and
// returns the port.
func parseMediaLine(val string) (int, error) {
	media, after, ok := strings.Cut(val, " ")
	if !ok || media == "" {
		return 0, fmt.Errorf("m= needs <media> <port> <proto> <fmt>: %.60q", val)
	}
	portField, rest, ok := strings.Cut(after, " ")
	if !ok {
		return 0, fmt.Errorf("m= needs <media> <port> <proto> <fmt>: %.60q", val)
	}
	proto, fmts, ok := strings.Cut(rest, " ")
	if !ok || proto == "" || strings.TrimSpace(fmts) == "" {
		return 0, fmt.Errorf("m= needs <proto> and at least one <fmt>: %.60q", val)
	}
	if hasForeignAddr(rest, netip.Addr{}) {
		// The rest is copied to the other side unchanged; an address in it
		// could only be a leak.
		return 0, fmt.Errorf("address literal in m= line: %.60q", val)
	}
	portStr, count, hasCount := strings.Cut(portField, "/")
	port, err := parseUint(portStr, 65535)
	if err != nil {
		return 0, fmt.Errorf("m= port %q: %w", portField, err)
	}
	if hasCount {
		if n, err := parseUint(count, 65535); err != nil || n == 0 {
			return 0, fmt.Errorf("m= port count %q is not a positive number", count)
		}
	}
	return port, nil
}

// parseConnection checks "c=IN IP4|IP6 <address>[/ttl][/count]" and returns
// the address; a host name (legal, rarely seen) gives an invalid Addr.
func parseConnection(val string) (netip.Addr, error) {
	f := strings.Split(val, " ")
	if len(f) != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
		return netip.Addr{}, fmt.Errorf("c= must be \"IN IP4|IP6 <address>\": %.60q", val)
	}
	host, _, _ := strings.Cut(f[2], "/")
	return parseAddrField(f[1], host)
}

// parseRTCPAttr checks the RFC 3605 value "<port> [IN IP4|IP6 <address>]".
func parseRTCPAttr(v string) (int, netip.Addr, error) {
	f := strings.Split(v, " ")
	port, err := parseUint(f[0], 65535)
	if err != nil || port == 0 {
		return 0, netip.Addr{}, fmt.Errorf("a=rtcp port %q is not a port number", f[0])
	}
	switch {
	case len(f) == 1:
		return port, netip.Addr{}, nil
	case len(f) == 4 && f[1] == "IN" && (f[2] == "IP4" || f[2] == "IP6"):
		addr, err := parseAddrField(f[2], f[3])
		if err != nil {
			return 0, netip.Addr{}, fmt.Errorf("a=rtcp: %w", err)
		}
		return port, addr, nil
	}
	return 0, netip.Addr{}, fmt.Errorf("a=rtcp must be \"<port> [IN IP4|IP6 <address>]\": %.60q", v)
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
