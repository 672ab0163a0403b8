package media

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestIdleBudget(t *testing.T) {
	tests := []struct {
		name         string
		pairs, limit int
		want         int
	}{
		{"unknown limit keeps all", 5000, -1, 5000},
		{"room for all", 5000, 20000, 5000},
		{"half the descriptors at most", 6000, 20000, 5000},
		{"low limit", 5000, 1024, 256},
	}
	for _, tt := range tests {
		if got := idleBudget(tt.pairs, tt.limit); got != tt.want {
			t.Errorf("%s: idleBudget(%d, %d) = %d, want %d", tt.name, tt.pairs, tt.limit, got, tt.want)
		}
	}
}

// TestPoolKeepsReleasedPairsBound: a released pair keeps its sockets and is
// handed out with them again; past maxIdle a released pair is closed.
func TestPoolKeepsReleasedPairsBound(t *testing.T) {
	pp := newPortPool(netip.MustParseAddr("127.0.0.1"), 24700, 24705, zerolog.Nop()) // three pairs
	defer pp.close()
	var first []*portPair
	for range 3 {
		p, err := pp.acquire()
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, p)
	}
	for _, p := range first {
		pp.release(p)
	}
	if got := pp.bound(); got != 3 {
		t.Fatalf("bound = %d after release, want 3", got)
	}
	for i := range 3 {
		p, err := pp.acquire()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(first, p) {
			t.Fatalf("pair on port %d rebound instead of reused", p.port)
		}
		first[i] = p
	}
	pp.maxIdle = 1
	for _, p := range first {
		pp.release(p)
	}
	if got := pp.bound(); got != 1 {
		t.Fatalf("bound = %d with maxIdle 1", got)
	}
	if got := pp.inUse(); got != 0 {
		t.Fatalf("inUse = %d", got)
	}
	pp.close()
	if got := pp.bound(); got != 0 {
		t.Fatalf("bound = %d after close", got)
	}
	if _, err := pp.acquire(); err == nil {
		t.Fatalf("acquire after close succeeded")
	}
}

// TestPoolGrowsOnlyWhileReleasedPairsAreFresh: one call at a time keeps
// binding new pairs of the range while the released ones have not rested,
// and reuses rested ones once they have, so the pool binds what the call
// rate needs rather than the whole range.
func TestPoolGrowsOnlyWhileReleasedPairsAreFresh(t *testing.T) {
	pp := newPortPool(netip.MustParseAddr("127.0.0.1"), 24720, 24739, zerolog.Nop()) // ten pairs
	defer pp.close()
	churn := func(calls int) map[int]bool {
		ports := map[int]bool{}
		for range calls {
			p, err := pp.acquire()
			if err != nil {
				t.Fatal(err)
			}
			ports[p.port] = true
			pp.release(p)
		}
		return ports
	}
	pp.minRest = time.Hour
	fresh := churn(3)
	if len(fresh) != 3 || pp.bound() != 3 {
		t.Fatalf("fresh pairs: handed out %v, %d bound; want 3 new pairs while the released rest", fresh, pp.bound())
	}
	pp.minRest = 0
	for port := range churn(20) {
		if !fresh[port] {
			t.Fatalf("rested pairs: bound %d although rested pairs %v were waiting", port, fresh)
		}
	}
	if got := pp.bound(); got != 3 {
		t.Fatalf("bound = %d, want 3: the pool grew although rested pairs were waiting", got)
	}
}

// TestPoolShrinksAfterABurst: pairs released long ago are closed on the
// next acquire or release, so a burst does not keep its sockets for life.
func TestPoolShrinksAfterABurst(t *testing.T) {
	pp := newPortPool(netip.MustParseAddr("127.0.0.1"), 24740, 24759, zerolog.Nop()) // ten pairs
	defer pp.close()
	var burst []*portPair
	for range 5 {
		p, err := pp.acquire()
		if err != nil {
			t.Fatal(err)
		}
		burst = append(burst, p)
	}
	for _, p := range burst {
		pp.release(p)
	}
	if got := pp.bound(); got != 5 {
		t.Fatalf("bound = %d after the burst, want 5", got)
	}
	pp.minRest, pp.maxRest = 0, 0
	p, err := pp.acquire()
	if err != nil {
		t.Fatal(err)
	}
	if got := pp.bound(); got != 1 {
		t.Fatalf("bound = %d, want 1: pairs idle past maxRest stayed bound", got)
	}
	pp.release(p)
	if got := pp.bound(); got != 1 {
		t.Fatalf("bound = %d after the last release, want 1 (the pair just released)", got)
	}
}

