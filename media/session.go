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
	relay  *Relay
	log    zerolog.Logger
	window int64           // learning window, nanoseconds
	wg     sync.WaitGroup  // forwarding goroutines
	last   [2]atomic.Int64 // by sending side: unix nanos of the last packet accepted from it
	// closing makes a concurrent second Close wait for the first, so every
	// caller gets the guarantee that nothing is sent once Close returns.
	closing sync.Once
	// engine is set when the engine answers A (engine.go); nil on a
	// plain relay session, which then costs one atomic load per packet.
	engine atomic.Pointer[engine]
	// playing is the playback sending to each side (player.go), nil when
	// none: the forwarding loop towards that side yields to it or stops it.
	playing [2]atomic.Pointer[Playback]
	played  [2]atomic.Uint64 // RTP packets the engine sent to each side
	// recording taps the first stream's forwarded RTP (recorder.go); nil
	// when the call is not recorded: one atomic load per packet.
	recording atomic.Pointer[Recording]

	mu      sync.Mutex
	closed  bool
	streams []*stream
	origin  [2]origin // o= of the SDP sent to each side
	spoke   [2]bool   // a side has sent SDP
	lines   [2]int    // m= lines of the latest SDP from each side
	// dirs is what each side does on each stream of its latest SDP
	// (Directions); a fresh slice per SDP, so callers may keep it.
	dirs [2][]Direction
	// spare holds the pairs Reserve took for the streams of an SDP not
	// seen yet (both sides of each), until the first SDP takes them.
	spare [][2]*portPair
	// out is the engine's RTP stream towards each side, made by the first
	// Play to that side; its sequence and timestamps run on across plays.
	out [2]*rtpSender
	// late: Reserve was called and the offer's answer has not come. The
	// offer's streams (B's 183, then its 200) that find no ports are
	// rejected rather than failing the SDP.
	late bool
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
	pairs    [2]*portPair     // relay sockets facing each side; set before forwarding starts, then fixed
	dest     [2][2]atomicDest // [side][kind]: where that side receives and whom it is accepted from
	learned  [2]learned       // guarded by Session.mu
	revealed [2]bool          // guarded by Session.mu: that side was sent SDP naming its relay port
	count    [2]flowCounters  // by sending side
	// recv is the G.711 format each side receives on the stream, from its
	// latest SDP (guarded by Session.mu): what the engine plays to it.
	recv [2]audioFormat
	pts  [2]ptSet // the payload types of each side's latest m= line (guarded by Session.mu)
	// hears is whether each side's latest SDP has it receive on the
	// stream (not sendonly or inactive: on hold); the engine's playing
	// skips the frames of a side that does not, as time runs on.
	hears [2]atomic.Bool
}

// described records what side's latest SDP says of the stream: the G.711
// format it receives, its payload types and its direction. Under Session.mu.
func (st *stream) described(side Side, f audioFormat, pts ptSet, dir Direction) {
	st.recv[side], st.pts[side] = f, pts
	st.hears[side].Store(dir&DirRecv != 0)
}

// dest is what the relay knows of one side's address for one socket kind. A
// new one is stored (never modified) on every SDP change, window opening and
// latch, so the forwarding loop reads it without locks or copies.
type dest struct {
	addr    netip.AddrPort // where the side receives: the latched source, else the SDP address
	sdp     netip.AddrPort // the address the side's SDP names (invalid if it names none usable)
	latched bool           // addr is the source of packets actually received from the side
	match   match          // how well addr matches sdp, once latched
	// The learning window: from open to shut (unix nanos) a source other
	// than sdp may be latched. open is 0 until the side both has SDP and
	// has been told its relay port, so a window cannot run out before the
	// party can send.
	open, shut int64
}

// learned is what a side's latest SDP said about one stream.
type learned struct {
	set       bool
	rtp, rtcp netip.AddrPort
}

