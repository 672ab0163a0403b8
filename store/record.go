package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// A binding record is a version byte, two big-endian int64 unix-nano times
// (created, expires) and then, in version 1, seven length-prefixed strings;
// version 2 puts a flags byte and two uvarints (max_call_seconds,
// warn_seconds) before twelve strings; version 3 (the SMS relay) adds a
// zig-zag varint, sms_grace_seconds, after them; version 4 a thirteenth
// string, the binding's webhook. It is compact and decodes with a
// single allocation, which matters on the call path (Lookup). Version 1
// records (written before AXN, AXE and policies) still decode, as AXB
// bindings with the default policy.
const (
	recordV1      = 1
	recordV2      = 2
	recordV3      = 3
	recordVersion = 4

	recordFieldsV1 = 7
	recordFieldsV2 = 12
	recordFields   = 13

	flagRecord = 1 << 0 // Policy.Record
)

var errBadRecord = errors.New("store: malformed binding record")

func recordStrings(b Binding) [recordFields]string {
	return [...]string{b.ID, string(b.Model), b.Pool, b.X, b.A, b.B, b.OrderID,
		b.Extension, b.Area, string(b.Policy.Direction), string(b.Policy.CallerDisplay), b.Policy.UserData, b.Policy.Webhook}
}

func encodeBinding(b Binding) []byte {
	fields := recordStrings(b)
	n := 1 + 16 + 1 + 3*binary.MaxVarintLen64
	for _, f := range fields {
		n += binary.MaxVarintLen32 + len(f)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, recordVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.CreatedAt.UnixNano()))
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.ExpiresAt.UnixNano()))
	var flags byte
	if b.Policy.Record {
		flags |= flagRecord
	}
	buf = append(buf, flags)
	// Validation keeps both non-negative.
	buf = binary.AppendUvarint(buf, uint64(b.Policy.MaxCallSeconds))
	buf = binary.AppendUvarint(buf, uint64(b.Policy.WarnSeconds))
	buf = binary.AppendVarint(buf, int64(b.Policy.SMSGraceSeconds))
	for _, f := range fields {
		buf = binary.AppendUvarint(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	return buf
}

// decodeBinding copies v (which bbolt owns only for the transaction) into one
// string and slices every field out of it.
func decodeBinding(v []byte) (Binding, error) {
	if len(v) < 17 || v[0] < recordV1 || v[0] > recordVersion {
		return Binding{}, errBadRecord
	}
	created := int64(binary.BigEndian.Uint64(v[1:]))
	expires := int64(binary.BigEndian.Uint64(v[9:]))
	s := string(v[17:])
	var (
		fields      [recordFields]string
		nfields     = recordFieldsV1
		flags       byte
		maxS, warnS uint64
		graceS      int64
	)
	if v[0] >= recordV2 {
		nfields = recordFieldsV2
		if s == "" || s[0]&^flagRecord != 0 {
			return Binding{}, fmt.Errorf("%w: flags", errBadRecord)
		}
		flags, s = s[0], s[1:]
		for _, p := range [2]*uint64{&maxS, &warnS} {
			n, k := uvarint(s)
			if k <= 0 || n > math.MaxInt32 {
				return Binding{}, fmt.Errorf("%w: policy seconds", errBadRecord)
			}
			*p, s = n, s[k:]
		}
	}
	if v[0] >= recordV3 {
		n, k := varint(s)
		if k <= 0 || n < NoSMSGrace || n > math.MaxInt32 {
			return Binding{}, fmt.Errorf("%w: sms grace", errBadRecord)
		}
		graceS, s = n, s[k:]
	}
	if v[0] >= recordVersion {
		nfields = recordFields
	}
	for i := range nfields {
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
		Extension: fields[7],
		Area:      fields[8],
		Policy: Policy{
			Direction:       Direction(fields[9]),
			MaxCallSeconds:  int(maxS),
			WarnSeconds:     int(warnS),
			CallerDisplay:   CallerDisplay(fields[10]),
			Record:          flags&flagRecord != 0,
			UserData:        fields[11],
			SMSGraceSeconds: int(graceS),
			Webhook:         fields[12],
		},
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

// varint is binary.Varint for a string, minimal forms only, like uvarint.
func varint(s string) (int64, int) {
	ux, k := uvarint(s)
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x, k
}
