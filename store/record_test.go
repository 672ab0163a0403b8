package store

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("CST", 8*3600))
	tests := []Binding{
		{},
		{ID: "b01", Model: ModelAXB, Pool: "p", X: "1700000001", A: "13800000001", B: "13900000001", CreatedAt: at, ExpiresAt: at.Add(time.Hour)},
		{ID: "b02", Model: ModelAXB, Pool: "p", X: "1", A: "2", B: "3", OrderID: strings.Repeat("o", 300), CreatedAt: at, ExpiresAt: at},
		{ID: "b03", Model: ModelAXE, Pool: "p", X: "1700000001", A: "13800000001", Extension: "0042", Area: "010",
			Policy:    Policy{MaxCallSeconds: 600, WarnSeconds: 60, CallerDisplay: DisplayReal, Record: true, UserData: strings.Repeat("u", 2048)},
			CreatedAt: at, ExpiresAt: at.Add(time.Hour)},
		{ID: "b04", Model: ModelAXB, Pool: "p", X: "1700000001", A: "13800000001", B: "13900000001",
			Policy: Policy{Direction: DirectionAToB, MaxCallSeconds: 1 << 30}, CreatedAt: at, ExpiresAt: at},
		{ID: "b05", Model: ModelAXN, Pool: "p", X: "1700000001", A: "13800000001", Policy: Policy{SMSGraceSeconds: NoSMSGrace}, CreatedAt: at, ExpiresAt: at},
		{ID: "b06", Model: ModelAXB, Pool: "p", X: "1700000001", A: "13800000001", B: "13900000001", Policy: Policy{SMSGraceSeconds: 86400 * 7}, CreatedAt: at, ExpiresAt: at},
		{ID: "b07", Model: ModelAXB, Pool: "p", X: "1700000001", A: "13800000001", B: "13900000001", Policy: Policy{Webhook: "https://platform.example/hooks/b07"}, CreatedAt: at, ExpiresAt: at},
	}
	for _, b := range tests {
		got, err := decodeBinding(encodeBinding(b))
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", b, err)
		}
		want := b
		want.CreatedAt = unixNano(b.CreatedAt.UnixNano())
		want.ExpiresAt = unixNano(b.ExpiresAt.UnixNano())
		if got != want {
			t.Fatalf("round trip gave %+v, want %+v", got, want)
		}
		if !got.ExpiresAt.Equal(b.ExpiresAt) && !b.ExpiresAt.IsZero() {
			t.Fatalf("expiry moved: %v vs %v", got.ExpiresAt, b.ExpiresAt)
		}
	}
}

