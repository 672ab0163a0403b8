package media

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"
)

// Playing: the engine sends a Sound to one side from that side's relay RTP
// socket to the address the relay sends it everything else (its latched
// source, else its SDP address), as an RTP stream of its own (SSRC, sequence
// and timestamps the engine's, running on across plays; each play begins a
// talkspurt with the marker bit). Frames for a side whose SDP has it not
// receive (sendonly, inactive, c=0.0.0.0: on hold) are skipped as the
// sound's time runs on. One goroutine per playback paces the
// frames at 20 ms; a packet costs no allocation (the frames are encoded
// when the sound is made, the header is written into a buffer the stream
// keeps).
//
// One playback runs per side: a new Play stops the one before (and starts
// once it has stopped, so two never interleave). A playback yields to the
// other party's media: the first packet forwarded to that side stops it (B's
// early media replacing the ringback). A Replace playback does the reverse:
// for as long as it runs, the packets the relay would forward to that side
// are dropped (counted in Flow.Engine) and the sound is heard instead. The
// warning beep before a call's time limit is played that way to both sides:
// replacing the party's audio for a second costs one atomic load per packet
// and keeps one RTP stream at a time reaching the phone, where mixing would
// decode and re-encode every packet of both directions and inserting the
// beep among the forwarded packets would feed the phone's jitter buffer two
// interleaved streams.

// PlayOption modifies one Play.
type PlayOption func(*Playback)

// Loop plays the sound again and again until stopped (ringback).
func Loop() PlayOption { return func(p *Playback) { p.loop = true } }

// Replace plays the sound instead of the audio the relay forwards to the
// side (the warning beep of a bridged call), rather than yielding to it.
func Replace() PlayOption { return func(p *Playback) { p.replace = true } }

// Playback is one Play of a sound to one side.
type Playback struct {
	sound   *Sound
	side    Side
	loop    bool
	replace bool
	format  audioFormat
	stopped atomic.Bool
	stop    chan struct{}
	done    chan struct{}
	// completed is written by the playing goroutine before done closes.
	completed bool
}

// Stop ends the playback before its next frame (barge-in). It does not
// wait: Done closes once no more frames are sent. Stop is idempotent and
// safe to call from any goroutine, also after the end.
func (p *Playback) Stop() {
	if p.stopped.CompareAndSwap(false, true) {
		close(p.stop)
	}
}

// Done is closed when the playback has sent its last frame: played to the
// end, stopped, yielded to the other party's media, replaced by a newer
// Play, or its session closed.
func (p *Playback) Done() <-chan struct{} { return p.done }

// Completed reports, once Done is closed, whether the sound played to its
// end (false for a looped sound, which only stops).
func (p *Playback) Completed() bool {
	select {
	case <-p.done:
		return p.completed
	default:
		return false
	}
}

// Play starts playing sound to side (see the top of player.go). The side
// must receive PCMU or PCMA on the call's audio stream (the engine's, or
// the first audio stream both sides have described): else
// ErrUnsupportedMedia. ErrSessionClosed after Close.
func (s *Session) Play(side Side, sound *Sound, opts ...PlayOption) (*Playback, error) {
	if !side.valid() {
		return nil, fmt.Errorf("media: play: invalid side %d", side)
	}
	if sound == nil {
		return nil, fmt.Errorf("media: play to %s: no sound", side)
	}
	pb := &Playback{sound: sound, side: side, stop: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(pb)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("media: play to %s: %w", side, ErrSessionClosed)
	}
	st := s.playStream()
	if st == nil {
		return nil, fmt.Errorf("media: play to %s: %w: no audio stream", side, ErrUnsupportedMedia)
	}
	f, ok := st.playFormat(side)
	if !ok {
		return nil, fmt.Errorf("media: play to %s: %w: the call's audio is neither PCMU nor PCMA", side, ErrUnsupportedMedia)
	}
	pb.format = f
	out := s.out[side]
	if out == nil {
		out = newRTPSender(st.pairs[side].conn(kindRTP), &st.dest[side][kindRTP], &st.hears[side], &s.played[side])
		s.out[side] = out
	}
	prev := s.playing[side].Swap(pb)
	if prev != nil {
		prev.Stop()
	}
	s.wg.Add(1)
	go s.play(pb, prev, out)
	return pb, nil
}

