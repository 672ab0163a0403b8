package media

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// The engine is the relay answering side A itself, for the IVR of a courier
// call (AXE): there is no B yet. The call's signalling layer drives it:
//
//	answer, err := sess.Answer(offerFromA)   // 200 to A; ErrUnsupportedMedia: 488
//	                                         // (no SDP in A's INVITE: OfferA, AcceptA)
//	pb, _ := sess.Play(media.SideA, prompt)  // and Stop it on the first digit
//	for d := range sess.Digits() { ... }     // RFC 4733 keys from A
//	offer, _ := sess.OfferB()                // the INVITE to B, from B's relay port
//	pb, _ = sess.Play(media.SideA, ringback, media.Loop())
//	err = sess.AcceptB(sdpOf183, false)      // B's early media replaces the ringback
//	err = sess.AcceptB(sdpOf200, true)       // B answered: the ringback stops
//	err = sess.DetachB()                     // or B failed: back to the engine alone
//
// Answer picks PCMU or PCMA (the first of them in A's offer), keeps
// telephone-event with A's payload type, and answers A from A's relay
// port; A keeps that port when B is bridged in, so nothing is re-offered to
// A. Until AcceptB, RTP from A (accepted by the usual latching) goes to the
// engine: telephone-events to the RFC 4733 decoder and out on Digits, audio
// dropped and counted (Flow.Engine). OfferB offers B the codec negotiated
// with A and telephone-event only, so that B's audio reaches A unchanged.
//
// At the switch A sees B's SSRC, sequence numbers and timestamps replace the
// engine's: the relay forwards B's packets as they are, as rtpengine does.
// Rewriting them would cost per-packet state and RTCP rewriting (B's sender
// reports name B's SSRC) on every bridged packet for the life of the call,
// to spare phones an SSRC change RFC 3550 8.2 requires them to handle (and
// that they see anyway when a carrier's early-media source hands over to
// the callee's phone). A phone's jitter buffer resynchronises on the new
// SSRC as on the start of any stream.

// ErrEngineAnswers is returned by Rewrite for SDP of a side the engine
// answers (A until AcceptB), by OfferB, AcceptB and DetachB on a session
// the engine did not answer, and by Answer, OfferA and AcceptA on one that
// is past them (other SDP already, or B bridged in).
var ErrEngineAnswers = errors.New("media engine answers this call")

// digitQueue is how many keys wait on Digits before more are lost: a
// caller keys a few, and the IVR reads them as they come.
const digitQueue = 32

// engine is the state of a session the engine answered; set once by the
// first Answer or OfferA and never replaced.
type engine struct {
	stream int
	st     *stream
	shapes []streamShape // A's m= lines, as the engine's SDP repeats them
	// format is what A negotiated; written under Session.mu by Answer
	// (a re-offer may change it), read by the A-facing RTP loop.
	format  atomic.Pointer[audioFormat]
	bridged atomic.Bool // AcceptB took B's SDP: A's packets go to B
	late    bool        // the engine offered to A (OfferA); guarded by Session.mu
	dec     EventDecoder
	digits  chan Digit
	decoded atomic.Uint64
	lost    atomic.Uint64
}

// take handles a packet from A while the engine answers A; it runs on the
// A-facing RTP loop only and allocates nothing.
func (e *engine) take(p []byte) {
	f := e.format.Load()
	if f.events < 0 || int(p[1]&0x7F) != f.events {
		return
	}
	d, ok := e.dec.Decode(p)
	if !ok {
		return
	}
	e.decoded.Add(1)
	select {
	case e.digits <- d:
	default:
		e.lost.Add(1)
	}
}

