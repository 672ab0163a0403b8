package media

import (
	"encoding/binary"
	"errors"
)

// RTCP (RFC 3550 section 6) carries text a phone fills with its owner's
// identity: SDES CNAME is typically user@private-address or the number
// itself, and NAME, EMAIL, PHONE, LOC, TOOL, NOTE and PRIV say the rest.
// Relayed untouched it would hand each party the other's number, so every
// compound packet is rewritten in place before it is forwarded:
//
//   - SR, RR: report blocks untouched; profile-specific extensions zeroed.
//   - SDES: every item value overwritten with the sending side's token
//     (same length, so nothing is re-framed); PRIV becomes NOTE because the
//     filler would break PRIV's inner prefix length; null padding zeroed.
//   - BYE: SSRCs untouched; the reason text overwritten with the token.
//   - RTPFB, PSFB (NACK, PLI, FIR, REMB...): binary feedback, untouched.
//   - XR: kept when every block is one of RFC 3611's binary types (1-7);
//     an XR packet with any other block is removed from the compound.
//   - APP and any other packet type: removed from the compound, since its
//     contents cannot be known to be free of identity.
//
// Padding bytes (allowed on the last packet only) are zeroed except the count.
// A compound packet that breaks any framing rule is dropped whole: forwarding
// it raw could leak what the walk could not see.

// RTCP packet types (RFC 3550, 4585, 3611).
const (
	rtcpSR    = 200
	rtcpRR    = 201
	rtcpSDES  = 202
	rtcpBYE   = 203
	rtcpAPP   = 204
	rtcpRTPFB = 205
	rtcpPSFB  = 206
	rtcpXR    = 207
)

// SDES item types (RFC 3550 6.5).
const (
	sdesEnd  = 0
	sdesNote = 7
	sdesPriv = 8
)

// RFC 3611 block types 1-7 (loss/duplicate RLE, receipt times, receiver
// reference time, DLRR, statistics summary, VoIP metrics) hold numbers only.
const xrLastBinaryBlock = 7

// Errors of the walk; static so that a dropped packet costs no allocation.
var (
	errRTCPEmpty       = errors.New("rtcp: empty datagram")
	errRTCPTruncated   = errors.New("rtcp: datagram ends inside a packet header")
	errRTCPVersion     = errors.New("rtcp: version is not 2")
	errRTCPLength      = errors.New("rtcp: packet length runs past the datagram")
	errRTCPPaddingLast = errors.New("rtcp: padding bit on a packet that is not the last")
	errRTCPPadding     = errors.New("rtcp: padding count is zero, not a multiple of 4, or longer than the packet")
	errRTCPShort       = errors.New("rtcp: packet too short for its type and count")
	errSDESChunk       = errors.New("rtcp: SDES chunk runs past the packet")
	errSDESItem        = errors.New("rtcp: SDES item runs past the packet")
	errSDESTrailing    = errors.New("rtcp: SDES packet has bytes after its last chunk")
	errBYEReason       = errors.New("rtcp: BYE reason runs past the packet")
	errXRBlock         = errors.New("rtcp: XR block runs past the packet")
)

// rtcpTokenLen is long enough that two sessions' tokens do not collide in
// practice and short enough to fit the shortest real CNAMEs several times.
const rtcpTokenLen = 16

// rtcpToken is the text the relay puts in place of one side's RTCP text: lower
// case hex, the same for every packet of that side for the whole session, so
// the receiver sees one consistent CNAME per sender (RFC 3550 wants CNAME
// stable; lip sync across streams relies on it).
type rtcpToken [rtcpTokenLen]byte

// newRTCPToken derives a side's token from the session's two random origin
// ids. The ids are the relay's own (no party's data) and mixing them keeps a
// party from relating the token to the o= it was shown.
func newRTCPToken(idA, idB uint64, side Side) rtcpToken {
	x := mix64(idA ^ mix64(idB^uint64(side+1)))
	y := mix64(x ^ 0x9e3779b97f4a7c15)
	const hex = "0123456789abcdef"
	var t rtcpToken
	for i := range 8 {
		t[i] = hex[x>>(4*i)&0xf]
		t[8+i] = hex[y>>(4*i)&0xf]
	}
	return t
}

// mix64 is SplitMix64's finaliser: every input bit affects every output bit.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// rtcpToken returns the token for RTCP sent by side. The origin ids are set
// in newSession and never change, so reading them needs no lock.
func (s *Session) rtcpToken(side Side) rtcpToken {
	return newRTCPToken(s.origin[SideA].id, s.origin[SideB].id, side)
}

// fill overwrites text with the token, repeated or cut to its length.
func (t *rtcpToken) fill(text []byte) {
	for i := range text {
		text[i] = t[i%rtcpTokenLen]
	}
}

// isMuxedRTCP tells RTCP arriving on an RTP port (a=rtcp-mux, RFC 5761
// section 4: the second octet of RTCP is 192-223, which RTP payload types
// may not use when muxing).
func isMuxedRTCP(p []byte) bool { return len(p) >= 2 && p[1] >= 192 && p[1] <= 223 }

