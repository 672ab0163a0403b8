package dtmfpcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The shape of a phone's stream: 20 ms PCMU frames at 8000 Hz, an event
// update every 50 ms while a key is held, and the final packet of an event
// sent three times (RFC 4733 section 2.5.1.4), 20 ms apart.
const (
	clockRate      = 8000
	frame          = 20 * time.Millisecond
	frameSamples   = 160
	updateInterval = 50 * time.Millisecond
	endRepeats     = 3
	pcmuPT         = 0
	pcmuSilence    = 0xFF // μ-law of a zero sample
	rtpHeaderLen   = 12
	eventLen       = 4
	// maxKeyTime: the 16-bit duration field counts at most 65535 samples
	// (8.19 s); a key held longer would need segments this tool does not
	// write.
	maxKeyTime = 8 * time.Second
	maxKeys    = 64
)

// The stream's timing unless options say otherwise: a key held 160 ms, 300
// ms from one key's release to the next, half a second of audio before the
// first; payload type 101, the usual choice of phones for telephone-event.
const (
	DefaultKeyTime     = 160 * time.Millisecond
	DefaultGap         = 300 * time.Millisecond
	DefaultLeadIn      = 500 * time.Millisecond
	DefaultPayloadType = 101
)

// ErrBadOption: a duration or payload type the stream cannot be built with.
var ErrBadOption = errors.New("dtmfpcap: bad option")

// Packet is one RTP packet of the stream and when it leaves, counted from
// the stream's first packet.
type Packet struct {
	At  time.Duration
	RTP []byte
}

type config struct {
	payloadType uint8
	keyTime     time.Duration
	gap         time.Duration
	leadIn      time.Duration
	audio       bool
	ssrc        uint32
	seq         uint16
	timestamp   uint32
}

// Option changes how Keys builds the stream.
type Option func(*config)

// WithPayloadType sets the telephone-event payload type the SDP offered
// (default 101, 96-127 allowed).
func WithPayloadType(pt uint8) Option { return func(c *config) { c.payloadType = pt } }

// WithKeyTime sets how long each key is held (default 160 ms, a multiple of
// 20 ms up to 8 s).
func WithKeyTime(d time.Duration) Option { return func(c *config) { c.keyTime = d } }

// WithGap sets the time from releasing a key to pressing the next, and the
// audio after the last key (default 300 ms, a multiple of 20 ms, at least
// 60 ms so that an event's repeated end packets are out before the next
// event starts).
func WithGap(d time.Duration) Option { return func(c *config) { c.gap = d } }

// WithLeadIn sets how much audio precedes the first key (default 500 ms, a
// multiple of 20 ms): a receiver has learned the stream's SSRC and
// sequence before the first event arrives, as with a real phone.
func WithLeadIn(d time.Duration) Option { return func(c *config) { c.leadIn = d } }

// WithoutAudio leaves out the PCMU silence: the stream is the events alone,
// as from a phone that sends nothing between key presses.
func WithoutAudio() Option { return func(c *config) { c.audio = false } }

// WithStart sets the stream's SSRC, first sequence number and first
// timestamp (RFC 3550 wants them random; the defaults are fixed so that a
// given key string always gives the same bytes).
func WithStart(ssrc uint32, seq uint16, timestamp uint32) Option {
	return func(c *config) { c.ssrc, c.seq, c.timestamp = ssrc, seq, timestamp }
}

func (c config) check() error {
	if c.payloadType < 96 || c.payloadType > 127 {
		return fmt.Errorf("%w: payload type %d is not dynamic (96-127)", ErrBadOption, c.payloadType)
	}
	for _, d := range []struct {
		name     string
		v, least time.Duration
	}{{"key time", c.keyTime, frame}, {"gap", c.gap, 3 * frame}, {"lead-in", c.leadIn, 0}} {
		if d.v < d.least || d.v%frame != 0 {
			return fmt.Errorf("%w: %s %s is not a multiple of %s of at least %s", ErrBadOption, d.name, d.v, frame, d.least)
		}
	}
	if c.keyTime > maxKeyTime {
		return fmt.Errorf("%w: key time %s is over %s", ErrBadOption, c.keyTime, maxKeyTime)
	}
	return nil
}

