package media

import (
	"fmt"
	"math"
	"time"
)

// Tone describes a cadenced sine tone: Repeat times On of the tone at Freq
// then Off of silence. Durations are rounded to whole 20 ms frames. Played
// with Loop, the cadence repeats until stopped (ringback); without it the
// sound plays once (the warning beep).
type Tone struct {
	Freq   float64       // Hz, 50 to 3400 (the telephone band)
	On     time.Duration // tone per burst, at least one frame
	Off    time.Duration // silence after each burst
	Repeat int           // bursts; 0 means 1
	// Level is the peak amplitude as a fraction of full scale, 0 < Level
	// <= 1; 0 means DefaultToneLevel.
	Level float64
}

// DefaultToneLevel is about -13 dBm0 (peak at 22% of full scale): clearly
// audible and far from clipping, near the level of the tones a Chinese
// exchange sends (YD/T 1228: -10 ± 3 dBm0 is the range).
const DefaultToneLevel = 0.22

// ChinaRingback is the ringback of Chinese networks (YD/T 1228, GF 002):
// 450 Hz, 1 s on, 4 s off, the default the engine plays while the callee's
// phone rings and its network sends no early media.
var ChinaRingback = Tone{Freq: 450, On: time.Second, Off: 4 * time.Second}

// WarningBeep is three 200 ms beeps at 1000 Hz, 200 ms apart: the short
// warning played to both parties before a call's time limit. It ends with
// the last beep, so the call's audio comes back at once.
var WarningBeep = Tone{Freq: 1000, On: 200 * time.Millisecond, Off: 200 * time.Millisecond, Repeat: 3}

// NewTone generates t into frames for every codec: Repeat times On of
// tone and Off of silence, the last pause included, so that a looped tone
// keeps its cadence across the loop.
func NewTone(t Tone) (*Sound, error) {
	if t.Repeat == 0 {
		t.Repeat = 1
	}
	if t.Level == 0 {
		t.Level = DefaultToneLevel
	}
	on, off := frames(t.On), frames(t.Off)
	switch {
	case t.Freq < 50 || t.Freq > 3400 || math.IsNaN(t.Freq):
		return nil, fmt.Errorf("media: tone frequency %v Hz: want 50 to 3400", t.Freq)
	case on < 1:
		return nil, fmt.Errorf("media: tone on-time %v: want at least %v", t.On, frameDuration)
	case off < 0:
		return nil, fmt.Errorf("media: tone off-time %v is negative", t.Off)
	case t.Repeat < 0 || t.Repeat*(on+off) > maxSoundFrames:
		return nil, fmt.Errorf("media: tone of %d × (%v + %v): want 1 to %d frames in all", t.Repeat, t.On, t.Off, maxSoundFrames)
	case !(t.Level > 0 && t.Level <= 1):
		return nil, fmt.Errorf("media: tone level %v: want 0 < level <= 1", t.Level)
	}
	name := fmt.Sprintf("tone %g Hz %v on %v off ×%d", t.Freq, t.On, t.Off, t.Repeat)
	b := newSoundBuilder(name, t.Repeat*(on+off))
	amp := t.Level * math.MaxInt16
	step := 2 * math.Pi * t.Freq / sampleRate
	for r := 0; r < t.Repeat; r++ {
		// Each burst starts at phase 0 (no click) and every burst is the
		// same, whatever the frequency.
		for i := 0; i < on*frameSamples; i++ {
			b.sample(int16(math.Round(amp * math.Sin(step*float64(i)))))
		}
		b.silence(off)
	}
	return b.done()
}

// MustTone is NewTone for the package's own tones, whose specs are known
// to be valid.
func MustTone(t Tone) *Sound {
	s, err := NewTone(t)
	if err != nil {
		panic(err)
	}
	return s
}

// frames is d in whole frames, rounded to the nearest.
func frames(d time.Duration) int {
	return int((d + frameDuration/2) / frameDuration)
}