func newSession(r *Relay, log zerolog.Logger) *Session {
	s := &Session{relay: r, log: log, window: int64(r.window)}
	for i := range s.origin {
		s.origin[i].id = rand.Uint64()>>2 | 1 // positive and non-zero, as o= sess-id must be
		s.origin[i].version = 1
	}
	return s
}

// Reserve takes, before any SDP is known, both port pairs of `streams`
// streams, all or nothing. It is for a late offer (an INVITE without SDP):
// the offer comes only in B's 2xx, when running out of ports would lose a
// call B has already picked up, so the ports are taken before B is called.
// The first SDP (B's offer) gets the reserved pairs, audio streams first.
// A stream beyond them gets ports if any are free, else it is rejected
// (port 0 in the SDP sent on, RFC 3264 6) instead of failing the SDP, so the
// call keeps its audio; pairs it leaves unused go back at once. The same
// holds for a later SDP from the offerer before the answer (B's 200 after
// its 183 bringing a stream more). Reserve
// returns ErrPortsExhausted (nothing taken) or ErrSessionClosed.
func (s *Session) Reserve(streams int) error {
	if streams < 1 || streams > maxMediaLines {
		return fmt.Errorf("media: reserve %d streams: want 1 to %d", streams, maxMediaLines)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("media: reserve ports: %w", ErrSessionClosed)
	}
	taken := make([][2]*portPair, 0, streams)
	for range streams {
		p, err := s.takePairs()
		if err != nil {
			s.releasePairs(taken)
			return fmt.Errorf("media: reserve ports for %d streams: %w", streams, err)
		}
		taken = append(taken, p)
	}
	s.spare = append(s.spare, taken...)
	s.late = true
	return nil
}

// Rewrite takes SDP (offer or answer) received from side from, learns that
// side's media addresses from it and returns the SDP to send to the other
// side, pointing at the relay's ports facing that side.
//
// An SDP that brings an m= line the session has no ports for yet (the offer,
// or a re-offer adding a stream) reserves both pairs of that stream at once,
// the one facing each side, so that the answer never waits for ports and
// cannot fail for lack of them. Called again (183 then 200, re-INVITE) it
// updates the learned addresses and reuses the ports. The first SDP from a
// side once the other side's is known is the answer; it may not bring more
// m= lines than the offer (RFC 3264 6), and it takes no ports: a stream the
// offer had none for is rejected (port 0) towards the offerer. Later answers
// (to a re-INVITE, or B's 200 after its 183) look like offers here: what
// is known to be an answer goes through RewriteAnswer. After Reserve the
// first SDP takes the reserved pairs (see Reserve). On error
// (ErrMalformedSDP, ErrPortsExhausted, ErrSessionClosed) nothing changes.
func (s *Session) Rewrite(from Side, sdp []byte) ([]byte, error) {
	return s.rewrite(from, sdp, false)
}

// RewriteAnswer is Rewrite for SDP that answers the other side's latest
// (the offer of a mirrored re-INVITE or UPDATE): it may not bring more m=
// lines than that offer (RFC 3264 6; ErrMalformedSDP, nothing changes), and
// it takes no ports: a stream the offer had none for is rejected (port 0)
// towards the offerer. Through Rewrite, such an answer would take ports for
// streams the offerer never offered.
func (s *Session) RewriteAnswer(from Side, sdp []byte) ([]byte, error) {
	return s.rewrite(from, sdp, true)
}

