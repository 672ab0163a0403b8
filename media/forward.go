package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxPacket bounds one datagram. RTP over UDP stays under the path MTU; a
// datagram that fills the buffer was truncated by the kernel and is dropped.
const maxPacket = 2048

// maxReadErrors ends a forwarding loop whose socket keeps failing without
// being closed, rather than spinning.
const maxReadErrors = 100

// packetBufs recycles read buffers between the forwarding goroutines of
// successive sessions.
var packetBufs = sync.Pool{New: func() any { return new([maxPacket]byte) }}

// forward runs, for the life of a session, for one socket of the pair facing
// side `from`: every packet that side's SDP and latch accept is sent out of
// the matching socket facing the other side, to that side's destination.
// It returns once Session.Close has set pair.stop, and allocates nothing per
// packet.
func (s *Session) forward(st *stream, idx int, from Side, k kind, pair *portPair) {
	defer s.wg.Done()
	to := from.other()
	count := &st.count[from]
	own := &st.dest[from][k]
	last := &s.last[from]
	conn := pair.conn(k)
	peer := st.pairs[to].conn(k)
	check := sourceCheck{strays: pair.strays}
	bufp := packetBufs.Get().(*[maxPacket]byte)
	defer packetBufs.Put(bufp)
	buf := bufp[:]
	tok := s.rtcpToken(from)
	for failures := 0; ; {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		// The socket outlives the session: whatever was read once Close
		// began belongs to nobody and is not forwarded.
		if pair.stop.Load() {
			return
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if failures++; failures >= maxReadErrors {
				s.log.Error().Err(err).Int("stream", idx).Stringer("side", from).Stringer("kind", k).
					Msg("relay socket keeps failing; stopped forwarding")
				return
			}
			continue
		}
		failures = 0
		if n == len(buf) || !looksLikeRTP(buf[:n], k) {
			count.dropped.Add(1)
			continue
		}
		now := time.Now().UnixNano()
		// The fast path: the side's latched source, one comparison.
		if d := own.Load(); d == nil || !d.latched || d.addr != src {
			if !s.admit(own, src, now, &check, count, idx, from, k) {
				count.strangers.Add(1)
				continue
			}
		}
		rtcp := k == kindRTCP || isMuxedRTCP(buf[:n])
		// While the engine answers A (engine.go), A's RTP is the engine's:
		// keys for the decoder, audio for nobody.
		if !rtcp && from == SideA {
			if e := s.engine.Load(); e != nil && e.st == st && !e.bridged.Load() {
				last.Store(now)
				e.take(buf[:n])
				count.engine.Add(1)
				continue
			}
		}
		// RTCP carries the sender's identity (SDES CNAME, PHONE...): it
		// goes out scrubbed or not at all, muxed on the RTP port too.
		if rtcp {
			if n, err = scrubRTCP(buf[:n], &tok); err != nil || n == 0 {
				count.dropped.Add(1)
				continue
			}
		}
		last.Store(now)
		// The engine playing to the other side (player.go): its sound
		// yields to this party's media, or replaces it.
		if !rtcp {
			if pb := s.playing[to].Load(); pb != nil {
				if pb.replace {
					count.engine.Add(1)
					continue
				}
				pb.Stop()
			}
		}
		dst := st.dest[to][k].Load()
		// dst == src would send a packet back where it came from (both
		// sides behind one address, or a looped SDP): never echo.
		if dst == nil || !sendable(dst.addr) || dst.addr == src {
			count.dropped.Add(1)
			continue
		}
		if _, err := peer.WriteToUDPAddrPort(buf[:n], dst.addr); err != nil {
			count.dropped.Add(1)
			continue
		}
		count.packets[k].Add(1)
		count.bytes[k].Add(uint64(n))
		if !rtcp && idx == 0 {
			if rec := s.recording.Load(); rec != nil {
				rec.tap(from, buf[:n], now)
			}
		}
	}
}

// match ranks a source against the SDP address, best first, as rtpengine's
// heuristic endpoint learning does: the address and port the SDP names, the
// same address from another port (a NAT that keeps the address), the same
// port from another address (one that keeps the port), anything else.
type match uint8

