package routing

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

// TestRouteTrust: the asserted identity decides the call only from a
// trusted source; an allowed source is routed as its From user, whatever it
// asserts, and a source in neither list is refused.
func TestRouteTrust(t *testing.T) {
	const (
		x = "8617000000001"
		a = "8613800000001"
		b = "8613900000002"
	)
	live := store.Binding{ID: "b1", Model: store.ModelAXB, X: x, A: a, B: b, ExpiresAt: time.Now().Add(time.Hour)}
	st := &lookupStore{bindings: map[[2]string]store.Binding{{x, a}: live, {x, b}: live}}
	trunk := WithTrusted(netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("2001:db8::/32"))
	pbx := WithAllowed(netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("10.1.2.0/24"))
	var (
		carrier = netip.MustParseAddr("10.1.9.9")
		mapped  = netip.MustParseAddr("::ffff:10.1.9.9")
		v6      = netip.MustParseAddr("2001:db8::5")
		partner = netip.MustParseAddr("192.0.2.7")
		both    = netip.MustParseAddr("10.1.2.3") // in both lists: trusted
		nobody  = netip.MustParseAddr("198.51.100.1")
	)
	tests := []struct {
		name   string
		opts   []Option
		call   Call
		code   int
		callee string
	}{
		{"trusted: PAI is the caller", []Option{trunk, pbx}, Call{Caller: a, Asserted: b, Dialled: x, Source: carrier}, 0, a},
		{"trusted: PAI behind a withheld From", []Option{trunk}, Call{Caller: "anonymous", Asserted: a, Dialled: x, Source: carrier}, 0, b},
		{"trusted v4-mapped", []Option{trunk}, Call{Caller: a, Asserted: b, Dialled: x, Source: mapped}, 0, a},
		{"trusted v6", []Option{trunk}, Call{Caller: a, Asserted: b, Dialled: x, Source: v6}, 0, a},
		{"trusted without PAI: From", []Option{trunk}, Call{Caller: a, Dialled: x, Source: carrier}, 0, b},
		{"in both lists: trusted", []Option{trunk, pbx}, Call{Caller: a, Asserted: b, Dialled: x, Source: both}, 0, a},
		{"allowed: forged PAI ignored", []Option{trunk, pbx}, Call{Caller: a, Asserted: b, Dialled: x, Source: partner}, 0, b},
		{"allowed: PAI cannot stand in for a withheld From", []Option{trunk, pbx}, Call{Caller: "anonymous", Asserted: a, Dialled: x, Source: partner}, 403, ""},
		{"allowed only, no trust domain", []Option{pbx}, Call{Caller: b, Asserted: a, Dialled: x, Source: partner}, 0, a},
		{"allowed only: trunk range not trusted", []Option{pbx}, Call{Caller: b, Asserted: a, Dialled: x, Source: carrier}, 403, ""},
		{"neither list", []Option{trunk, pbx}, Call{Caller: a, Asserted: b, Dialled: x, Source: nobody}, 403, ""},
		{"no source", []Option{pbx}, Call{Caller: a, Dialled: x}, 403, ""},
		{"open engine trusts all", nil, Call{Caller: a, Asserted: b, Dialled: x, Source: nobody}, 0, a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewRouter(st, tt.opts...).Route(context.Background(), tt.call)
			if d.Code != tt.code || d.Callee != tt.callee {
				t.Fatalf("Route = code %d (%q) callee %q, want code %d callee %q", d.Code, d.Reason, d.Callee, tt.code, tt.callee)
			}
		})
	}
}

// TestRouterTrusted: what admission control asks (a trusted trunk is held
// only by the overall limits) has the same answer routing acts on.
func TestRouterTrusted(t *testing.T) {
	trunk := WithTrusted(netip.MustParsePrefix("10.1.0.0/16"))
	pbx := WithAllowed(netip.MustParsePrefix("192.0.2.0/24"))
	tests := []struct {
		name string
		opts []Option
		src  string
		want bool
	}{
		{"open engine", nil, "198.51.100.1", true},
		{"in the trust domain", []Option{trunk, pbx}, "10.1.2.3", true},
		{"v4-mapped", []Option{trunk}, "::ffff:10.1.2.3", true},
		{"allowed is not trusted", []Option{trunk, pbx}, "192.0.2.7", false},
		{"allowed only", []Option{pbx}, "10.1.2.3", false},
		{"neither", []Option{trunk}, "198.51.100.1", false},
	}
	for _, tt := range tests {
		if got := NewRouter(nil, tt.opts...).Trusted(netip.MustParseAddr(tt.src)); got != tt.want {
			t.Errorf("%s: Trusted(%s) = %v, want %v", tt.name, tt.src, got, tt.want)
		}
	}
}
