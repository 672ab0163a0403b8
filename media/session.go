package media

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Session is the media of one call: per m= line a port pair facing each side
// and the forwarding between them.
type Session struct {
	relay *Relay
	log   zerolog.Logger
	wg    sync.WaitGroup // forwarding goroutines
	last  atomic.Int64   // unix nanos of the last accepted packet
	// closing makes a concurrent second Close wait for the first, so every
	// caller gets the guarantee that nothing is sent once Close returns.
	closing sync.Once

	mu      sync.Mutex
	closed  bool
	streams []*stream
	origin  [2]origin // o= of the SDP sent to each side
}

// origin is the o= identity the relay shows one side: a session id that never
// changes and a version bumped whenever the SDP sent to that side changes.
type origin struct {
	id      uint64
	version uint64
	last    []byte
}

// stream is one m= line.
type stream struct {
	conns   [2]atomic.Pointer[portPair] // relay sockets facing each side
	dest    [2][2]atomicDest            // [side][kind]: where that side receives
	learned [2]learned                  // guarded by Session.mu
	count   [2]flowCounters             // by sending side
}

// dest is a destination; a new one is stored (never modified) on every SDP
// change and latch, so the forwarding loop reads it without locks or copies.
type dest struct {
	addr    netip.AddrPort // invalid: nowhere to send yet
	latched bool           // addr is the source of a packet actually received
}

// learned is what a side's latest SDP said about one stream.
type learned struct {
	set       bool
	rtp, rtcp netip.AddrPort
}

func newSession(r *Relay, log zerolog.Logger) *Session {
	s := &Session{relay: r, log: log}
	for i := range s.origin {
		s.origin[i].id = rand.Uint64()>>2 | 1 // positive and non-zero, as o= sess-id must be
		s.origin[i].version = 1
	}
	return s
}

// Rewrite takes SDP (offer or answer) received from side from, learns that
// side's media addresses from it, allocates (once per m= line) the relay
// ports facing the other side, and returns the SDP to send to the other side,
// pointing at those ports. Called again (re-INVITE, 183 then 200) it updates
// the learned addresses and reuses the ports. On error (ErrMalformedSDP,
// ErrPortsExhausted, ErrSessionClosed) nothing changes.
func (s *Session) Rewrite(from Side, sdp []byte) ([]byte, error) {
	if !from.valid() {
		return nil, fmt.Errorf("media: rewrite SDP: invalid side %d", from)
	}
	d, err := parseSDP(sdp, s.relay.cfg.IP)
	if err != nil {
		return nil, fmt.Errorf("media: rewrite SDP from %s: %w", from, err)
	}
	to := from.other()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("media: rewrite SDP from %s: %w", from, ErrSessionClosed)
	}

	// Bind everything first so that running out of ports halfway leaves the
	// session as it was.
	fresh := make([]*portPair, len(d.media))
	for i, m := range d.media {
		if m.port == 0 || i < len(s.streams) && s.streams[i].conns[to].Load() != nil {
			continue
		}
		pair, err := s.relay.ports.acquire()
		if err != nil {
			for _, p := range fresh {
				if p != nil {
					s.relay.ports.release(p)
				}
			}
			return nil, fmt.Errorf("media: rewrite SDP from %s: m= line %d: %w", from, i+1, err)
		}
		fresh[i] = pair
	}

	ports := make([]int, len(d.media))
	for i, m := range d.media {
		if i == len(s.streams) {
			s.streams = append(s.streams, &stream{})
		}
		st := s.streams[i]
		if p := fresh[i]; p != nil {
			st.conns[to].Store(p)
			s.wg.Add(2)
			go s.forward(st, i, to, kindRTP, p)
			go s.forward(st, i, to, kindRTCP, p)
			s.log.Debug().Int("stream", i).Stringer("facing", to).Int("port", p.port).Msg("relay ports taken")
		}
		s.learn(st, i, from, m)
		if m.port != 0 {
			ports[i] = st.conns[to].Load().port
		}
	}

	o := &s.origin[to]
	p := rewriteParams{ip: s.relay.advertise, ports: ports, sessID: o.id, version: o.version}
	out := d.render(p)
	if o.last != nil && !bytes.Equal(out, o.last) {
		o.version++
		p.version = o.version
		out = d.render(p)
	}
	o.last = out
	return bytes.Clone(out), nil
}

// learn records where side from receives stream i. An unchanged address
// (183 then 200 with the same SDP) keeps the latch; a changed one starts
// over from the SDP address until that side sends again.
func (s *Session) learn(st *stream, i int, from Side, m mediaDesc) {
	var l learned
	if m.port != 0 {
		l = learned{set: true, rtp: m.rtpAddr(), rtcp: m.rtcpAddrPort()}
	}
	if l == st.learned[from] {
		return
	}
	st.learned[from] = l
	if !l.set {
		st.dest[from][kindRTP].Store(nil)
		st.dest[from][kindRTCP].Store(nil)
		s.log.Debug().Int("stream", i).Stringer("side", from).Msg("stream rejected or removed")
		return
	}
	st.dest[from][kindRTP].Store(&dest{addr: l.rtp})
	st.dest[from][kindRTCP].Store(&dest{addr: l.rtcp})
	s.log.Debug().Int("stream", i).Stringer("side", from).
		Stringer("rtp", l.rtp).Stringer("rtcp", l.rtcp).Msg("media address learned from SDP")
}

// Stats returns the packets and bytes forwarded so far, each direction.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st Stats
	for _, str := range s.streams {
		str.count[SideA].addTo(&st.AToB)
		str.count[SideB].addTo(&st.BToA)
	}
	return st
}

// LastPacket is when the last RTP/RTCP packet arrived from either side (zero
// if none has).
func (s *Session) LastPacket() time.Time {
	n := s.last.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Close stops forwarding and returns the ports to the relay, which keeps them
// bound for later calls. It is idempotent and returns once the forwarding
// goroutines have ended: nothing is sent for this session afterwards.
func (s *Session) Close() { s.closing.Do(s.close) }

func (s *Session) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	var pairs []*portPair
	for _, st := range s.streams {
		for side := range st.conns {
			if p := st.conns[side].Load(); p != nil {
				pairs = append(pairs, p)
				p.interrupt()
			}
		}
	}
	s.mu.Unlock()

	s.wg.Wait()
	for _, p := range pairs {
		s.relay.ports.release(p)
	}
	s.relay.forget(s)
	s.log.Debug().Int("port_pairs", len(pairs)).Msg("media session closed")
}

type atomicDest = atomic.Pointer[dest]
