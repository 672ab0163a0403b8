package media

// G.711 (ITU-T G.711, 1988), the two 8 kHz codecs the engine speaks: it
// answers a caller only with these, so that prompts and tones can be
// encoded once, when they are loaded, and sent as they are. The segment
// arithmetic is that of Sun's reference g711.c and ITU-T G.191's g711.c
// (µ-law's negative samples as G.191 takes them); g711_test.go checks
// it against their values.

// Codec is a G.711 variant.
type Codec uint8

const (
	PCMU Codec = iota // G.711 µ-law (static payload type 0)
	PCMA              // G.711 A-law (static payload type 8)
	numCodecs
)

func (c Codec) String() string {
	switch c {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return "invalid codec"
}

// silence is the code of a zero sample: what pads a prompt's last frame and
// fills a tone's pauses.
func (c Codec) silence() byte {
	if c == PCMA {
		return 0xD5
	}
	return 0xFF
}

// Encode writes one G.711 byte per sample of pcm into dst[:len(pcm)].
func (c Codec) Encode(dst []byte, pcm []int16) {
	dst = dst[:len(pcm)]
	for i, v := range pcm {
		if c == PCMA {
			dst[i] = linearToALaw(v)
		} else {
			dst[i] = linearToULaw(v)
		}
	}
}

// Decode writes one 16-bit sample per byte of src into dst[:len(src)].
func (c Codec) Decode(dst []int16, src []byte) {
	dst = dst[:len(src)]
	for i, b := range src {
		if c == PCMA {
			dst[i] = aLawToLinear(b)
		} else {
			dst[i] = uLawToLinear(b)
		}
	}
}

const (
	ulawBias = 0x84   // added to the magnitude so that every segment starts at a power of two
	ulawMax  = 0x1FFF // largest biased magnitude in the 14-bit domain µ-law encodes
)

// linearToULaw encodes a 16-bit sample; µ-law works on 14 bits. Negative
// samples are complemented, not negated, as G.191 does (so -1 is the
// negative zero, 0x7F).
func linearToULaw(sample int16) byte {
	mask := byte(0xFF)
	if sample < 0 {
		sample, mask = ^sample, 0x7F
	}
	v := min(int(sample)>>2+ulawBias>>2, ulawMax)
	seg := segment(v, 0x3F)
	return (byte(seg<<4) | byte(v>>(seg+1))&0x0F) ^ mask
}

func uLawToLinear(u byte) int16 {
	u = ^u
	t := (int(u&0x0F) << 3) + ulawBias
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(ulawBias - t)
	}
	return int16(t - ulawBias)
}

// linearToALaw encodes a 16-bit sample; A-law works on 13 bits.
func linearToALaw(sample int16) byte {
	v := int(sample) >> 3
	mask := byte(0xD5)
	if v < 0 {
		v, mask = -v-1, 0x55
	}
	seg := segment(v, 0x1F)
	if seg >= 8 {
		return 0x7F ^ mask
	}
	a := byte(seg << 4)
	if seg < 2 {
		a |= byte(v>>1) & 0x0F
	} else {
		a |= byte(v>>seg) & 0x0F
	}
	return a ^ mask
}

func aLawToLinear(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	switch seg := (a & 0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t = (t + 0x108) << (seg - 1)
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// segment is the index of the first of the 8 segment ends (first, then
// doubling plus one: 0x3F, 0x7F, ... ) that v does not exceed; 8 if none.
func segment(v, first int) int {
	end := first
	for seg := 0; seg < 8; seg++ {
		if v <= end {
			return seg
		}
		end = end<<1 | 1
	}
	return 8
}