const (
	matchExact match = iota
	matchAddr
	matchPort
	matchNone
)

func matchOf(src, sdp netip.AddrPort) match {
	switch {
	case src == sdp:
		return matchExact
	case src.Addr() == sdp.Addr():
		return matchAddr
	case src.Port() == sdp.Port():
		return matchPort
	}
	return matchNone
}

// admit decides whether a packet from src, which is not the source side is
// latched on, may pass as that side's, and latches it if so:
//
//   - Before the side's SDP is known nothing passes.
//   - The address its SDP names is latched when nothing is, at any time.
//   - Inside the learning window any other source may be latched, unless
//     sourceCheck knows it for a stray; a source that matches the SDP
//     better replaces one latched earlier in the window.
//   - Everything else is a stranger and is dropped.
//
// It allocates only to latch, which happens a few times per SDP change.
func (s *Session) admit(own *atomicDest, src netip.AddrPort, now int64, check *sourceCheck,
	count *flowCounters, idx int, side Side, k kind) bool {
	// A lost race with Rewrite or reveal storing a new dest is retried
	// once against the new one.
	for try := 0; try < 2; try++ {
		d := own.Load()
		if d == nil {
			check.saw(src, now)
			return false
		}
		if d.latched && src == d.addr {
			return true
		}
		m := matchOf(src, d.sdp)
		learning := d.open != 0 && now < d.shut
		switch {
		case d.latched && (!learning || m >= d.match):
		case !d.latched && m != matchExact && !learning:
		case m != matchExact && check.stray(src, d.open):
		default:
			nd := &dest{addr: src, sdp: d.sdp, latched: true, match: m, open: d.open, shut: d.shut}
			if !own.CompareAndSwap(d, nd) {
				continue
			}
			if d.latched {
				count.relatched.Add(1)
			} else {
				count.latched.Add(1)
			}
			s.log.Debug().Int("stream", idx).Stringer("side", side).Stringer("kind", k).
				Stringer("sdp", d.sdp).Stringer("latched", src).Bool("relatch", d.latched).Msg("media source latched")
			return true
		}
		check.saw(src, now)
		return false
	}
	return false
}

// sightingGrace is how long before a side's learning window opens a source
// may first have been seen and still be learned in it: the party's own
// packets can overtake the SDP that sets the window (a 200 OK processed a
// moment after the RTP sent right behind it).
const sightingGrace = int64(time.Second)

// maxSightings bounds the strangers one socket remembers.
const maxSightings = 8

// sourceCheck is one forwarding goroutine's memory of who is not the
// party: the strays the pool heard on the pair while no call held it, and
// the strangers this socket dropped, with when each was first seen. A
// stranger already sending well before the side's learning window opened is
// someone else's media — a previous call's party still streaming to these
// ports (also across a restart, when no pool memory exists), or a scanner
// spraying the range — and is never learned; the SDP address still is.
type sourceCheck struct {
	strays strays
	seen   [maxSightings]netip.AddrPort
	first  [maxSightings]int64
	n      int
}

// saw notes a dropped stranger.
func (c *sourceCheck) saw(src netip.AddrPort, now int64) {
	for i := 0; i < c.n; i++ {
		if c.seen[i] == src {
			return
		}
	}
	if c.n < maxSightings {
		c.seen[c.n], c.first[c.n] = src, now
		c.n++
	}
}

// stray reports whether src may not be learned in a window opened at open.
func (c *sourceCheck) stray(src netip.AddrPort, open int64) bool {
	if c.strays.has(src) {
		return true
	}
	for i := 0; i < c.n; i++ {
		if c.seen[i] == src {
			return c.first[i] < open-sightingGrace
		}
	}
	return false
}

func sendable(a netip.AddrPort) bool { return usable(a.Addr()) && a.Port() != 0 }

// looksLikeRTP keeps what can be RTP or RTCP (version 2, room for the fixed
// header) and drops the rest: STUN, DTLS, stray garbage.
func looksLikeRTP(p []byte, k kind) bool {
	min := 12 // RTP fixed header
	if k == kindRTCP {
		min = 8 // RTCP header + SSRC
	}
	return len(p) >= min && p[0]>>6 == 2
}
