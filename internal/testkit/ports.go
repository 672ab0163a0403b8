package testkit

import (
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
)

// FreePort is a loopback port that was free for both UDP and TCP a moment
// ago, for a listener that binds both (SIP). Another process may take it
// before the caller binds; the caller's bind then fails loudly.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no loopback port free for both UDP and TCP after 50 tries")
	return 0
}

// Relay port ranges: each test process (one per package under go test)
// gets a block of RTPBlock ports chosen by its pid, and each engine in it
// the next of RTPSlots slices of that block, so that engines started one
// after another in a package, or by packages running in parallel, seldom
// share a port. They can still meet (two pids 50 apart, or more than
// RTPSlots engines alive at once); the relay skips ports that are taken.
// The blocks lie at 30000-49999, clear of the fixed ranges media's own tests take (20000-29999).
const (
	rtpBase  = 30000
	rtpSlots = 10
	rtpSlot  = 40
	rtpBlock = rtpSlots * rtpSlot
	rtpPids  = 50
)

var rtpNext atomic.Int32

// RTPRange is the next relay port range (inclusive) for a test engine.
func RTPRange() (min, max int) {
	n := int(rtpNext.Add(1))
	base := rtpBase + (os.Getpid()%rtpPids)*rtpBlock + (n%rtpSlots)*rtpSlot
	return base, base + rtpSlot - 1
}