func TestRecordMalformed(t *testing.T) {
	good := encodeBinding(Binding{ID: "b1", Pool: "p", X: "1700000001", A: "13800000001", B: "13900000001"})
	tests := map[string][]byte{
		"empty":         nil,
		"short":         good[:10],
		"wrong version": append([]byte{9}, good[1:]...),
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte{}, good...), 'x'),
		"huge length":   append(append([]byte{}, good[:17]...), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"bad varint":    append(append([]byte{}, good[:17]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	}
	for name, v := range tests {
		t.Run(name, func(t *testing.T) {
			if b, err := decodeBinding(v); !errors.Is(err, errBadRecord) {
				t.Fatalf("decode = %+v, %v; want errBadRecord", b, err)
			}
		})
	}
}

func FuzzDecodeBinding(f *testing.F) {
	f.Add(encodeBinding(Binding{ID: "b1", Pool: "p", X: "1700000001", A: "138", B: "139", OrderID: "o"}))
	f.Add([]byte{1})
	f.Add(encodeBindingV1(Binding{ID: "b1", Model: ModelAXB, Pool: "p", X: "1700000001", A: "138", B: "139"}))
	f.Add(encodeBindingV2(Binding{ID: "b1", Model: ModelAXE, Pool: "p", X: "1700000001", A: "138", Extension: "12", Policy: Policy{Record: true}}))
	f.Add(encodeBindingV3(Binding{ID: "b1", Model: ModelAXB, Pool: "p", X: "1700000001", A: "138", B: "139", Policy: Policy{SMSGraceSeconds: 60}}))
	f.Fuzz(func(t *testing.T, v []byte) {
		b, err := decodeBinding(v)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same bytes (in the
		// version it was written in).
		enc := encodeBinding
		switch v[0] {
		case recordV1:
			enc = encodeBindingV1
		case recordV2:
			enc = encodeBindingV2
		case recordV3:
			enc = encodeBindingV3
		}
		if got := enc(b); string(got) != string(v) {
			t.Fatalf("re-encoding %+v gave %x, want %x", b, got, v)
		}
	})
}

// encodeBindingV1 writes a record as the store did before AXN, AXE and
// policies: files written then must still open.
func encodeBindingV1(b Binding) []byte {
	buf := []byte{recordV1}
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.CreatedAt.UnixNano()))
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.ExpiresAt.UnixNano()))
	for _, f := range [...]string{b.ID, string(b.Model), b.Pool, b.X, b.A, b.B, b.OrderID} {
		buf = binary.AppendUvarint(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	return buf
}

// encodeBindingV2 writes a record as the store did before the SMS relay
// (no sms_grace_seconds).
func encodeBindingV2(b Binding) []byte {
	buf := []byte{recordV2}
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.CreatedAt.UnixNano()))
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.ExpiresAt.UnixNano()))
	var flags byte
	if b.Policy.Record {
		flags |= flagRecord
	}
	buf = append(buf, flags)
	buf = binary.AppendUvarint(buf, uint64(b.Policy.MaxCallSeconds))
	buf = binary.AppendUvarint(buf, uint64(b.Policy.WarnSeconds))
	fields := recordStrings(b)
	for _, f := range fields[:recordFieldsV2] {
		buf = binary.AppendUvarint(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	return buf
}

// encodeBindingV3 writes a record as the store did before per-binding
// webhooks.
func encodeBindingV3(b Binding) []byte {
	buf := []byte{recordV3}
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.CreatedAt.UnixNano()))
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.ExpiresAt.UnixNano()))
	var flags byte
	if b.Policy.Record {
		flags |= flagRecord
	}
	buf = append(buf, flags)
	buf = binary.AppendUvarint(buf, uint64(b.Policy.MaxCallSeconds))
	buf = binary.AppendUvarint(buf, uint64(b.Policy.WarnSeconds))
	buf = binary.AppendVarint(buf, int64(b.Policy.SMSGraceSeconds))
	fields := recordStrings(b)
	for _, f := range fields[:recordFieldsV2] {
		buf = binary.AppendUvarint(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	return buf
}

// TestRecordV2Decodes: a version 2 record reads with the pool's SMS grace.
func TestRecordV2Decodes(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	want := Binding{ID: "b01", Model: ModelAXE, Pool: "p", X: "1700000001", A: "13800000001", Extension: "0042",
		Policy: Policy{MaxCallSeconds: 60, Record: true, UserData: "u"}, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	got, err := decodeBinding(encodeBindingV2(want))
	if err != nil || got != want {
		t.Fatalf("decode v2 = %+v, %v; want %+v", got, err, want)
	}
}

// TestRecordV3Decodes: a version 3 record reads with no webhook of its
// own.
func TestRecordV3Decodes(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	want := Binding{ID: "b01", Model: ModelAXB, Pool: "p", X: "1700000001", A: "13800000001", B: "13900000001",
		Policy: Policy{SMSGraceSeconds: NoSMSGrace}, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	got, err := decodeBinding(encodeBindingV3(want))
	if err != nil || got != want {
		t.Fatalf("decode v3 = %+v, %v; want %+v", got, err, want)
	}
}

// TestRecordV1Decodes: a version 1 record reads as the AXB binding it was,
// with the default (zero) policy.
func TestRecordV1Decodes(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	want := Binding{ID: "b01", Model: ModelAXB, Pool: "p", X: "1700000001", A: "13800000001", B: "13900000001",
		OrderID: "o-1", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	got, err := decodeBinding(encodeBindingV1(want))
	if err != nil || got != want {
		t.Fatalf("decode v1 = %+v, %v; want %+v", got, err, want)
	}
	if got.Policy != (Policy{}) || got.Extension != "" {
		t.Fatalf("v1 record has policy %+v extension %q", got.Policy, got.Extension)
	}
}

// TestRecordDecodeAllocs: decoding stays one allocation, whatever the version, since
// Lookup decodes on every call.
func TestRecordDecodeAllocs(t *testing.T) {
	b := Binding{ID: "b01", Model: ModelAXB, Pool: "p", X: "1700000001", A: "13800000001", B: "13900000001",
		Policy: Policy{Direction: DirectionAToB, UserData: "u"}}
	for name, v := range map[string][]byte{"v1": encodeBindingV1(b), "v2": encodeBindingV2(b), "v3": encodeBindingV3(b), "v4": encodeBinding(b)} {
		if n := testing.AllocsPerRun(100, func() { _, _ = decodeBinding(v) }); n != 1 {
			t.Errorf("%s: decode costs %v allocations, want 1", name, n)
		}
	}
}

func TestNewID(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 2000 {
		id, err := newID(base.Add(time.Duration(i) * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 27 || id[0] != 'b' {
			t.Fatalf("id %q: want b and 26 characters", id)
		}
		for _, c := range id[1:] {
			if !strings.ContainsRune(idAlphabet, c) {
				t.Fatalf("id %q has %q outside the alphabet", id, c)
			}
		}
		if seen[id] {
			t.Fatalf("id %q twice", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("id %q made a millisecond after %q sorts before it", id, prev)
		}
		prev = id
	}
	// Same millisecond: still unique.
	a, _ := newID(base)
	b, _ := newID(base)
	if a == b || a[:10] != b[:10] {
		t.Fatalf("same-millisecond ids %q %q: want a shared time prefix and a different tail", a, b)
	}
}
