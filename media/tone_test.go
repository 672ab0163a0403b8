package media

import (
	"math"
	"testing"
	"time"

	"github.com/xbridge/xbridge/internal/testkit"
)

// TestRingbackCadence: the China default is 1 s of 450 Hz then 4 s of
// silence, in frames of both codecs, and the tone is 450 Hz (not 1000).
func TestRingbackCadence(t *testing.T) {
	s, err := NewTone(ChinaRingback)
	if err != nil {
		t.Fatal(err)
	}
	if s.Frames() != 250 || s.Duration() != 5*time.Second {
		t.Fatalf("%d frames (%v), want 250 (5 s)", s.Frames(), s.Duration())
	}
	for _, c := range []Codec{PCMU, PCMA} {
		pcm := s.PCM(c)
		on, off := pcm[:50*frameSamples], pcm[50*frameSamples:]
		if p := testkit.TonePower(on, 450, sampleRate); p < 0.9 {
			t.Errorf("%s: 450 Hz power %.2f in the burst, want > 0.9", c, p)
		}
		if p := testkit.TonePower(on, 1000, sampleRate); p > 0.01 {
			t.Errorf("%s: 1000 Hz power %.2f in a 450 Hz burst", c, p)
		}
		for i, v := range off {
			if v > 8 || v < -8 {
				t.Fatalf("%s: sample %d of the pause is %d", c, i, v)
			}
		}
	}
	// Another country's cadence: a parameter, not a constant.
	uk, err := NewTone(Tone{Freq: 425, On: 400 * time.Millisecond, Off: 200 * time.Millisecond, Repeat: 2})
	if err != nil || uk.Frames() != 60 {
		t.Fatalf("two bursts of 400+200 ms: %v frames, %v", uk.Frames(), err)
	}
}

func TestWarningBeep(t *testing.T) {
	s := MustTone(WarningBeep)
	if s.Frames() != 60 {
		t.Fatalf("%d frames, want 3 × (10 + 10)", s.Frames())
	}
	pcm := s.PCM(PCMA)
	for burst := 0; burst < 3; burst++ {
		on := pcm[burst*20*frameSamples : (burst*20+10)*frameSamples]
		if p := testkit.TonePower(on, 1000, sampleRate); p < 0.9 {
			t.Errorf("burst %d: 1000 Hz power %.2f", burst, p)
		}
	}
}

func TestNewToneRefuses(t *testing.T) {
	for _, tone := range []Tone{
		{Freq: 10, On: time.Second},
		{Freq: 5000, On: time.Second},
		{Freq: math.NaN(), On: time.Second},
		{Freq: 450, On: 5 * time.Millisecond},
		{Freq: 450, On: time.Second, Off: -time.Second},
		{Freq: 450, On: time.Minute, Off: time.Minute, Repeat: 2},
		{Freq: 450, On: time.Second, Repeat: -1},
		{Freq: 450, On: time.Second, Level: 1.5},
	} {
		if s, err := NewTone(tone); err == nil {
			t.Errorf("%+v: got %s, want an error", tone, s.Name())
		}
	}
}
