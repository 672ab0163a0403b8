package testkit

import (
	"bytes"
	"testing"
)

// TestPeerRoundTrip: RTP from one peer arrives at the other in order,
// counted, with its marker and source; a datagram that is not RTP is
// received but not counted; nothing else arrives.
func TestPeerRoundTrip(t *testing.T) {
	a, b := NewPeer(t), NewPeer(t)
	if a.Port() == b.Port() || a.Addr().Port() != uint16(a.Port()) {
		t.Fatalf("ports %d %d, addr %v", a.Port(), b.Port(), a.Addr())
	}
	a.SendRTP(b.Addr(), 5, 'x')
	b.WaitReceived(5)
	for i := 0; i < 5; i++ {
		d := b.Recv()
		if d.From != a.Addr() || len(d.Data) != 12+160 || d.Data[3] != byte(i) || !bytes.Equal(d.Data[12:], bytes.Repeat([]byte{'x'}, 160)) {
			t.Fatalf("packet %d from %v: %x", i, d.From, d.Data)
		}
	}
	if !b.Saw('x') || b.Saw('y') {
		t.Errorf("saw x %v, y %v; want true, false", b.Saw('x'), b.Saw('y'))
	}
	if src := b.Sources(); len(src) != 1 || src[a.Addr()] != 5 || b.LastFrom() != a.Addr() {
		t.Errorf("sources %v, last %v; want 5 from %v", src, b.LastFrom(), a.Addr())
	}
	a.SendPort(b.Port(), []byte("not rtp"))
	if d := b.Recv(); string(d.Data) != "not rtp" {
		t.Errorf("got %q", d.Data)
	}
	if b.Received() != 5 {
		t.Errorf("counted %d RTP packets, want 5", b.Received())
	}
	b.ExpectNothing()
	if a.Received() != 0 {
		t.Errorf("the sender received %d", a.Received())
	}
}

// TestPeerExpectNothingFails: a waiting datagram makes ExpectNothing fail.
func TestPeerExpectNothingFails(t *testing.T) {
	var ft fakeT
	ft.TB = t
	b := NewPeer(t)
	b.t = &ft
	NewPeer(t).SendPort(b.Port(), []byte("late"))
	b.ExpectNothing()
	if !ft.failed {
		t.Fatal("ExpectNothing passed with a datagram waiting")
	}
}

// fakeT records a failure instead of stopping the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }
func (f *fakeT) Fatal(...any)          { f.failed = true }