// Keys builds the stream a phone sends while keys (e.g. "1234#") are
// pressed one after the other: PCMU silence every 20 ms, and for each key
// an RFC 4733 event in place of the audio: the first packet with the
// marker bit, an update every 50 ms with the duration so far, and three
// end packets with the E bit and the full duration; every packet of one
// event carries the timestamp of the key press, and every packet a new
// sequence number.
func Keys(keys string, opts ...Option) ([]Packet, error) {
	c := config{payloadType: DefaultPayloadType, keyTime: DefaultKeyTime, gap: DefaultGap,
		leadIn: DefaultLeadIn, audio: true, ssrc: 0x78627264, seq: 1000, timestamp: 16000}
	for _, o := range opts {
		o(&c)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	if keys == "" || len(keys) > maxKeys {
		return nil, fmt.Errorf("%w: %d keys (1-%d)", ErrBadKey, len(keys), maxKeys)
	}
	codes := make([]uint8, len(keys))
	for i := range len(keys) {
		code, err := EventCode(keys[i])
		if err != nil {
			return nil, err
		}
		codes[i] = code
	}
	s := stream{c: c, seq: c.seq}
	at := time.Duration(0)
	s.silence(at, c.leadIn)
	at += c.leadIn
	for _, code := range codes {
		s.event(at, code)
		at += c.keyTime
		s.silence(at+endRepeats*frame, c.gap-endRepeats*frame)
		at += c.gap
	}
	return s.out, nil
}

// stream appends packets in the order they leave.
type stream struct {
	c   config
	seq uint16
	out []Packet
}

// samples is the RTP clock at a time of the stream.
func (s *stream) samples(at time.Duration) uint32 {
	return s.c.timestamp + uint32(at/time.Millisecond)*clockRate/1000
}

// silence appends PCMU silence frames from `from` for d.
func (s *stream) silence(from, d time.Duration) {
	if !s.c.audio {
		return
	}
	for at := from; at < from+d; at += frame {
		p := s.header(make([]byte, 0, rtpHeaderLen+frameSamples), false, pcmuPT, s.samples(at))
		for range frameSamples {
			p = append(p, pcmuSilence)
		}
		s.out = append(s.out, Packet{At: at, RTP: p})
	}
}

// event appends the packets of one key held for the key time from start.
func (s *stream) event(start time.Duration, code uint8) {
	ts := s.samples(start)
	first := true
	add := func(at time.Duration, end bool, held time.Duration) {
		p := s.header(make([]byte, 0, rtpHeaderLen+eventLen), first, s.c.payloadType, ts)
		first = false
		p = appendEvent(p, code, end, uint16(held/time.Millisecond*clockRate/1000))
		s.out = append(s.out, Packet{At: at, RTP: p})
	}
	for held := updateInterval; held < s.c.keyTime; held += updateInterval {
		add(start+held, false, held)
	}
	for i := range endRepeats {
		add(start+s.c.keyTime+time.Duration(i)*frame, true, s.c.keyTime)
	}
}

// header appends an RTP fixed header (RFC 3550 section 5.1): version 2, no
// padding, extension or CSRC, and takes the next sequence number.
func (s *stream) header(b []byte, marker bool, pt uint8, ts uint32) []byte {
	m := pt
	if marker {
		m |= 0x80
	}
	b = append(b, 0x80, m)
	b = binary.BigEndian.AppendUint16(b, s.seq)
	b = binary.BigEndian.AppendUint32(b, ts)
	b = binary.BigEndian.AppendUint32(b, s.c.ssrc)
	s.seq++
	return b
}