// TestPoolLockNotHeldWhileBinding: while one acquire waits in bind (a
// system call, slow under load), the pool answers everyone else: it counts,
// takes pairs back and hands out rested ones.
func TestPoolLockNotHeldWhileBinding(t *testing.T) {
	pp := newPortPool(netip.MustParseAddr("127.0.0.1"), 28600, 28605, zerolog.Nop()) // three pairs
	defer pp.close()
	pp.minRest = 0
	rested, err := pp.acquire()
	if err != nil {
		t.Fatal(err)
	}
	held, err := pp.acquire()
	if err != nil {
		t.Fatal(err)
	}
	pp.release(rested)

	inBind, unblock := make(chan struct{}), make(chan struct{})
	pp.bind = func(ip netip.Addr, port int) (*portPair, error) {
		close(inBind)
		<-unblock
		return bindPair(ip, port)
	}
	pp.minRest = time.Hour // the next acquire must bind the third pair
	slow := make(chan error, 1)
	go func() {
		p, err := pp.acquire()
		if err == nil {
			pp.release(p)
		}
		slow <- err
	}()
	<-inBind
	others := make(chan error, 1)
	go func() {
		pp.release(held)
		pp.inUse()
		pp.bound()
		pp.minRest = 0 // only this goroutine reads it now
		p, err := pp.acquire()
		if err == nil {
			pp.release(p)
		}
		others <- err
	}()
	select {
	case err := <-others:
		if err != nil {
			t.Fatalf("acquire of a rested pair while another binds: %v", err)
		}
	case <-time.After(5 * time.Second):
		close(unblock)
		t.Fatal("the pool stayed locked while a pair was being bound")
	}
	close(unblock)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}

// TestPoolRestsPairsStillReceiving: a released pair that someone keeps
// sending to is not handed out while another pair is free; when nothing
// else is left it is, with the sender noted as a stray the next call never
// latches.
func TestPoolRestsPairsStillReceiving(t *testing.T) {
	pp := newPortPool(netip.MustParseAddr("127.0.0.1"), 28610, 28613, zerolog.Nop()) // two pairs
	defer pp.close()
	p1, err := pp.acquire()
	if err != nil {
		t.Fatal(err)
	}
	p2, err := pp.acquire()
	if err != nil {
		t.Fatal(err)
	}
	pp.release(p1)
	pp.release(p2)
	zombie, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer zombie.Close()
	zombieAddr := zombie.LocalAddr().(*net.UDPAddr).AddrPort()
	if _, err := zombie.WriteToUDPAddrPort([]byte("still talking"), netip.AddrPortFrom(pp.ip, uint16(p1.port))); err != nil {
		t.Fatal(err)
	}
	// p1 has rested, p2 not (the draw is random among rested pairs).
	pp.mu.Lock()
	p2.since = time.Now().Add(time.Hour)
	pp.mu.Unlock()
	pp.minRest, pp.quiet = 0, time.Hour

	first, err := pp.acquire()
	if err != nil {
		t.Fatal(err)
	}
	if first.port != p2.port {
		t.Fatalf("handed out port %d, want the quiet pair %d: the rested one still receiving must rest on", first.port, p2.port)
	}
	second, err := pp.acquire()
	if err != nil {
		t.Fatal(err)
	}
	if second.port != p1.port || !second.strays.has(zombieAddr) {
		t.Fatalf("last pair: port %d with strays %v, want %d with the sender %v", second.port, second.strays.addr[:second.strays.n], p1.port, zombieAddr)
	}
	pp.release(first)
	pp.release(second)
	if got := pp.bound(); got != 2 {
		t.Fatalf("bound = %d, want 2", got)
	}
}

func TestRelayCalls(t *testing.T) {
	for _, tc := range []struct{ min, max, calls int }{
		{20000, 20003, 1}, // two pairs: one call, a pair facing each side
		{20001, 20008, 1}, // RTP on even ports: 20002, 20004, 20006
		{20000, 23999, 1000},
	} {
		r, err := NewRelay(Config{IP: netip.MustParseAddr("127.0.0.1"), PortMin: tc.min, PortMax: tc.max})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Calls(); got != tc.calls {
			t.Errorf("range %d-%d carries %d calls, want %d", tc.min, tc.max, got, tc.calls)
		}
		r.Close()
	}
}
