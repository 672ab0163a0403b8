package store

import (
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
	f.Fuzz(func(t *testing.T, v []byte) {
		b, err := decodeBinding(v)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same bytes.
		if got := encodeBinding(b); string(got) != string(v) {
			t.Fatalf("re-encoding %+v gave %x, want %x", b, got, v)
		}
	})
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
