package media

import (
	"encoding/binary"
	"fmt"
	"time"
)

// RFC 4733 telephone-events: the digits a phone sends as RTP packets of the
// telephone-event payload type negotiated in SDP. One key press is one
// event: a first packet (marker bit set), then one every 20 ms or so with
// the same RTP timestamp (the event's start) and a growing duration, and
// three packets with the end bit (RFC 4733 2.5.1.4). A long press may be
// cut into segments with new timestamps; phones do not do it for digits.

// Digit is a key: '0'-'9', '*', '#', 'A'-'D'.
type Digit byte

func (d Digit) String() string { return string(rune(d)) }

// digitEvents maps event codes 0-15 (RFC 4733 3.2) to keys.
const digitEvents = "0123456789*#ABCD"

// DigitOfEvent is the key of a telephone-event code; ok is false for codes
// that are no key (flash, the tones of RFC 4734).
func DigitOfEvent(code byte) (d Digit, ok bool) {
	if int(code) >= len(digitEvents) {
		return 0, false
	}
	return Digit(digitEvents[code]), true
}

// EventOfDigit is the telephone-event code of a key; ok is false for a byte
// that is no key. Lower-case a-d are taken as A-D.
func EventOfDigit(d Digit) (code byte, ok bool) {
	if 'a' <= d && d <= 'd' {
		d -= 'a' - 'A'
	}
	for i := 0; i < len(digitEvents); i++ {
		if digitEvents[i] == byte(d) {
			return byte(i), true
		}
	}
	return 0, false
}

// rtpPayload is the payload of an RTP packet (RFC 3550 5.1: fixed header,
// CSRC list, extension, padding); ok is false when the packet does not
// frame.
func rtpPayload(p []byte) (payload []byte, ok bool) {
	if len(p) < 12 || p[0]>>6 != 2 {
		return nil, false
	}
	off := 12 + 4*int(p[0]&0x0F)
	if p[0]&0x10 != 0 { // extension
		if len(p) < off+4 {
			return nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(p[off+2:]))
	}
	end := len(p)
	if p[0]&0x20 != 0 { // padding: the last byte counts it
		if end == 0 || int(p[end-1]) == 0 || int(p[end-1]) > end-off {
			return nil, false
		}
		end -= int(p[end-1])
	}
	if off > end {
		return nil, false
	}
	return p[off:end], true
}

// EventDecoder turns a stream of telephone-event RTP packets into keys,
// each exactly once: a key is reported by the first packet of its event
// that arrives (so a lost start, or an event of which only the end packets
// arrive, still counts, and barge-in needs no wait for the end), and every
// later packet of the same event (same SSRC, timestamp and code: the
// repeats and the three end packets) is ignored. A packet of an event
// older than the latest (reordered by the network) is ignored too. The
// zero value is ready; it allocates nothing.
//
// A key held longer than a duration field can say (65535 samples, 8 s)
// goes on in segments with new timestamps, each starting where the last
// ended and without the marker bit (RFC 4733 2.5.1.3): those are the same
// press, and report nothing.
type EventDecoder struct {
	started bool
	ssrc    uint32
	ts      uint32 // RTP timestamp of the latest event (segment)
	dur     uint16 // the longest duration seen in it
	code    byte
}

// Decode takes one RTP packet (header included) whose payload type is the
// telephone-event one and returns the key it starts, if it starts one.
// A packet that does not frame, or carries an event that is no key, yields
// nothing.
func (e *EventDecoder) Decode(pkt []byte) (Digit, bool) {
	payload, ok := rtpPayload(pkt)
	if !ok || len(payload) < 4 {
		return 0, false
	}
	ssrc := binary.BigEndian.Uint32(pkt[8:])
	ts := binary.BigEndian.Uint32(pkt[4:])
	code, dur, marker := payload[0], binary.BigEndian.Uint16(payload[2:]), pkt[1]&0x80 != 0
	if e.started && ssrc == e.ssrc {
		switch {
		case ts == e.ts && code == e.code:
			e.dur = max(e.dur, dur)
			return 0, false // a repeat or an end packet of the event reported
		case int32(ts-e.ts) < 0:
			return 0, false // a late packet of an earlier event
		case code == e.code && !marker && ts == e.ts+uint32(e.dur):
			e.ts, e.dur = ts, dur // the next segment of a long press
			return 0, false
		}
	}
	// A new sender (SSRC) starts over: a phone's new stream after a
	// re-INVITE, whose timestamps start anywhere.
	d, isKey := DigitOfEvent(code)
	if !isKey {
		return 0, false
	}
	e.started, e.ssrc, e.ts, e.dur, e.code = true, ssrc, ts, dur, code
	return d, true
}

// EventWriter makes the packets a phone sends for a key: for tests, and for
// the pcap a SIPp scenario replays. It keeps its SSRC and sequence across
// keys.
type EventWriter struct {
	PT   uint8 // the negotiated telephone-event payload type
	SSRC uint32
	Seq  uint16 // sequence number of the next packet
}

// Event returns the packets of one key press starting at RTP timestamp ts
// and lasting d (at least 40 ms): a first packet with the marker bit, one
// per 20 ms with the duration so far, and three end packets with the final
// duration, volume -10 dBm0, as RFC 4733 2.5 describes.
func (w *EventWriter) Event(key Digit, ts uint32, d time.Duration) ([][]byte, error) {
	code, ok := EventOfDigit(key)
	if !ok {
		return nil, fmt.Errorf("media: %q is not a DTMF key", byte(key))
	}
	n := frames(d)
	if n < 2 || n > 0xFFFF/frameSamples {
		return nil, fmt.Errorf("media: key press of %v: want 40 ms to 8 s", d)
	}
	var out [][]byte
	packet := func(marker, end bool, duration int) {
		p := make([]byte, 16)
		p[0] = 0x80
		p[1] = w.PT & 0x7F
		if marker {
			p[1] |= 0x80
		}
		binary.BigEndian.PutUint16(p[2:], w.Seq)
		binary.BigEndian.PutUint32(p[4:], ts)
		binary.BigEndian.PutUint32(p[8:], w.SSRC)
		p[12] = code
		p[13] = 10 // volume: -10 dBm0
		if end {
			p[13] |= 0x80
		}
		binary.BigEndian.PutUint16(p[14:], uint16(duration))
		w.Seq++
		out = append(out, p)
	}
	for i := 1; i < n; i++ {
		packet(i == 1, false, i*frameSamples)
	}
	for range 3 {
		packet(false, true, n*frameSamples)
	}
	return out, nil
}