func (s *Session) rewrite(from Side, sdp []byte, answer bool) ([]byte, error) {
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
	if e := s.engine.Load(); e != nil && !e.bridged.Load() {
		return nil, fmt.Errorf("media: rewrite SDP from %s: %w: use Answer for A and AcceptB for B", from, ErrEngineAnswers)
	}
	answer = answer || !s.spoke[from] && s.spoke[to]
	if answer && len(d.media) > s.lines[to] {
		return nil, fmt.Errorf("media: rewrite SDP from %s: %w: the answer has %d m= lines, the offer %d",
			from, ErrMalformedSDP, len(d.media), s.lines[to])
	}

	fresh, err := s.reserve(d, answer)
	if err != nil {
		return nil, fmt.Errorf("media: rewrite SDP from %s: %w", from, err)
	}
	dirs := d.directions()
	now := time.Now().UnixNano()
	ports := make([]int, len(d.media))
	for i, m := range d.media {
		if i == len(s.streams) {
			s.streams = append(s.streams, &stream{})
		}
		st := s.streams[i]
		if p := fresh[i]; p[SideA] != nil {
			s.start(st, i, p)
		}
		s.learn(st, i, from, m, now)
		st.described(from, d.g711Format(i), m.pts, dirs[i])
		if m.port != 0 {
			ports[i] = st.pairs[to].port
			s.reveal(st, i, to, now)
		}
	}
	s.spoke[from] = true
	s.lines[from] = len(d.media)
	s.dirs[from] = dirs
	if answer {
		s.late = false
	}

	return s.renderTo(to, d, ports), nil
}

// renderTo renders d for side to with the relay's ports, bumping the o=
// version that side sees whenever what it is sent changes.
func (s *Session) renderTo(to Side, d *sessionDesc, ports []int) []byte {
	o := &s.origin[to]
	p := rewriteParams{ip: s.relay.advertise, ports: ports, sessID: o.id, version: o.version}
	out := d.render(p)
	if o.last != nil && !bytes.Equal(out, o.last) {
		o.version++
		p.version = o.version
		out = d.render(p)
	}
	o.last = out
	return bytes.Clone(out)
}

// start gives stream i its pairs and starts forwarding on them.
func (s *Session) start(st *stream, i int, p [2]*portPair) {
	st.pairs = p
	for _, side := range [2]Side{SideA, SideB} {
		s.wg.Add(2)
		go s.forward(st, i, side, kindRTP, p[side])
		go s.forward(st, i, side, kindRTCP, p[side])
	}
	s.log.Debug().Int("stream", i).Int("port_a", p[SideA].port).Int("port_b", p[SideB].port).Msg("relay ports taken")
}

// reserve finds both port pairs of every m= line of d that has none yet:
// an answer takes none (the line is rejected), the SDP after Reserve takes
// the reserved pairs and then whatever is free (a line left without is
// rejected), any other SDP takes new pairs, all or nothing. A line rejected
// here gets port 0 in d.
func (s *Session) reserve(d *sessionDesc, answer bool) ([][2]*portPair, error) {
	fresh := make([][2]*portPair, len(d.media))
	needs := func(i int) bool {
		return d.media[i].port != 0 && fresh[i][SideA] == nil &&
			(i >= len(s.streams) || s.streams[i].pairs[SideA] == nil)
	}
	reject := func(i int, why string) {
		d.media[i].port = 0
		d.media[i].refused = why
		s.log.Debug().Int("stream", i).Str("media", d.media[i].kind).Str("why", why).Msg("stream rejected")
	}
	if answer {
		for i := range d.media {
			if needs(i) {
				reject(i, "the offer it answers had no port for it")
			}
		}
		return fresh, nil
	}
	late := s.late
	if len(s.spare) > 0 {
		// Audio first: a call that keeps its voice without its video is
		// still a call.
		for _, audio := range [2]bool{true, false} {
			for i := range d.media {
				if len(s.spare) > 0 && needs(i) && (d.media[i].kind == "audio") == audio {
					fresh[i] = s.spare[len(s.spare)-1]
					s.spare = s.spare[:len(s.spare)-1]
				}
			}
		}
	}
	for i := range d.media {
		if !needs(i) {
			continue
		}
		p, err := s.takePairs()
		if err == nil {
			fresh[i] = p
			continue
		}
		if late {
			reject(i, "no relay ports left")
			continue
		}
		s.releasePairs(fresh)
		return nil, fmt.Errorf("m= line %d: %w", i+1, err)
	}
	// The reservation was for this SDP; what it did not use is free again.
	s.releasePairs(s.spare)
	s.spare = nil
	return fresh, nil
}