// Answer answers side A's offer with the engine: ports for the first audio
// stream of plain RTP offering PCMU or PCMA, the others rejected (port 0).
// It returns the SDP to send to A. Called again before AcceptB (A's
// re-INVITE) it answers the re-offer on the same stream and ports. An offer
// with neither PCMU nor PCMA is ErrUnsupportedMedia (the caller gets 488);
// Answer after other SDP from A, or once B was accepted, is
// ErrEngineAnswers; on any error nothing changes.
func (s *Session) Answer(offer []byte) ([]byte, error) {
	d, err := parseSDP(offer, s.relay.cfg.IP)
	if err != nil {
		return nil, fmt.Errorf("media: engine answer to A: %w", err)
	}
	i, f, err := d.engineStream()
	if err != nil {
		return nil, fmt.Errorf("media: engine answer to A: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("media: engine answer to A: %w", ErrSessionClosed)
	}
	e := s.engine.Load()
	switch {
	case e == nil && (s.spoke[SideA] || s.spoke[SideB] || len(s.spare) > 0):
		return nil, fmt.Errorf("media: engine answer to A: %w: the call already carries SDP", ErrEngineAnswers)
	case e != nil && e.bridged.Load():
		return nil, fmt.Errorf("media: engine answer to A: %w: B is bridged in, re-offers go through Rewrite", ErrEngineAnswers)
	case e != nil && e.late && !s.spoke[SideA]:
		return nil, fmt.Errorf("media: engine answer to A: %w: the engine's offer to A waits for its answer", ErrEngineAnswers)
	case e != nil && i != e.stream:
		return nil, fmt.Errorf("media: engine answer to A: %w: the re-offer moves audio to m= line %d from %d", ErrUnsupportedMedia, i+1, e.stream+1)
	}
	// Only the engine's stream takes ports.
	for j := range d.media {
		if j != i && d.media[j].port != 0 {
			d.media[j].port, d.media[j].refused = 0, "the engine answers one audio stream"
		}
	}
	fresh, err := s.reserve(d, false)
	if err != nil {
		return nil, fmt.Errorf("media: engine answer to A: %w", err)
	}
	now := time.Now().UnixNano()
	for j := len(s.streams); j < len(d.media); j++ {
		s.streams = append(s.streams, &stream{})
	}
	st := s.streams[i]
	if e == nil {
		e = &engine{stream: i, st: st, digits: make(chan Digit, digitQueue)}
		e.format.Store(&f)
		s.engine.Store(e)
	}
	e.shapes = d.shapesOf(i)
	e.format.Store(&f)
	if p := fresh[i]; p[SideA] != nil {
		s.start(st, i, p)
	}
	for j, m := range d.media {
		s.learn(s.streams[j], j, SideA, m, now)
	}
	s.dirs[SideA] = d.directions()
	st.described(SideA, f, d.media[i].pts, s.dirs[SideA][i])
	s.reveal(st, i, SideA, now)
	s.spoke[SideA] = true
	s.lines[SideA] = len(d.media)
	ports := make([]int, len(d.media))
	ports[i] = st.pairs[SideA].port
	answer := engineDesc(e.shapes, i, f, answerDirection(s.dirs[SideA][i]))
	return s.renderTo(SideA, answer, ports), nil
}

// OfferA is the engine's offer to A when A's INVITE came without SDP (a
// late offer, to go in the 200): one audio stream from A's relay port
// offering PCMU, PCMA and telephone-event. A's answer (in its ACK) goes to
// AcceptA; until then nothing is played or decoded. ErrEngineAnswers when
// the call already carries SDP, ErrPortsExhausted when no ports are left;
// nothing changes on error. Called again before AcceptA, it repeats the
// offer.
func (s *Session) OfferA() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("media: engine offer to A: %w", ErrSessionClosed)
	}
	e := s.engine.Load()
	switch {
	case e == nil && (s.spoke[SideA] || s.spoke[SideB] || len(s.spare) > 0 || len(s.streams) > 0):
		return nil, fmt.Errorf("media: engine offer to A: %w: the call already carries SDP", ErrEngineAnswers)
	case e != nil && (s.spoke[SideA] || !e.late):
		return nil, fmt.Errorf("media: engine offer to A: %w: A has SDP", ErrEngineAnswers)
	}
	if e == nil {
		p, err := s.takePairs()
		if err != nil {
			return nil, fmt.Errorf("media: engine offer to A: %w", err)
		}
		st := &stream{}
		s.streams = append(s.streams, st)
		s.start(st, 0, p)
		e = &engine{stream: 0, st: st, shapes: lateOfferShapes, late: true, digits: make(chan Digit, digitQueue)}
		e.format.Store(&audioFormat{events: -1})
		s.engine.Store(e)
	}
	s.reveal(e.st, 0, SideA, time.Now().UnixNano())
	ports := []int{e.st.pairs[SideA].port}
	return s.renderTo(SideA, engineDesc(lateOfferShapes, 0, lateOfferPCMU, DirSendRecv, lateOfferPCMA), ports), nil
}

