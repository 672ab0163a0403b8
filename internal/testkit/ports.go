package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// Fixed ports are for programs that must be told a port and cannot take
// port 0 (SIPp's -p and -mp): drawn at random below the kernel's
// ephemeral range (which starts at 32768 on Linux), where no socket
// bound to port 0 can land between the draw and the program's bind, and
// never handed out twice by one test process. The scripts' port plan
// (scripts/sipp-lib.sh) uses the same range; CI runs them after the Go
// tests.
const (
	fixedLo = 10000
	fixedHi = 19999
)

var fixed struct {
	sync.Mutex
	taken map[int]bool
}

// FixedPorts returns the first of n consecutive loopback ports below the
// ephemeral range, even, free for UDP and TCP when drawn and reserved for
// this process.
func FixedPorts(t testing.TB, n int) int {
	t.Helper()
	fixed.Lock()
	defer fixed.Unlock()
	if fixed.taken == nil {
		fixed.taken = map[int]bool{}
	}
	for range 200 {
		base := fixedLo + rand.IntN((fixedHi-fixedLo-n)/2)*2
		ok := true
		for p := base; p < base+n && ok; p++ {
			ok = !fixed.taken[p] && portFree(p)
		}
		if ok {
			for p := base; p < base+n; p++ {
				fixed.taken[p] = true
			}
			return base
		}
	}
	t.Fatalf("no %d free ports in %d-%d after 200 draws", n, fixedLo, fixedHi)
	return 0
}

// portFree reports whether port can be bound on 127.0.0.1, UDP and TCP.
func portFree(port int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	defer u.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	return l.Close() == nil
}

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
