package media

import "net/netip"

// Direction is what a party's SDP says it does on one stream (RFC 3264
// 5.1, 8.4): send, receive, both or neither.
type Direction uint8

const (
	DirSend     Direction = 1 << iota // the party sends media
	DirRecv                           // the party receives media
	DirInactive Direction = 0
	DirSendRecv           = DirSend | DirRecv
)

func (d Direction) String() string {
	switch d {
	case DirSendRecv:
		return "sendrecv"
	case DirSend:
		return "sendonly"
	case DirRecv:
		return "recvonly"
	}
	return "inactive"
}

// Directions is what side does on each m= line of the latest SDP it sent
// that Rewrite accepted, in order: the section's direction attribute, else
// the session's, else sendrecv. A rejected stream (port 0) is inactive, and
// so is one the relay could not carry; one on the null address
// (c=0.0.0.0, the RFC 2543 way of holding) receives nothing. nil before
// that side's first SDP. Rewrite keeps it as it parses the body, so asking
// costs no second parse.
func (s *Session) Directions(side Side) []Direction {
	if !side.valid() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirs[side]
}

// directions parses sdp as Rewrite does and returns its directions.
func directions(sdp []byte, relay netip.Addr) ([]Direction, error) {
	d, err := parseSDP(sdp, relay)
	if err != nil {
		return nil, err
	}
	return d.directions(), nil
}

// directions of the streams as parsed (and, after Rewrite, as accepted).
func (d *sessionDesc) directions() []Direction {
	session := DirSendRecv
	own := make([]Direction, len(d.media))
	set := make([]bool, len(d.media))
	for _, l := range d.lines {
		dir, ok := directionAttr(l)
		if !ok {
			continue
		}
		if l.media < 0 {
			session = dir
		} else {
			own[l.media], set[l.media] = dir, true
		}
	}
	out := own
	for i, m := range d.media {
		if !set[i] {
			out[i] = session
		}
		switch {
		case m.port == 0:
			out[i] = DirInactive
		case m.conn.IsValid() && m.conn.IsUnspecified():
			out[i] &^= DirRecv
		}
	}
	return out
}

func directionAttr(l sdpLine) (Direction, bool) {
	if l.typ != 'a' {
		return 0, false
	}
	switch l.value {
	case "sendrecv":
		return DirSendRecv, true
	case "sendonly":
		return DirSend, true
	case "recvonly":
		return DirRecv, true
	case "inactive":
		return DirInactive, true
	}
	return 0, false
}
