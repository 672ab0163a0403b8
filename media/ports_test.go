package media

import (
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