// playStream is the stream the engine plays on: its own, else the first
// audio stream with ports.
func (s *Session) playStream() *stream {
	if e := s.engine.Load(); e != nil {
		return e.st
	}
	for _, st := range s.streams {
		if st.pairs[SideA] != nil && (st.recv[SideA].ok || st.recv[SideB].ok) {
			return st
		}
	}
	return nil
}

// playFormat is the G.711 format side can receive on st: one its own SDP
// lists and, once the other side has spoken, the other side's lists too
// (after an offer of PCMU and PCMA answered with PCMA, the offerer is sent
// PCMA): the first G.711 format of the side's own list, else of the other's.
func (st *stream) playFormat(side Side) (audioFormat, bool) {
	other := side.other()
	for _, f := range [2]audioFormat{st.recv[side], st.recv[other]} {
		if f.ok && st.pts[side].has(int(f.pt)) && (st.pts[other] == ptSet{} || st.pts[other].has(int(f.pt))) {
			return f, true
		}
	}
	return audioFormat{}, false
}

// play sends pb's frames, one per tick, after prev (if any) has stopped.
func (s *Session) play(pb *Playback, prev *Playback, out *rtpSender) {
	defer s.wg.Done()
	defer close(pb.done)
	defer s.playing[pb.side].CompareAndSwap(pb, nil)
	if prev != nil {
		select {
		case <-prev.done:
		case <-pb.stop:
			return
		}
	}
	frames := pb.sound.frames[pb.format.codec]
	tick := time.NewTicker(frameDuration)
	defer tick.Stop()
	for i, marker := 0, true; ; i, marker = i+1, false {
		if i == len(frames) {
			if !pb.loop {
				pb.completed = true
				return
			}
			i = 0
		}
		if pb.stopped.Load() {
			return
		}
		out.send(frames[i], pb.format.pt, marker, time.Now().UnixNano())
		select {
		case <-tick.C:
		case <-pb.stop:
			return
		}
	}
}

// rtpSender is the engine's RTP stream towards one side. Only one playing
// goroutine uses it at a time (each waits for the one before to finish).
type rtpSender struct {
	conn  *net.UDPConn
	dest  *atomicDest
	hears *atomic.Bool // the side receives (not on hold)
	sent  *atomic.Uint64
	ssrc  uint32
	seq   uint16
	ts    uint32
	last  int64 // unix nanos of the latest packet; 0 before the first
	buf   [12 + frameSamples]byte
	wrote bool
}

func newRTPSender(conn *net.UDPConn, dest *atomicDest, hears *atomic.Bool, sent *atomic.Uint64) *rtpSender {
	// Random SSRC and starting sequence number and timestamp (RFC 3550
	// 5.1): nothing in the stream reveals the session or the call's age.
	return &rtpSender{conn: conn, dest: dest, hears: hears, sent: sent,
		ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32()}
}

// send writes one frame with payload type pt; marker starts a talkspurt,
// whose timestamp steps over the time nothing was sent. It allocates
// nothing.
func (o *rtpSender) send(frame []byte, pt uint8, marker bool, now int64) {
	if o.wrote {
		o.seq++
		step := uint32(frameSamples)
		if marker && now > o.last {
			if gap := (now - o.last) / int64(frameDuration); gap > 1 {
				step = uint32(gap) * frameSamples
			}
		}
		o.ts += step
	}
	o.wrote, o.last = true, now
	b := o.buf[:12+len(frame)]
	b[0] = 0x80
	b[1] = pt & 0x7F
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], o.seq)
	binary.BigEndian.PutUint32(b[4:], o.ts)
	binary.BigEndian.PutUint32(b[8:], o.ssrc)
	copy(b[12:], frame)
	d := o.dest.Load()
	if d == nil || !sendable(d.addr) || !o.hears.Load() {
		return // the side is on hold or not known: the frame is skipped, as time runs on
	}
	if _, err := o.conn.WriteToUDPAddrPort(b, d.addr); err == nil {
		o.sent.Add(1)
	}
}
