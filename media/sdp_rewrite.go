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

// render writes the SDP to send to the other side: every address and port of
// the sender replaced by the relay's, identifying lines (o=, s=, i=, u=, e=,
// p=, k=, ICE) replaced or dropped, and all other lines kept byte for byte.
// Lines end in CRLF whatever the input used.
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
	for _, l := range d.lines {
		switch l.typ {
		case 'o':
			line('o', "xbridge ", strconv.FormatUint(p.sessID, 10), " ", strconv.FormatUint(p.version, 10), " IN ", addrType, " ", ipStr)
		case 's':
			line('s', "xbridge")
		case 'i', 'u', 'e', 'p', 'k':
			// Free text, URIs, e-mail, phone and keys describe the sender.
		case 'c':
			line('c', "IN ", addrType, " ", ipStr)
		case 'm':
			media, after, _ := strings.Cut(l.value, " ")
			_, rest, _ := strings.Cut(after, " ")
			// A port count (m=video 49170/2) is dropped: the relay offers one
			// pair per section.
			line('m', media, " ", strconv.Itoa(relayPort(l.media)), " ", rest)
		case 'a':
			switch {
			case strings.HasPrefix(l.value, "rtcp:"):
				if port := relayPort(l.media); port != 0 {
					line('a', "rtcp:", strconv.Itoa(port+1), " IN ", addrType, " ", ipStr)
				}
			case isICEAttr(l.value):
				// ICE would hand out the sender's candidates and make the
				// receiver try to reach them directly.
			case isIdentityAttr(l.value):
				// Source and stream labels are free text a phone fills with
				// its user@host (RTCP CNAME): an identity, not a media need
				// for a relayed call.
			case hasForeignAddr(l.value, p.ip):
			default:
				line('a', l.value)
			}
		default:
			if !hasForeignAddr(l.value, p.ip) {
				line(l.typ, l.value)
			}
		}
	}
	return out
}

func isIdentityAttr(v string) bool {
	name, _, _ := strings.Cut(v, ":")
	switch name {
	case "ssrc", "ssrc-group", "msid", "label":
		return true
	}
	return false
}

func isICEAttr(v string) bool {
	name, _, _ := strings.Cut(v, ":")
	return name == "candidate" || name == "remote-candidates" || name == "end-of-candidates" ||
		strings.HasPrefix(name, "ice-")
}
