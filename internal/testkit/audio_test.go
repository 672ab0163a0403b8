package testkit

import (
	"math"
	"testing"
)

func sine(freq float64, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/8000))
	}
	return out
}

func TestAudioChecks(t *testing.T) {
	a, b := sine(450, 1600), sine(1000, 1600)
	if c := Correlation(a, a); c < 0.999 {
		t.Errorf("a signal with itself: %v", c)
	}
	if c := Correlation(a, b); math.Abs(c) > 0.05 {
		t.Errorf("450 Hz with 1000 Hz: %v", c)
	}
	if c := Correlation(a, make([]int16, 1600)); c != 0 {
		t.Errorf("with silence: %v", c)
	}
	if p := TonePower(a, 450, 8000); p < 0.95 {
		t.Errorf("450 Hz power of a 450 Hz tone: %v", p)
	}
	if p := TonePower(a, 1000, 8000); p > 0.02 {
		t.Errorf("1000 Hz power of a 450 Hz tone: %v", p)
	}
	// A prompt (the 1000 Hz burst) heard after 3 frames of silence and
	// before more of the other tone.
	heard := append(append(make([]int16, 480), b...), a...)
	if off, c := FindAudio(heard, b, 160); off != 480 || c < 0.999 {
		t.Errorf("found at %d (%v), want 480", off, c)
	}
	if off, _ := FindAudio(b[:10], b, 160); off != -1 {
		t.Errorf("found in a shorter stream at %d", off)
	}
}
