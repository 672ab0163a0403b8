package testkit

import (
	"encoding/binary"
	"math"
	"os"
	"testing"

	"github.com/pion/rtp"
)

// ToneRTP is n RTP packets of 20 ms of a PCMU sine at freq, sequence and
// timestamps from 0: a party speaking, whose audio a test can find again
// (TonePower) in what another heard or in a recording.
func ToneRTP(t testing.TB, freq float64, n int, ssrc uint32) [][]byte {
	t.Helper()
	out := make([][]byte, 0, n)
	for i := range n {
		payload := make([]byte, rtpFrameBytes)
		for j := range payload {
			k := float64(i*rtpFrameBytes + j)
			payload[j] = ulaw(int16(8000 * math.Sin(2*math.Pi*freq*k/8000)))
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * rtpFrameBytes), SSRC: ssrc}, Payload: payload}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// ulaw is G.711 µ-law (the kit's own, so tests check media's decoder
// against an encoder that is not its own).
func ulaw(v int16) byte {
	const bias, clip = 0x84, 32635
	sign := byte(0)
	x := int(v)
	if x < 0 {
		x, sign = -x, 0x80
	}
	x = min(x, clip) + bias
	exp := 7
	for mask := 0x4000; x&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (x >> (exp + 3)) & 0x0f
	return ^(sign | byte(exp<<4) | byte(mant))
}

// ReadStereoWAV reads an 8 kHz 16-bit stereo WAV into its two channels,
// failing the test on anything else.
func ReadStereoWAV(t testing.TB, path string) (left, right []int16) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || string(b[36:40]) != "data" ||
		binary.LittleEndian.Uint16(b[20:]) != 1 || binary.LittleEndian.Uint16(b[22:]) != 2 ||
		binary.LittleEndian.Uint32(b[24:]) != 8000 || binary.LittleEndian.Uint16(b[34:]) != 16 {
		t.Fatalf("%s is not an 8 kHz 16-bit stereo WAV: % x", path, b[:min(len(b), 44)])
	}
	data := b[44:]
	if int(binary.LittleEndian.Uint32(b[40:])) != len(data) || int(binary.LittleEndian.Uint32(b[4:])) != len(b)-8 {
		t.Fatalf("%s: sizes in the header disagree with the file's %d bytes", path, len(b))
	}
	for i := 0; i+3 < len(data); i += 4 {
		left = append(left, int16(binary.LittleEndian.Uint16(data[i:])))
		right = append(right, int16(binary.LittleEndian.Uint16(data[i+2:])))
	}
	return left, right
}

// CheckStereoTones fails the test unless the stereo WAV at path holds the
// tone at leftHz in its left channel and rightHz in its right, and
// neither in the other's: each party's audio in its own channel.
func CheckStereoTones(t testing.TB, path string, leftHz, rightHz float64) {
	t.Helper()
	left, right := ReadStereoWAV(t, path)
	for _, c := range []struct {
		name       string
		pcm        []int16
		own, other float64
	}{{"left", left, leftHz, rightHz}, {"right", right, rightHz, leftHz}} {
		if p := TonePower(c.pcm, c.own, 8000); p < 0.5 {
			t.Errorf("%s channel: its %v Hz tone at power %.2f", c.name, c.own, p)
		}
		if p := TonePower(c.pcm, c.other, 8000); p > 0.05 {
			t.Errorf("%s channel: the other side's %v Hz tone at power %.2f", c.name, c.other, p)
		}
	}
}
