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