// takePairs takes the two pairs of one stream, the one facing each side.
func (s *Session) takePairs() ([2]*portPair, error) {
	var p [2]*portPair
	for _, side := range [2]Side{SideA, SideB} {
		pair, err := s.relay.ports.acquire()
		if err != nil {
			s.releasePairs([][2]*portPair{p})
			return [2]*portPair{}, err
		}
		p[side] = pair
	}
	return p, nil
}

// releasePairs gives back pairs no goroutine reads.
func (s *Session) releasePairs(pairs [][2]*portPair) {
	for _, f := range pairs {
		for _, p := range f {
			if p != nil {
				s.relay.ports.release(p)
			}
		}
	}
}

// learn records where side from receives stream i. An unchanged address
// (183 then 200 with the same SDP) keeps the latch and the window; a changed
// one starts over: packets go to the SDP address, and a new learning window
// opens now if the side knows its relay port, else when it is told.
func (s *Session) learn(st *stream, i int, from Side, m mediaDesc, now int64) {
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
	var open, shut int64
	if st.revealed[from] {
		open, shut = now, now+s.window
	}
	st.dest[from][kindRTP].Store(&dest{addr: l.rtp, sdp: l.rtp, open: open, shut: shut})
	st.dest[from][kindRTCP].Store(&dest{addr: l.rtcp, sdp: l.rtcp, open: open, shut: shut})
	s.log.Debug().Int("stream", i).Stringer("side", from).
		Stringer("rtp", l.rtp).Stringer("rtcp", l.rtcp).Bool("window_open", open != 0).Msg("media address learned from SDP")
}

// reveal records that side to is being sent SDP naming stream i's relay
// port, and opens its learning window if its SDP is known: from now on a
// packet from the party itself can arrive.
func (s *Session) reveal(st *stream, i int, to Side, now int64) {
	if st.revealed[to] {
		return
	}
	st.revealed[to] = true
	for k := range st.dest[to] {
		own := &st.dest[to][k]
		// A forwarding goroutine may latch the SDP address meanwhile.
		for {
			d := own.Load()
			if d == nil || d.open != 0 {
				break
			}
			nd := *d
			nd.open, nd.shut = now, now+s.window
			if own.CompareAndSwap(d, &nd) {
				break
			}
		}
	}
	if st.learned[to].set {
		s.log.Debug().Int("stream", i).Stringer("side", to).Msg("learning window open")
	}
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
	st.PlayedToA, st.PlayedToB = s.played[SideA].Load(), s.played[SideB].Load()
	if e := s.engine.Load(); e != nil {
		st.Digits, st.DigitsLost = e.decoded.Load(), e.lost.Load()
	}
	return st
}

// LastPacket is when the last RTP/RTCP packet was accepted from either side
// (zero if none has been).
func (s *Session) LastPacket() time.Time {
	return unixNanos(max(s.last[SideA].Load(), s.last[SideB].Load()))
}

// LastPacketFrom is when the last RTP/RTCP packet was accepted from side
// (zero if none has been, or side is invalid). Packets from strangers do not
// count. It is one atomic load: a ticker may read it for every call.
func (s *Session) LastPacketFrom(side Side) time.Time {
	if !side.valid() {
		return time.Time{}
	}
	return unixNanos(s.last[side].Load())
}

func unixNanos(n int64) time.Time {
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
	for side := range s.playing {
		if pb := s.playing[side].Load(); pb != nil {
			pb.Stop()
		}
	}
	// Reserved pairs no SDP took: no goroutine reads them.
	s.releasePairs(s.spare)
	s.spare = nil
	var pairs []*portPair
	for _, st := range s.streams {
		for _, p := range st.pairs {
			if p != nil {
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
