package media

import (
	"net/netip"
	"testing"

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
		if p != first[i] {
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
