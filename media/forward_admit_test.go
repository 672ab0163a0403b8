package media

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestAdmit is the source check by table: who may pass as a side, and what
// the side is latched on afterwards.
func TestAdmit(t *testing.T) {
	const sec = int64(time.Second)
	var (
		sdp      = netip.MustParseAddrPort("192.0.2.10:4000")
		samePort = netip.MustParseAddrPort("198.51.100.7:4000")
		sameAddr = netip.MustParseAddrPort("192.0.2.10:5000")
		nat      = netip.MustParseAddrPort("203.0.113.5:31000")
		stray    = netip.MustParseAddrPort("203.0.113.66:9000")
	)
	open, shut := 100*sec, 103*sec
	unlatched := &dest{addr: sdp, sdp: sdp, open: open, shut: shut}
	pending := &dest{addr: sdp, sdp: sdp} // SDP known, relay port not yet told
	latchedOn := func(a netip.AddrPort, m match) *dest {
		return &dest{addr: a, sdp: sdp, latched: true, match: m, open: open, shut: shut}
	}
	tests := []struct {
		name      string
		d         *dest
		src       netip.AddrPort
		now       int64
		seen      int64 // when src was first dropped, 0: never
		want      bool
		latch     netip.AddrPort // what the side is latched on after, if anything
		relatched bool
	}{
		{name: "no SDP yet", d: nil, src: sdp, now: open, want: false},
		{name: "SDP address before the window", d: pending, src: sdp, now: 50 * sec, want: true, latch: sdp},
		{name: "NAT before the window", d: pending, src: nat, now: 50 * sec, want: false},
		{name: "NAT in the window", d: unlatched, src: nat, now: open + sec, want: true, latch: nat},
		{name: "NAT after the window", d: unlatched, src: nat, now: shut, want: false},
		{name: "SDP address after the window", d: unlatched, src: sdp, now: shut + 10*sec, want: true, latch: sdp},
		{name: "stray of the pool", d: unlatched, src: stray, now: open + sec, want: false},
		{name: "sending long before the window", d: unlatched, src: nat, now: open + sec, seen: open - 2*sec, want: false},
		{name: "overtook its SDP by a moment", d: unlatched, src: nat, now: open + sec, seen: open - sec/2, want: true, latch: nat},
		{name: "SDP address replaces NAT in the window", d: latchedOn(nat, matchNone), src: sdp, now: open + 2*sec, want: true, latch: sdp, relatched: true},
		{name: "same address replaces NAT in the window", d: latchedOn(nat, matchNone), src: sameAddr, now: open + 2*sec, want: true, latch: sameAddr, relatched: true},
		{name: "SDP address after the window, NAT latched", d: latchedOn(nat, matchNone), src: sdp, now: shut, want: false},
		{name: "no better match", d: latchedOn(samePort, matchPort), src: nat, now: open + sec, want: false},
		{name: "another NAT in the window", d: latchedOn(nat, matchNone), src: stray, now: open + sec, want: false},
		{name: "stranger once latched exactly", d: latchedOn(sdp, matchExact), src: sameAddr, now: open + sec, want: false},
		{name: "the latched source", d: latchedOn(nat, matchNone), src: nat, now: shut + 100*sec, want: true, latch: nat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Session{log: zerolog.Nop()}
			var own atomicDest
			own.Store(tt.d)
			check := sourceCheck{}
			check.strays.add(stray)
			if tt.seen != 0 {
				check.saw(tt.src, tt.seen)
			}
			var count flowCounters
			if got := s.admit(&own, tt.src, tt.now, &check, &count, 0, SideA, kindRTP); got != tt.want {
				t.Fatalf("admit = %v, want %v", got, tt.want)
			}
			after := own.Load()
			switch {
			case tt.latch.IsValid() && (after == nil || !after.latched || after.addr != tt.latch):
				t.Fatalf("latched on %+v, want %v", after, tt.latch)
			case !tt.latch.IsValid() && after != tt.d:
				t.Fatalf("dest changed to %+v by a refused packet", after)
			case tt.relatched != (count.relatched.Load() == 1):
				t.Fatalf("relatched %d, want %v", count.relatched.Load(), tt.relatched)
			}
		})
	}
}
