package media

import (
	"net/netip"
	"strconv"
	"strings"
)

// rewriteParams is what the relay puts into an SDP it sends to one side.
type rewriteParams struct {
	ip      netip.Addr // advertised relay address
	ports   []int      // relay RTP port per m= section; RTCP is port+1; 0 = rejected
	sessID  uint64     // o= sess-id, stable per session and side
	version uint64     // o= sess-version
}

// render writes the SDP to send to the other side, built from the
// allowlist: the relay's own v=, o=, s=, c=, t= and m= ports, and of the
// sender's lines only those the parser kept (b= and the allowed attributes
// whose values fit their grammar), byte for byte. A session-level direction
// is written into every section that has none, so that the session level
// sent holds nothing but v, o, s, c, t, b. A rejected section (port 0, by the
// sender or because the relay cannot carry it) gets its m= and c= lines
// only. Lines end in CRLF whatever the input used.
func (d *sessionDesc) render(p rewriteParams) []byte {
	ipStr := p.ip.String()
	addrType := "IP4"
	if p.ip.Is6() {
		addrType = "IP6"
	}
	out := make([]byte, 0, 64+len(d.lines)*40)
	line := func(typ byte, parts ...string) {
		out = append(out, typ, '=')
		for _, s := range parts {
			out = append(out, s...)
		}
		out = append(out, '\r', '\n')
	}
	relayPort := func(media int) int {
		if media < 0 || media >= len(p.ports) {
			return 0
		}
		return p.ports[media]
	}
	timed := false // t= written
	// endSection closes media section i: a session-level direction goes
	// into it when it has none of its own.
	endSection := func(i int) {
		if i >= 0 && relayPort(i) != 0 && d.sessDir != "" && !d.media[i].hasDir {
			line('a', d.sessDir)
		}
	}
	cur := -1
	for _, l := range d.lines {
		if l.media != cur {
			endSection(cur)
			cur = l.media
		}
		live := cur < 0 || relayPort(cur) != 0
		switch l.kind {
		case lineVersion:
			line('v', "0")
		case lineOrigin:
			line('o', "xbridge ", strconv.FormatUint(p.sessID, 10), " ", strconv.FormatUint(p.version, 10), " IN ", addrType, " ", ipStr)
		case lineName:
			line('s', "xbridge")
		case lineConn:
			line('c', "IN ", addrType, " ", ipStr)
		case lineTime:
			// The relay's session is unbounded: its own "0 0", once.
			if !timed {
				line('t', "0 0")
				timed = true
			}
		case lineMedia:
			if !timed {
				line('t', "0 0")
				timed = true
			}
			// A port count (m=video 49170/2) is dropped: the relay offers
			// one pair per section.
			m := &d.media[l.media]
			out = append(out, "m="...)
			out = append(out, m.kind...)
			out = append(out, ' ')
			out = strconv.AppendInt(out, int64(relayPort(l.media)), 10)
			out = append(out, ' ')
			out = append(out, m.proto...)
			for f := range strings.FieldsSeq(m.fmts) {
				out = append(out, ' ')
				out = append(out, f...)
			}
			out = append(out, '\r', '\n')
		case lineRTCP:
			if port := relayPort(l.media); port != 0 {
				line('a', "rtcp:", strconv.Itoa(port+1), " IN ", addrType, " ", ipStr)
			}
		case lineKeep:
			if live {
				line(l.typ, l.value)
			}
		case lineFmtp:
			if live {
				out = appendFmtp(out, l.value)
			}
		}
	}
	endSection(cur)
	if !timed {
		line('t', "0 0")
	}
	return out
}

// appendFmtp writes "a=fmtp:<pt> <params>" with only the parameters that
// fit their grammar (the parser made sure there is one), joined by ";";
// v is the attribute as sent ("fmtp:<pt> <params>").
func appendFmtp(out []byte, v string) []byte {
	pt, params, _ := strings.Cut(strings.TrimPrefix(v, "fmtp:"), " ")
	out = append(out, "a=fmtp:"...)
	out = append(out, pt...)
	sep := byte(' ')
	for rest := params; rest != ""; {
		var p string
		p, rest, _ = strings.Cut(rest, ";")
		if p = strings.TrimSpace(p); fmtpParamOK(p) {
			out = append(out, sep)
			out = append(out, p...)
			sep = ';'
		}
	}
	return append(out, '\r', '\n')
}
