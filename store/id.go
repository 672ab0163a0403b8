package store

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"
)

// idAlphabet is Crockford's base32 in lower case. Its bytes ascend, so IDs
// sort by creation time (to the millisecond) as plain strings.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// newID returns "b" and 26 base32 characters of a ULID-like value: 48 bits of
// unix milliseconds, then 80 random bits. URL-safe and time-sortable.
func newID(now time.Time) (string, error) {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(raw[6:]); err != nil {
		return "", fmt.Errorf("store: binding id: %w", err)
	}
	hi := binary.BigEndian.Uint64(raw[:8])
	lo := binary.BigEndian.Uint64(raw[8:])
	var out [27]byte
	out[0] = 'b'
	// 26 characters hold 130 bits; the top two are always zero.
	for i := 26; i >= 1; i-- {
		out[i] = idAlphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:]), nil
}
