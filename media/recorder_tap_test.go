package media

import "testing"

// TestRecordingTapBounded: the relay's tap never blocks and never
// allocates; a queue the writer has not emptied stops the recording
// (truncated) instead of holding the packet up.
func TestRecordingTapBounded(t *testing.T) {
	r := &Recording{ch: make(chan recPacket, recordQueue)}
	pkt := make([]byte, 12+160)
	pkt[0], pkt[1] = 0x80, 0
	if n := testing.AllocsPerRun(100, func() { r.tap(SideA, pkt, 1) }); n != 0 {
		t.Errorf("tap allocates %v times", n)
	}
	for range recordQueue {
		r.tap(SideB, pkt, 2)
	}
	if !r.full.Load() {
		t.Fatal("a full queue did not stop the recording")
	}
	if len(r.ch) != recordQueue {
		t.Fatalf("queue holds %d", len(r.ch))
	}
}

// FuzzRecordingTap: whatever a party sends, the tap never panics and
// never queues more than the payload bound.
func FuzzRecordingTap(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1, 0xff, 0xff})
	f.Add([]byte{0x9f, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1})                   // 15 CSRCs, no room
	f.Add([]byte{0x90, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1, 0, 0, 0xff, 0xff}) // extension past the end
	f.Add([]byte{0xa0, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1, 1, 2, 250})        // padding longer than the packet
	f.Fuzz(func(t *testing.T, pkt []byte) {
		r := &Recording{ch: make(chan recPacket, 1)}
		r.tap(SideA, pkt, 1)
		if len(r.ch) == 1 {
			p := <-r.ch
			if int(p.n) > maxRecordPayload || int(p.n) > len(pkt)-12 {
				t.Fatalf("queued %d payload bytes of a %d-byte packet", p.n, len(pkt))
			}
		}
	})
}