// scrubRTCP rewrites the compound RTCP packet p in place as described at the
// top of this file and returns the length of what is left to send in p[:n].
// n is 0 with a nil error when every packet was removed (a lone APP). On
// error p must not be sent: it may be half rewritten. It never reads outside
// p, never grows it and allocates nothing.
func scrubRTCP(p []byte, tok *rtcpToken) (n int, err error) {
	if len(p) == 0 {
		return 0, errRTCPEmpty
	}
	w := 0 // packets kept so far are p[:w]
	for r := 0; r < len(p); {
		if len(p)-r < 4 {
			return 0, errRTCPTruncated
		}
		if p[r]>>6 != 2 {
			return 0, errRTCPVersion
		}
		size := 4 * (int(binary.BigEndian.Uint16(p[r+2:])) + 1)
		if size > len(p)-r {
			return 0, errRTCPLength
		}
		pkt := p[r : r+size]
		content := size
		if pkt[0]&0x20 != 0 {
			if r+size != len(p) {
				return 0, errRTCPPaddingLast
			}
			pad := int(pkt[size-1])
			if pad == 0 || pad%4 != 0 || pad > size-4 {
				return 0, errRTCPPadding
			}
			content = size - pad
			clear(pkt[content : size-1])
		}
		keep, err := scrubPacket(pkt[:content], tok)
		if err != nil {
			return 0, err
		}
		if keep {
			if w != r { // move left over the packets removed before it
				copy(p[w:], pkt)
			}
			w += size
		}
		r += size
	}
	return w, nil
}

// scrubPacket scrubs one packet (header included, padding excluded) and says
// whether it stays in the compound.
func scrubPacket(pkt []byte, tok *rtcpToken) (keep bool, err error) {
	count := int(pkt[0] & 0x1f)
	switch pkt[1] {
	case rtcpSR, rtcpRR:
		blocks := 8 + 24*count // header, sender SSRC, report blocks
		if pkt[1] == rtcpSR {
			blocks += 20 // NTP and RTP timestamps, packet and octet counts
		}
		if blocks > len(pkt) {
			return false, errRTCPShort
		}
		clear(pkt[blocks:])
		return true, nil
	case rtcpSDES:
		return true, scrubSDES(pkt, count, tok)
	case rtcpBYE:
		return true, scrubBYE(pkt, count, tok)
	case rtcpRTPFB, rtcpPSFB:
		if len(pkt) < 12 { // header, sender SSRC, media SSRC
			return false, errRTCPShort
		}
		return true, nil
	case rtcpXR:
		return xrIsBinary(pkt)
	case rtcpAPP:
		if len(pkt) < 12 { // header, SSRC, name
			return false, errRTCPShort
		}
		return false, nil
	}
	return false, nil
}

// scrubSDES overwrites every item value of every chunk. A chunk is an SSRC,
// items (type, length, value) and a null type octet padded with nulls to the
// next 32-bit boundary.
func scrubSDES(pkt []byte, chunks int, tok *rtcpToken) error {
	i := 4
	for range chunks {
		if len(pkt)-i < 4 {
			return errSDESChunk
		}
		i += 4 // SSRC/CSRC
		for {
			if i >= len(pkt) {
				return errSDESItem
			}
			if pkt[i] == sdesEnd {
				end := (i + 4) &^ 3 // pkt starts on a boundary
				if end > len(pkt) {
					return errSDESItem
				}
				clear(pkt[i:end])
				i = end
				break
			}
			if len(pkt)-i < 2 || len(pkt)-i-2 < int(pkt[i+1]) {
				return errSDESItem
			}
			if pkt[i] == sdesPriv {
				pkt[i] = sdesNote
			}
			value := pkt[i+2 : i+2+int(pkt[i+1])]
			tok.fill(value)
			i += 2 + len(value)
		}
	}
	if i != len(pkt) {
		return errSDESTrailing
	}
	return nil
}

// scrubBYE overwrites the optional reason text and zeroes what follows it.
func scrubBYE(pkt []byte, sources int, tok *rtcpToken) error {
	i := 4 + 4*sources
	if i > len(pkt) {
		return errRTCPShort
	}
	if i == len(pkt) {
		return nil
	}
	reason := int(pkt[i])
	if len(pkt)-i-1 < reason {
		return errBYEReason
	}
	tok.fill(pkt[i+1 : i+1+reason])
	clear(pkt[i+1+reason:])
	return nil
}

// xrIsBinary walks the XR report blocks (RFC 3611 section 3: type, type
// specific byte, length in 32-bit words minus one) and says whether all of
// them are of a type that holds numbers only.
func xrIsBinary(pkt []byte) (keep bool, err error) {
	if len(pkt) < 8 {
		return false, errRTCPShort
	}
	keep = true
	for i := 8; i < len(pkt); {
		if len(pkt)-i < 4 {
			return false, errXRBlock
		}
		size := 4 * (int(binary.BigEndian.Uint16(pkt[i+2:])) + 1)
		if size > len(pkt)-i {
			return false, errXRBlock
		}
		if bt := pkt[i]; bt == 0 || bt > xrLastBinaryBlock {
			keep = false
		}
		i += size
	}
	return keep, nil
}
