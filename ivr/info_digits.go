package ivr

import (
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
)

// A phone that does not send RFC 4733 events reports a key press in a SIP
// INFO, in one of two bodies that are conventions rather than standards:
//
//	application/dtmf-relay   "Signal=5\r\nDuration=160\r\n" (Cisco's, the common one)
//	application/dtmf         "5"
//
// Some send the dtmf-relay form under application/dtmf, some write * and #
// as the event codes 10 and 11 of RFC 4733; both are read.

var (
	// ErrNotDigits: the INFO carries another kind of body; it is not a key
	// press (the engine answers 415 while it collects digits).
	ErrNotDigits = errors.New("not a dtmf body")
	// ErrBadDigit: a DTMF body that names no key.
	ErrBadDigit = errors.New("dtmf body names no key")
)

// maxInfoBody bounds what is read of an INFO body: a key press is a few
// bytes.
const maxInfoBody = 256

// DigitFromInfo reads the key an INFO reports: '0'-'9', '*', '#', 'A'-'D'.
func DigitFromInfo(contentType string, body []byte) (byte, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, fmt.Errorf("%w: content type %q", ErrNotDigits, contentType)
	}
	if mt != "application/dtmf-relay" && mt != "application/dtmf" {
		return 0, fmt.Errorf("%w: %s", ErrNotDigits, mt)
	}
	if len(body) > maxInfoBody {
		return 0, fmt.Errorf("%w: %d-byte body", ErrBadDigit, len(body))
	}
	text := strings.TrimSpace(string(body))
	if !strings.ContainsRune(text, '=') {
		return keyOf(text)
	}
	for line := range strings.SplitSeq(text, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
			return keyOf(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("%w: no Signal line", ErrBadDigit)
}

// keyOf reads one key, written as itself or as an RFC 4733 event code.
func keyOf(s string) (byte, error) {
	if len(s) == 1 {
		if k, ok := normalKey(s[0]); ok {
			return k, nil
		}
	}
	if code, err := strconv.Atoi(s); err == nil && code >= 0 && code <= 15 {
		return EventKey(code), nil
	}
	return 0, fmt.Errorf("%w: %q", ErrBadDigit, truncate(s, 16))
}

// EventKey is the key of an RFC 4733 DTMF event code (0-15); 0 for others.
func EventKey(code int) byte {
	switch {
	case code >= 0 && code <= 9:
		return byte('0' + code)
	case code == 10:
		return '*'
	case code == 11:
		return '#'
	case code >= 12 && code <= 15:
		return byte('A' + code - 12)
	}
	return 0
}

func normalKey(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9', c == '*', c == '#':
		return c, true
	case c >= 'A' && c <= 'D':
		return c, true
	case c >= 'a' && c <= 'd':
		return c - 'a' + 'A', true
	}
	return 0, false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
