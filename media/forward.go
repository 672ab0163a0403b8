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
// side `from`: every packet from that side is sent out of the matching
// socket facing the other side, to that side's destination. It returns once
// Session.Close has set pair.stop, and allocates nothing per packet.
func (s *Session) forward(st *stream, idx int, from Side, k kind, pair *portPair) {
	defer s.wg.Done()
	to := from.other()
	count := &st.count[from]
	own := &st.dest[from][k]
	conn := pair.conn(k)
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
		// RTCP carries the sender's identity (SDES CNAME, PHONE...): it
		// goes out scrubbed or not at all, muxed on the RTP port too.
		if k == kindRTCP || isMuxedRTCP(buf[:n]) {
			if n, err = scrubRTCP(buf[:n], &tok); err != nil || n == 0 {
				count.dropped.Add(1)
				continue
			}
		}
		s.last.Store(time.Now().UnixNano())
		if d := own.Load(); d != nil && !d.latched {
			s.latch(own, d, src, idx, from, k)
		}
		peer := st.conns[to].Load()
		dst := st.dest[to][k].Load()
		// dst == src would send a packet back where it came from (both
		// sides behind one address, or a looped SDP): never echo.
		if peer == nil || dst == nil || !sendable(dst.addr) || dst.addr == src {
			count.dropped.Add(1)
			continue
		}
		if _, err := peer.conn(k).WriteToUDPAddrPort(buf[:n], dst.addr); err != nil {
			count.dropped.Add(1)
			continue
		}
		count.packets[k].Add(1)
		count.bytes[k].Add(uint64(n))
	}
}

// latch makes the source of the first packet from a side its destination
// (symmetric RTP through NAT). It runs once per SDP change, so the one
// allocation here is not per packet. A lost race with Rewrite storing a new
// SDP address is fine: the next packet latches again.
func (s *Session) latch(own *atomicDest, d *dest, src netip.AddrPort, idx int, side Side, k kind) {
	if own.CompareAndSwap(d, &dest{addr: src, latched: true}) && src != d.addr {
		s.log.Debug().Int("stream", idx).Stringer("side", side).Stringer("kind", k).
			Stringer("sdp", d.addr).Stringer("latched", src).Msg("media source differs from SDP; latched")
	}
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
