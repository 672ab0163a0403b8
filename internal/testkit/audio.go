package testkit

import "math"

// Audio checks for tests that decode what a party heard (G.711 back to
// 16-bit PCM) and look for a prompt or a tone in it.

// Correlation is the normalised correlation of x and y over their common
// length: 1 for the same signal, about 0 for unrelated ones (or silence).
func Correlation(x, y []int16) float64 {
	n := min(len(x), len(y))
	var xy, xx, yy float64
	for i := 0; i < n; i++ {
		a, b := float64(x[i]), float64(y[i])
		xy, xx, yy = xy+a*b, xx+a*a, yy+b*b
	}
	if xx == 0 || yy == 0 {
		return 0
	}
	return xy / math.Sqrt(xx*yy)
}

// FindAudio looks for want in heard at every offset that is a multiple of
// step samples (160: the 20 ms frames audio is sent in) and returns the best
// offset and its correlation; -1 and 0 when heard is shorter than want.
func FindAudio(heard, want []int16, step int) (offset int, corr float64) {
	offset = -1
	if step < 1 {
		step = 1
	}
	for off := 0; off+len(want) <= len(heard); off += step {
		if c := Correlation(heard[off:off+len(want)], want); offset < 0 || c > corr {
			offset, corr = off, c
		}
	}
	return offset, corr
}

// TonePower is the share of pcm's power at freq Hz (Goertzel), sampled at
// rate: about 1 for a pure tone at freq, near 0 for silence or another
// frequency.
func TonePower(pcm []int16, freq float64, rate int) float64 {
	coeff := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2, energy float64
	for _, v := range pcm {
		x := float64(v) / math.MaxInt16
		s1, s2 = x+coeff*s1-s2, s1
		energy += x * x
	}
	if energy == 0 {
		return 0
	}
	return (s1*s1 + s2*s2 - coeff*s1*s2) / (energy * float64(len(pcm)) / 2)
}
