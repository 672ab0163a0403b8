package media

import (
	"encoding/binary"
	"testing"
	"time"
)

// press is the packets of one key press, as a phone sends them.
func press(t testing.TB, w *EventWriter, key Digit, ts uint32) [][]byte {
	t.Helper()
	p, err := w.Event(key, ts, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeAll(d *EventDecoder, pkts [][]byte) string {
	var out []byte
	for _, p := range pkts {
		if k, ok := d.Decode(p); ok {
			out = append(out, byte(k))
		}
	}
	return string(out)
}

func cat(parts ...[][]byte) [][]byte {
	var out [][]byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestEventWriterPackets(t *testing.T) {
	w := &EventWriter{PT: 101, SSRC: 7, Seq: 65535}
	p := press(t, w, '#', 8000)
	// 100 ms: 4 packets of 20, 40, 60, 80 ms, then 3 ends of 100 ms.
	if len(p) != 7 {
		t.Fatalf("%d packets, want 7", len(p))
	}
	for i, pkt := range p {
		marker := pkt[1]&0x80 != 0
		end := pkt[13]&0x80 != 0
		dur := binary.BigEndian.Uint16(pkt[14:])
		if pkt[1]&0x7F != 101 || pkt[12] != 11 || binary.BigEndian.Uint32(pkt[4:]) != 8000 || marker != (i == 0) ||
			end != (i >= 4) || int(dur) != min(i+1, 5)*160 || binary.BigEndian.Uint16(pkt[2:]) != uint16(65535+uint32(i)) {
			t.Errorf("packet %d: %x", i, pkt)
		}
	}
	if w.Seq != 6 { // 65535 + 7, wrapped
		t.Errorf("next seq %d", w.Seq)
	}
	if _, err := w.Event('x', 0, time.Second); err == nil {
		t.Error("key x accepted")
	}
	if _, err := w.Event('1', 0, 20*time.Millisecond); err == nil {
		t.Error("20 ms press accepted")
	}
}

// TestEventDecoder: each key press gives its key once, whatever the
// network does to its packets.
func TestEventDecoder(t *testing.T) {
	w := &EventWriter{PT: 101, SSRC: 0xabc}
	one, two, three := press(t, w, '1', 1000), press(t, w, '2', 3000), press(t, w, '3', 5000)
	again := press(t, w, '3', 7000) // the same key pressed again: a new event
	other := &EventWriter{PT: 101, SSRC: 0xdef}
	restart := press(t, other, '9', 10) // a new sender whose timestamps start lower
	cases := []struct {
		name string
		pkts [][]byte
		want string
	}{
		{"three keys", cat(one, two, three), "123"},
		{"the same key twice", cat(three, again), "33"},
		{"start lost", cat(one[2:], two[1:]), "12"},
		{"only the end packets arrive", cat(one[4:], two[4:]), "12"},
		{"end packets duplicated", cat(one, one[4:], one[4:], two), "12"},
		{"whole event duplicated", cat(one, one, two), "12"},
		{"a late packet of the previous event", cat(one[:3], two[:2], one[3:4], two[2:]), "12"},
		{"a new SSRC starts over", cat(one, restart), "19"},
		{"a long press in two segments", cat(one, nextSegment(one, 1000+800, 160)), "1"},
		{"the same key again right after, with the marker", cat(one, markFirst(nextSegment(one, 1000+800, 160))), "11"},
		{"not a key (flash, event 16)", [][]byte{withCode(one[0], 16), two[0]}, "2"},
		{"too short", [][]byte{one[0][:15], two[0]}, "2"},
		{"nothing", nil, ""},
	}
	for _, c := range cases {
		var d EventDecoder
		if got := decodeAll(&d, c.pkts); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// "1234#" keyed, with every packet sent twice: five keys.
	var d EventDecoder
	var all [][]byte
	for i, k := range "1234#" {
		for _, p := range press(t, w, Digit(k), uint32(20000+i*2000)) {
			all = append(all, p, p)
		}
	}
	if got := decodeAll(&d, all); got != "1234#" {
		t.Errorf("1234# with duplicates: %q", got)
	}
}

// nextSegment is the next segment of the press pkts: a packet of the same key
// at timestamp ts lasting dur, without the marker bit.
func nextSegment(pkts [][]byte, ts uint32, dur uint16) [][]byte {
	p := append([]byte(nil), pkts[0]...)
	p[1] &^= 0x80
	binary.BigEndian.PutUint32(p[4:], ts)
	binary.BigEndian.PutUint16(p[14:], dur)
	return [][]byte{p}
}

func markFirst(pkts [][]byte) [][]byte {
	pkts[0][1] |= 0x80
	return pkts
}

func withCode(p []byte, code byte) []byte {
	q := append([]byte(nil), p...)
	q[12] = code
	return q
}

// TestRTPPayload: the decoder finds the event behind CSRCs, an extension
// and padding, and refuses packets that do not frame.
func TestRTPPayload(t *testing.T) {
	ev := []byte{5, 0x0a, 0, 160}
	hdr := []byte{0x80, 101, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1}
	cases := []struct {
		name string
		pkt  []byte
		ok   bool
	}{
		{"plain", append(append([]byte{}, hdr...), ev...), true},
		{"csrc", append(append([]byte{0x81, 101, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1}, 1, 2, 3, 4), ev...), true},
		{"extension", append(append([]byte{0x90, 101, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1}, 0xBE, 0xDE, 0, 1, 1, 2, 3, 4), ev...), true},
		{"padding", append(append([]byte{0xA0, 101, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1}, ev...), 0, 0, 3), true},
		{"padding too long", append(append([]byte{0xA0, 101, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1}, ev...), 0, 0, 30), false},
		{"extension past end", []byte{0x90, 101, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1, 0xBE, 0xDE, 0, 9}, false},
		{"csrc past end", []byte{0x8F, 101, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1}, false},
		{"version 1", append([]byte{0x40, 101, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1}, ev...), false},
	}
	for _, c := range cases {
		var d EventDecoder
		k, ok := d.Decode(c.pkt)
		if ok != c.ok || ok && k != '5' {
			t.Errorf("%s: %q %v, want ok=%v", c.name, k, ok, c.ok)
		}
	}
}

func TestDigitEvents(t *testing.T) {
	for code := byte(0); code < 16; code++ {
		d, ok := DigitOfEvent(code)
		back, ok2 := EventOfDigit(d)
		if !ok || !ok2 || back != code {
			t.Errorf("event %d -> %q -> %d", code, d, back)
		}
	}
	if c, ok := EventOfDigit('b'); !ok || c != 13 {
		t.Errorf("b -> %d %v", c, ok)
	}
	if _, ok := DigitOfEvent(16); ok {
		t.Error("flash is a key")
	}
}

func FuzzEventDecoder(f *testing.F) {
	w := &EventWriter{PT: 101, SSRC: 1}
	for _, p := range press(f, w, '7', 99) {
		f.Add(p)
	}
	f.Add([]byte{0xBF, 101, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var d EventDecoder
		k, ok := d.Decode(pkt)
		if ok {
			if _, isKey := EventOfDigit(k); !isKey {
				t.Fatalf("decoded %q", k)
			}
			// The same packet again is a repeat.
			if _, again := d.Decode(pkt); again {
				t.Fatal("one packet decoded twice")
			}
		}
	})
}

func BenchmarkEventDecoder(b *testing.B) {
	w := &EventWriter{PT: 101, SSRC: 1}
	var pkts [][]byte
	for i := range 50 {
		pkts = append(pkts, press(b, w, Digit("0123456789"[i%10]), uint32(i*1600))...)
	}
	var d EventDecoder
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Decode(pkts[i%len(pkts)])
		i++
	}
}