// AcceptA takes A's answer to OfferA: it must accept PCMU or PCMA on the
// stream (else ErrUnsupportedMedia: end the call), and from then on the
// engine plays and decodes as after Answer. ErrEngineAnswers without an
// OfferA before, or a second time; nothing changes on error.
func (s *Session) AcceptA(answer []byte) error {
	d, err := parseSDP(answer, s.relay.cfg.IP)
	if err != nil {
		return fmt.Errorf("media: engine: A's answer: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("media: engine: A's answer: %w", ErrSessionClosed)
	}
	e := s.engine.Load()
	if e == nil || !e.late || s.spoke[SideA] {
		return fmt.Errorf("media: engine: A's answer: %w: no engine offer waits for it", ErrEngineAnswers)
	}
	if len(d.media) != 1 {
		return fmt.Errorf("media: engine: A's answer: %w: %d m= lines answer an offer of 1", ErrMalformedSDP, len(d.media))
	}
	f := d.g711Format(0)
	if !f.ok || f.pt != lateOfferPCMU.pt && f.pt != lateOfferPCMA.pt {
		return fmt.Errorf("media: engine: A's answer: %w: A accepts neither PCMU (0) nor PCMA (8)", ErrUnsupportedMedia)
	}
	s.learn(e.st, 0, SideA, d.media[0], time.Now().UnixNano())
	s.dirs[SideA] = d.directions()
	e.st.described(SideA, f, d.media[0].pts, s.dirs[SideA][0])
	e.format.Store(&f)
	s.spoke[SideA] = true
	s.lines[SideA] = 1
	return nil
}

// OfferB is the SDP offer for B's leg once the engine knows where the call
// goes: the m= lines A offered, all rejected but the engine's stream, which
// offers from B's relay port exactly the codec negotiated with A (and
// telephone-event if A has it). ErrEngineAnswers on a session Answer did not
// answer.
func (s *Session) OfferB() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("media: engine offer to B: %w", ErrSessionClosed)
	}
	e := s.engine.Load()
	if e == nil {
		return nil, fmt.Errorf("media: engine offer to B: %w: not answered by the engine", ErrEngineAnswers)
	}
	ports := make([]int, len(e.shapes))
	ports[e.stream] = e.st.pairs[SideB].port
	s.reveal(e.st, e.stream, SideB, time.Now().UnixNano())
	return s.renderTo(SideB, engineDesc(e.shapes, e.stream, *e.format.Load(), DirSendRecv), ports), nil
}

// AcceptB takes B's SDP answering OfferB (a 183's early media, then the
// 200's; answered is true for the 2xx) and bridges B in: from now on A's
// packets go to B, and B's to A. A playback towards A (the ringback) stops
// when B's first packet reaches A, or at once when answered. Nothing is sent
// to A: A keeps its relay port, codec and SDP. B's answer must accept the
// negotiated codec on the engine's stream, else ErrUnsupportedMedia (drop B
// and tell A); on any error nothing changes. Later SDP of either side (a
// re-INVITE) goes through Rewrite.
func (s *Session) AcceptB(sdp []byte, answered bool) error {
	d, err := parseSDP(sdp, s.relay.cfg.IP)
	if err != nil {
		return fmt.Errorf("media: engine: B's answer: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("media: engine: B's answer: %w", ErrSessionClosed)
	}
	e := s.engine.Load()
	if e == nil {
		return fmt.Errorf("media: engine: B's answer: %w: not answered by the engine", ErrEngineAnswers)
	}
	if len(d.media) != len(e.shapes) {
		return fmt.Errorf("media: engine: B's answer: %w: %d m= lines answer an offer of %d", ErrMalformedSDP, len(d.media), len(e.shapes))
	}
	want := *e.format.Load()
	m := &d.media[e.stream]
	if m.port == 0 || !m.pts.has(int(want.pt)) {
		return fmt.Errorf("media: engine: B's answer: %w: B does not accept %s (payload type %d) on m= line %d",
			ErrUnsupportedMedia, want.codec, want.pt, e.stream+1)
	}
	for j := range d.media {
		if j != e.stream {
			d.media[j].port = 0 // the engine offered port 0 there
		}
	}
	now := time.Now().UnixNano()
	for j, m := range d.media {
		s.learn(s.streams[j], j, SideB, m, now)
	}
	s.dirs[SideB] = d.directions()
	e.st.described(SideB, want, m.pts, s.dirs[SideB][e.stream])
	s.spoke[SideB] = true
	s.lines[SideB] = len(d.media)
	e.bridged.Store(true)
	if pb := s.playing[SideA].Load(); answered && pb != nil && !pb.replace {
		pb.Stop()
	}
	return nil
}

// DetachB undoes AcceptB when B's leg fails after its SDP came (a 183 with
// early media, then 486 or 480): B's address is forgotten, so whatever B's
// network still sends is dropped as a stranger's and cannot cut short the
// prompt the engine then plays to A, and A's packets go to the engine
// again (keys included). A later OfferB and AcceptB may bridge another B.
// Without an AcceptB before, it changes nothing; ErrEngineAnswers on a
// session the engine did not answer.
func (s *Session) DetachB() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.engine.Load()
	if e == nil {
		return fmt.Errorf("media: engine: detach B: %w: not answered by the engine", ErrEngineAnswers)
	}
	if s.closed || !s.spoke[SideB] {
		return nil
	}
	now := time.Now().UnixNano()
	for j, st := range s.streams {
		s.learn(st, j, SideB, mediaDesc{}, now)
		st.described(SideB, audioFormat{}, ptSet{}, DirInactive)
	}
	s.spoke[SideB] = false
	s.lines[SideB] = 0
	s.dirs[SideB] = nil
	e.bridged.Store(false)
	return nil
}

// Digits delivers the keys A sends as RFC 4733 telephone-events while the
// engine answers A, each key press once, in order; keys that find the
// queue full (digitQueue unread) are lost and counted. It is nil (blocks
// for ever) on a session Answer did not answer; it is never closed.
func (s *Session) Digits() <-chan Digit {
	if e := s.engine.Load(); e != nil {
		return e.digits
	}
	return nil
}
