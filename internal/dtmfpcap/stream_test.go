package dtmfpcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// keyPress is one event read back from a stream: its key, RTP timestamp,
// and how many packets of each kind carried it.
type keyPress struct {
	key       byte
	timestamp uint32
	updates   int
	ends      int
	duration  uint16
	lastEndAt time.Duration
}

var keyOfCode = "0123456789*#ABCD"

// readStream checks every packet of a stream against RFC 3550 and RFC 4733
// with pion/rtp (not this package's own header code) and returns the key
// presses it carries, in order. Audio packets must be PCMU silence stamped
// with the media clock of their send time; event packets must follow the
// shape Keys documents.
//
// base is the stream's RTP clock at time 0 (the timestamp WithStart sets).
func readStream(t *testing.T, packets []Packet, base uint32, pt uint8, withAudio bool) []keyPress {
	t.Helper()
	var (
		presses []keyPress
		ssrc    uint32
		seq     uint16
		audio   int
		last    time.Duration = -1
	)
	for i, p := range packets {
		var pkt rtp.Packet
		if err := pkt.Unmarshal(p.RTP); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		h := pkt.Header
		if h.Version != 2 || h.Padding || h.Extension || len(h.CSRC) != 0 {
			t.Fatalf("packet %d: header %+v", i, h)
		}
		if p.At < last {
			t.Fatalf("packet %d leaves at %s, before the one before it (%s)", i, p.At, last)
		}
		last = p.At
		if i == 0 {
			ssrc, seq = h.SSRC, h.SequenceNumber
		} else {
			seq++
			if h.SSRC != ssrc || h.SequenceNumber != seq {
				t.Fatalf("packet %d: ssrc %x seq %d, want %x %d (one stream, no gaps)", i, h.SSRC, h.SequenceNumber, ssrc, seq)
			}
		}
		switch h.PayloadType {
		case 0:
			if !withAudio {
				t.Fatalf("packet %d: audio in a stream without audio", i)
			}
			audio++
			if h.Marker || len(pkt.Payload) != 160 || !bytes.Equal(pkt.Payload, bytes.Repeat([]byte{0xff}, 160)) {
				t.Fatalf("packet %d: audio marker %v, %d bytes, not 20 ms of PCMU silence", i, h.Marker, len(pkt.Payload))
			}
			if want := base + uint32(p.At/time.Millisecond)*8; h.Timestamp != want {
				t.Fatalf("packet %d at %s: audio timestamp %d, want %d", i, p.At, h.Timestamp, want)
			}
			if n := len(presses); n > 0 && presses[n-1].ends < 3 {
				t.Fatalf("packet %d: audio while key %q is held", i, presses[n-1].key)
			}
		case pt:
			if len(pkt.Payload) != 4 {
				t.Fatalf("packet %d: event payload of %d bytes", i, len(pkt.Payload))
			}
			code, flags, dur := pkt.Payload[0], pkt.Payload[1], binary.BigEndian.Uint16(pkt.Payload[2:])
			end, reserved, volume := flags&0x80 != 0, flags&0x40 != 0, flags&0x3f
			if code > 15 || reserved || volume != 10 {
				t.Fatalf("packet %d: event %d, R %v, volume %d", i, code, reserved, volume)
			}
			n := len(presses)
			if n == 0 || presses[n-1].ends == 3 {
				// A new event: the marker bit, its own timestamp, the
				// key press's media time.
				if !h.Marker {
					t.Fatalf("packet %d: the first packet of an event without the marker bit", i)
				}
				if n > 0 && h.Timestamp == presses[n-1].timestamp {
					t.Fatalf("packet %d: a new event with the timestamp of the last", i)
				}
				presses = append(presses, keyPress{key: keyOfCode[code], timestamp: h.Timestamp})
				n++
			} else if h.Marker {
				t.Fatalf("packet %d: marker bit on a later packet of an event", i)
			}
			kp := &presses[n-1]
			if keyOfCode[code] != kp.key || h.Timestamp != kp.timestamp {
				t.Fatalf("packet %d: event %d ts %d inside the event of %q ts %d", i, code, h.Timestamp, kp.key, kp.timestamp)
			}
			if dur < kp.duration || dur == 0 {
				t.Fatalf("packet %d: duration %d after %d", i, dur, kp.duration)
			}
			if kp.ends > 0 && (!end || dur != kp.duration) {
				t.Fatalf("packet %d: after an end packet, end %v duration %d (want a repeat of %d)", i, end, dur, kp.duration)
			}
			if end {
				kp.ends++
				kp.lastEndAt = p.At
			} else {
				kp.updates++
				// An update says how long the key has been down now.
				if held := uint32(dur); base+uint32(p.At/time.Millisecond)*8 != kp.timestamp+held {
					t.Fatalf("packet %d at %s: duration %d does not match the time since the key press", i, p.At, dur)
				}
			}
			kp.duration = dur
		default:
			t.Fatalf("packet %d: payload type %d", i, h.PayloadType)
		}
	}
	if n := len(presses); n > 0 && presses[n-1].ends != 3 {
		t.Fatalf("the last event has %d end packets", presses[n-1].ends)
	}
	if withAudio && audio == 0 {
		t.Fatal("no audio in a stream with audio")
	}
	return presses
}

func keysOf(presses []keyPress) string {
	var b strings.Builder
	for _, p := range presses {
		b.WriteByte(p.key)
	}
	return b.String()
}

