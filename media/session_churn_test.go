package media_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/media"
)

// TestTenThousandSessionsLeakNothing opens, rewrites both ways and closes
// 10,000 sessions on a 100-pair range, so every pair is bound and released
// about 200 times; ports and goroutines must all come back.
func TestTenThousandSessionsLeakNothing(t *testing.T) {
	const sessions = 10000
	before := runtime.NumGoroutine()
	r := newRelay(t, 22000, 22199)
	a, b := listen(t), listen(t)
	offer, answer := sdpFor("a", a.port(), a.port()+1), sdpFor("b", b.port(), b.port()+1)
	for i := range sessions {
		s := r.NewSession(zerolog.Nop())
		mustRewrite(t, s, media.SideA, offer)
		toA := mustRewrite(t, s, media.SideB, answer)
		if i%1000 == 0 {
			// Now and then push a packet through, so sessions closed with
			// traffic in flight are part of the churn.
			a.send(relayPorts(t, toA)[0], rtpPacket(t, uint16(i), "x"))
			b.recv()
		}
		if got := r.PortsInUse(); got != 4 {
			t.Fatalf("session %d: PortsInUse = %d, want 4", i, got)
		}
		s.Close()
		s.Close() // idempotent
	}
	if got := r.PortsInUse(); got != 0 {
		t.Fatalf("PortsInUse = %d after closing every session", got)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	after := runtime.NumGoroutine()
	for i := 0; i < 200 && after > before; i++ {
		time.Sleep(10 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: %d before, %d after\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}
