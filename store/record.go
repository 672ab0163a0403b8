package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A binding record is a version byte, two big-endian int64 unix-nano times
// (created, expires) and seven length-prefixed strings. It is compact and
// decodes with a single allocation, which matters on the call path (Lookup).
const recordVersion = 1

var errBadRecord = errors.New("store: malformed binding record")

func encodeBinding(b Binding) []byte {
	fields := [...]string{b.ID, string(b.Model), b.Pool, b.X, b.A, b.B, b.OrderID}
	n := 1 + 16
	for _, f := range fields {
		n += binary.MaxVarintLen32 + len(f)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, recordVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.CreatedAt.UnixNano()))
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.ExpiresAt.UnixNano()))
	for _, f := range fields {
		buf = binary.AppendUvarint(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	return buf
}

// decodeBinding copies v (which bbolt owns only for the transaction) into one
// string and slices every field out of it.
func decodeBinding(v []byte) (Binding, error) {
	if len(v) < 17 || v[0] != recordVersion {
		return Binding{}, errBadRecord
	}
	created := int64(binary.BigEndian.Uint64(v[1:]))
	expires := int64(binary.BigEndian.Uint64(v[9:]))
	s := string(v[17:])
	var fields [7]string
	for i := range fields {
		n, k := uvarint(s)
		if k <= 0 || n > uint64(len(s)-k) {
			return Binding{}, fmt.Errorf("%w: field %d", errBadRecord, i)
		}
		fields[i] = s[k : k+int(n)]
		s = s[k+int(n):]
	}
	if s != "" {
		return Binding{}, fmt.Errorf("%w: %d trailing bytes", errBadRecord, len(s))
	}
	return Binding{
		ID:        fields[0],
		Model:     Model(fields[1]),
		Pool:      fields[2],
		X:         fields[3],
		A:         fields[4],
		B:         fields[5],
		OrderID:   fields[6],
		CreatedAt: unixNano(created),
		ExpiresAt: unixNano(expires),
	}, nil
}

// unixNano gives times in UTC without a monotonic reading, so a binding read
// back compares equal (==) to the one CreateBinding returned.
func unixNano(n int64) time.Time { return time.Unix(0, n).UTC() }

// uvarint is binary.Uvarint for a string, to avoid copying the record back
// into a byte slice. It returns k <= 0 on a short, overlong or non-minimal
// varint, so every record has exactly one encoding.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, 0 // not the shortest form: encodeBinding never writes it
			}
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}
