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

// idLen is an ID's length: a prefix letter and 26 base32 characters.
const idLen = 27

// newID returns a binding ID: "b" and 26 base32 characters of a ULID-like
// value, 48 bits of unix milliseconds then 80 random bits. URL-safe and
// time-sortable.
func newID(now time.Time) (string, error) { return newPrefixedID('b', now) }

func newPrefixedID(prefix byte, now time.Time) (string, error) {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(raw[6:]); err != nil {
		return "", fmt.Errorf("store: id: %w", err)
	}
	return encodeID(prefix, raw), nil
}

func encodeID(prefix byte, raw [16]byte) string {
	hi := binary.BigEndian.Uint64(raw[:8])
	lo := binary.BigEndian.Uint64(raw[8:])
	var out [idLen]byte
	out[0] = prefix
	// 26 characters hold 130 bits; the top two are always zero.
	for i := idLen - 1; i >= 1; i-- {
		out[i] = idAlphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// idFloor is the smallest ID with prefix of the millisecond of t: every ID
// made at t or later sorts at or after it.
func idFloor(prefix byte, t time.Time) string {
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(ms)<<16)
	return encodeID(prefix, raw)
}

// timeOfID reads the millisecond an ID was made at.
func timeOfID(id string) (time.Time, bool) {
	if len(id) != idLen {
		return time.Time{}, false
	}
	var hi, lo uint64
	for i := 1; i < idLen; i++ {
		c := id[i]
		v := -1
		for j := 0; j < len(idAlphabet); j++ {
			if idAlphabet[j] == c {
				v = j
				break
			}
		}
		if v < 0 || (i == 1 && v >= 8) { // the top two of 130 bits are zero
			return time.Time{}, false
		}
		hi = hi<<5 | lo>>59
		lo = lo<<5 | uint64(v)
	}
	return time.UnixMilli(int64(hi >> 16)), true
}