func TestKeys(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name                 string
		keys                 string
		opts                 []Option
		base                 uint32
		pt                   uint8
		audio                bool
		want                 string
		keyTime, gap, leadIn time.Duration
	}{
		{"defaults", "1234#", nil, 16000, 101, true, "1234#", 160 * ms, 300 * ms, 500 * ms},
		{"every key", "0123456789*#ABCDabcd", nil, 16000, 101, true, "0123456789*#ABCDABCD", 160 * ms, 300 * ms, 500 * ms},
		{"repeated key", "1111", nil, 16000, 101, true, "1111", 160 * ms, 300 * ms, 500 * ms},
		{"events only", "42#", []Option{WithoutAudio()}, 16000, 101, false, "42#", 160 * ms, 300 * ms, 500 * ms},
		{"short keys", "9#", []Option{WithKeyTime(20 * ms), WithGap(80 * ms), WithLeadIn(0)},
			16000, 101, true, "9#", 20 * ms, 80 * ms, 0},
		{"long key", "5", []Option{WithKeyTime(2 * time.Second)}, 16000, 101, true, "5", 2 * time.Second, 300 * ms, 500 * ms},
		{"payload type 96", "7", []Option{WithPayloadType(96)}, 16000, 96, true, "7", 160 * ms, 300 * ms, 500 * ms},
		{"clock wraps", "12", []Option{WithStart(1, 65530, 0xffffff00)}, 0xffffff00, 101, true, "12", 160 * ms, 300 * ms, 500 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			packets, err := Keys(tc.keys, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			presses := readStream(t, packets, tc.base, tc.pt, tc.audio)
			if got := keysOf(presses); got != tc.want {
				t.Fatalf("keys %q, want %q", got, tc.want)
			}
			for i, p := range presses {
				pressed := tc.leadIn + time.Duration(i)*(tc.keyTime+tc.gap)
				if want := tc.base + uint32(pressed/ms)*8; p.timestamp != want {
					t.Errorf("key %d: timestamp %d, want %d (the media clock at the key press)", i, p.timestamp, want)
				}
				if want := uint16(tc.keyTime / ms * 8); p.duration != want {
					t.Errorf("key %d: duration %d, want %d", i, p.duration, want)
				}
				if want := int((tc.keyTime - 1) / (50 * ms)); p.updates != want {
					t.Errorf("key %d: %d updates, want %d (one per 50 ms held)", i, p.updates, want)
				}
				if want := pressed + tc.keyTime + 40*ms; p.lastEndAt != want {
					t.Errorf("key %d: last end packet at %s, want %s", i, p.lastEndAt, want)
				}
			}
		})
	}
}

func TestKeysDeterministic(t *testing.T) {
	a, err := Keys("1234#")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Keys("1234#")
	if len(a) != len(b) {
		t.Fatalf("%d and %d packets", len(a), len(b))
	}
	for i := range a {
		if a[i].At != b[i].At || !bytes.Equal(a[i].RTP, b[i].RTP) {
			t.Fatalf("packet %d differs between two builds", i)
		}
	}
}

func TestKeysRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys string
		opts []Option
		want error
	}{
		{"no keys", "", nil, ErrBadKey},
		{"letter", "12E4", nil, ErrBadKey},
		{"space", "12 4", nil, ErrBadKey},
		{"too many", strings.Repeat("1", maxKeys+1), nil, ErrBadKey},
		{"static payload type", "1", []Option{WithPayloadType(8)}, ErrBadOption},
		{"payload type over 127", "1", []Option{WithPayloadType(128)}, ErrBadOption},
		{"key time zero", "1", []Option{WithKeyTime(0)}, ErrBadOption},
		{"key time off the frame", "1", []Option{WithKeyTime(170 * time.Millisecond)}, ErrBadOption},
		{"key time over 8 s", "1", []Option{WithKeyTime(8020 * time.Millisecond)}, ErrBadOption},
		{"gap under the end repeats", "1", []Option{WithGap(40 * time.Millisecond)}, ErrBadOption},
		{"negative lead-in", "1", []Option{WithLeadIn(-20 * time.Millisecond)}, ErrBadOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			packets, err := Keys(tc.keys, tc.opts...)
			if !errors.Is(err, tc.want) || packets != nil {
				t.Fatalf("got %d packets, %v; want %v", len(packets), err, tc.want)
			}
		})
	}
}

func TestEventCode(t *testing.T) {
	for i := range len(keyOfCode) {
		code, err := EventCode(keyOfCode[i])
		if err != nil || int(code) != i {
			t.Errorf("EventCode(%q) = %d, %v; want %d", keyOfCode[i], code, err, i)
		}
	}
	if _, err := EventCode('e'); !errors.Is(err, ErrBadKey) {
		t.Errorf("EventCode('e'): %v", err)
	}
}

// FuzzKeys: any string is either refused as keys or gives a stream that
// reads back as exactly those keys.
func FuzzKeys(f *testing.F) {
	for _, s := range []string{"1234#", "", "*0#", "abcd", "12\x00", strings.Repeat("9", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, keys string) {
		packets, err := Keys(keys, WithGap(80*time.Millisecond), WithLeadIn(0))
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("%q: %v", keys, err)
			}
			return
		}
		if got := keysOf(readStream(t, packets, 16000, 101, true)); got != strings.ToUpper(keys) {
			t.Fatalf("%q read back as %q", keys, got)
		}
	})
}
