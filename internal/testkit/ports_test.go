package testkit

import (
	"fmt"
	"net"
	"testing"
)

// TestFreePort: the port binds for UDP and TCP at once.
func TestFreePort(t *testing.T) {
	port := FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

// TestRTPRange: ten engines in a row get disjoint ranges of one block, in
// the blocks' span.
func TestRTPRange(t *testing.T) {
	type span struct{ lo, hi int }
	var got []span
	for range rtpSlots {
		lo, hi := RTPRange()
		if hi-lo+1 != rtpSlot || lo < rtpBase || hi >= rtpBase+rtpPids*rtpBlock {
			t.Fatalf("range %d-%d", lo, hi)
		}
		for _, s := range got {
			if lo <= s.hi && s.lo <= hi {
				t.Fatalf("range %d-%d overlaps %d-%d", lo, hi, s.lo, s.hi)
			}
		}
		got = append(got, span{lo, hi})
	}
}
