package dtmfpcap

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadKey: a character that is no key of a telephone keypad.
var ErrBadKey = errors.New("dtmfpcap: not a DTMF key")

// eventVolume is the power level a phone reports for its tones, -10 dBm0
// (RFC 4733 section 2.3.4 writes it as the positive number 10).
const eventVolume = 10

// EventCode is the RFC 4733 event code (section 3.2) of a key: '0'-'9' are
// 0-9, '*' 10, '#' 11, 'A'-'D' 12-15.
func EventCode(key byte) (uint8, error) {
	switch {
	case key >= '0' && key <= '9':
		return key - '0', nil
	case key == '*':
		return 10, nil
	case key == '#':
		return 11, nil
	case key >= 'A' && key <= 'D':
		return key - 'A' + 12, nil
	case key >= 'a' && key <= 'd':
		return key - 'a' + 12, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrBadKey, key)
}

// appendEvent appends the four bytes of a telephone-event payload
// (RFC 4733 section 2.3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	|     event     |E|R| volume    |          duration             |
//
// R is reserved and always 0.
func appendEvent(b []byte, code uint8, end bool, duration uint16) []byte {
	flags := byte(eventVolume)
	if end {
		flags |= 0x80
	}
	b = append(b, code, flags)
	return binary.BigEndian.AppendUint16(b, duration)
}
