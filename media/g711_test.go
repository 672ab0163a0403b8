package media

import "testing"

// TestG711KnownValues: codes and levels from ITU-T G.711 tables 1a/2a (as
// G.191's g711.c reproduces them): the ends of the scale, zero, and a code
// of each segment's start.
func TestG711KnownValues(t *testing.T) {
	ulaw := []struct {
		code byte
		pcm  int16
	}{
		{0xFF, 0}, {0x7F, 0}, {0x80, 32124}, {0x00, -32124},
		{0xFE, 8}, {0x7E, -8}, {0xEF, 132}, {0xDF, 396}, {0xCF, 924}, {0xBF, 1980},
		{0xAF, 4092}, {0x9F, 8316}, {0x8F, 16764}, {0x0F, -16764},
	}
	for _, c := range ulaw {
		if got := uLawToLinear(c.code); got != c.pcm {
			t.Errorf("µ-law %#02x decodes to %d, want %d", c.code, got, c.pcm)
		}
	}
	alaw := []struct {
		code byte
		pcm  int16
	}{
		{0xD5, 8}, {0x55, -8}, {0xAA, 32256}, {0x2A, -32256},
		{0xD4, 24}, {0xC5, 264}, {0xF5, 528}, {0xE5, 1056}, {0x95, 2112}, {0x85, 4224}, {0xB5, 8448}, {0xA5, 16896},
	}
	for _, c := range alaw {
		if got := aLawToLinear(c.code); got != c.pcm {
			t.Errorf("A-law %#02x decodes to %d, want %d", c.code, got, c.pcm)
		}
	}
	enc := []struct {
		pcm        int16
		ulaw, alaw byte
	}{
		{0, 0xFF, 0xD5}, {-1, 0x7F, 0x55}, {32767, 0x80, 0xAA}, {-32768, 0x00, 0x2A},
		{1000, 0xCE, 0xFA}, {-1000, 0x4E, 0x7A},
	}
	for _, c := range enc {
		if got := linearToULaw(c.pcm); got != c.ulaw {
			t.Errorf("µ-law of %d = %#02x, want %#02x", c.pcm, got, c.ulaw)
		}
		if got := linearToALaw(c.pcm); got != c.alaw {
			t.Errorf("A-law of %d = %#02x, want %#02x", c.pcm, got, c.alaw)
		}
	}
}

// TestG711RoundTrip: every code decodes to a level that encodes back to it
// (µ-law's two zeros aside), decoding is monotonic, and every 16-bit sample
// comes back within half a quantisation step of its segment (G.711's
// companding error: about 1/32 of the magnitude, a few units near zero).
func TestG711RoundTrip(t *testing.T) {
	for _, c := range []Codec{PCMU, PCMA} {
		for code := 0; code < 256; code++ {
			var pcm [1]int16
			c.Decode(pcm[:], []byte{byte(code)})
			var back [1]byte
			c.Encode(back[:], pcm[:])
			if back[0] != byte(code) && !(c == PCMU && code == 0x7F) {
				t.Errorf("%s: %#02x -> %d -> %#02x", c, code, pcm[0], back[0])
			}
		}
		prev := int16(-32768)
		worst := 0
		for v := -32768; v <= 32767; v++ {
			var code [1]byte
			var got [1]int16
			c.Encode(code[:], []int16{int16(v)})
			c.Decode(got[:], code[:])
			if got[0] < prev {
				t.Fatalf("%s: not monotonic at %d: %d after %d", c, v, got[0], prev)
			}
			prev = got[0]
			mag := max(v, -v)
			bound := mag/32 + 16
			if c == PCMU && mag > 32124 {
				bound = mag - 32124 + 512 // clipped at the top of the scale
			}
			if err := max(v-int(got[0]), int(got[0])-v); err > bound {
				t.Fatalf("%s: %d comes back as %d, error %d > %d", c, v, got[0], err, bound)
			} else if err > worst {
				worst = err
			}
		}
		t.Logf("%s: worst round-trip error %d", c, worst)
	}
}

func BenchmarkG711Encode(b *testing.B) {
	pcm := make([]int16, frameSamples)
	for i := range pcm {
		pcm[i] = int16(i * 200)
	}
	out := make([]byte, frameSamples)
	b.ReportAllocs()
	for b.Loop() {
		PCMU.Encode(out, pcm)
	}
}
