package media

import (
	"fmt"
	"time"
)

// Audio the engine plays is held as a Sound: 20 ms frames of 160 samples,
// encoded once per codec when the sound is made (a prompt loaded, a tone
// generated), so that playing costs no encoding and no allocation per
// packet. Frames of silence share one slice.

const (
	sampleRate    = 8000
	frameSamples  = 160 // 20 ms at 8 kHz: one RTP packet of G.711
	frameDuration = 20 * time.Millisecond
	// maxSoundFrames bounds one sound: two minutes, 960 KiB per codec.
	maxSoundFrames = 2 * 60 * 1000 / 20
)

// Sound is audio ready to be sent: the same frames in each codec.
// It is immutable and may be played by many sessions at once.
type Sound struct {
	name   string
	frames [numCodecs][][]byte
}

// Name is where the sound came from: the prompt's file, the tone's spec.
func (s *Sound) Name() string { return s.name }

// Frames is the number of 20 ms frames.
func (s *Sound) Frames() int { return len(s.frames[PCMU]) }

// Duration is how long the sound plays once.
func (s *Sound) Duration() time.Duration { return time.Duration(s.Frames()) * frameDuration }

// Frame is frame i in codec c (160 bytes), for tests that compare what a
// party received with what was sent. The slice must not be modified.
func (s *Sound) Frame(c Codec, i int) []byte { return s.frames[c][i] }

// PCM is the sound decoded back from codec c: what a party hears.
func (s *Sound) PCM(c Codec) []int16 {
	out := make([]int16, 0, s.Frames()*frameSamples)
	var buf [frameSamples]int16
	for _, f := range s.frames[c] {
		c.Decode(buf[:], f)
		out = append(out, buf[:]...)
	}
	return out
}

// silenceFrames are one silent frame per codec, shared by every sound.
var silenceFrames = func() (f [numCodecs][]byte) {
	for c := range numCodecs {
		f[c] = make([]byte, frameSamples)
		for i := range f[c] {
			f[c][i] = c.silence()
		}
	}
	return f
}()

// soundBuilder encodes samples frame by frame into every codec.
type soundBuilder struct {
	s   *Sound
	buf [frameSamples]int16
	n   int // samples in buf
}

func newSoundBuilder(name string, frames int) *soundBuilder {
	b := &soundBuilder{s: &Sound{name: name}}
	for c := range b.s.frames {
		b.s.frames[c] = make([][]byte, 0, frames)
	}
	return b
}

// sample adds one linear sample.
func (b *soundBuilder) sample(v int16) {
	b.buf[b.n] = v
	if b.n++; b.n == frameSamples {
		b.flush()
	}
}

// coded adds one frame already in codec from (a µ-law or A-law WAV): it
// is kept as it is in that codec and transcoded to the others.
func (b *soundBuilder) coded(from Codec, frame []byte) {
	var pcm [frameSamples]int16
	from.Decode(pcm[:], frame)
	for c := range numCodecs {
		f := make([]byte, frameSamples)
		if c == from {
			copy(f, frame)
		} else {
			c.Encode(f, pcm[:])
		}
		b.s.frames[c] = append(b.s.frames[c], f)
	}
}

// silence adds n silent frames (the shared one).
func (b *soundBuilder) silence(n int) {
	for range n {
		for c := range numCodecs {
			b.s.frames[c] = append(b.s.frames[c], silenceFrames[c])
		}
	}
}

// flush encodes the buffered samples as a frame, padding with silence.
func (b *soundBuilder) flush() {
	if b.n == 0 {
		return
	}
	clear(b.buf[b.n:])
	for c := range numCodecs {
		f := make([]byte, frameSamples)
		c.Encode(f, b.buf[:])
		b.s.frames[c] = append(b.s.frames[c], f)
	}
	b.n = 0
}

func (b *soundBuilder) done() (*Sound, error) {
	b.flush()
	if b.s.Frames() == 0 {
		return nil, fmt.Errorf("%w: no audio", ErrUnsupportedAudio)
	}
	return b.s, nil
}
