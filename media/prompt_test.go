package media

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wavFile builds a WAV: a fmt chunk of tag/channels/rate/bits and data.
func wavFile(tag, channels uint16, rate uint32, bits uint16, data []byte) []byte {
	le := binary.LittleEndian
	fmtChunk := make([]byte, 16)
	le.PutUint16(fmtChunk[0:], tag)
	le.PutUint16(fmtChunk[2:], channels)
	le.PutUint32(fmtChunk[4:], rate)
	align := channels * bits / 8
	le.PutUint32(fmtChunk[8:], rate*uint32(align))
	le.PutUint16(fmtChunk[12:], align)
	le.PutUint16(fmtChunk[14:], bits)
	var b []byte
	b = append(b, "RIFF\x00\x00\x00\x00WAVE"...)
	// A LIST chunk before fmt, as sox and many editors write one: skipped.
	b = append(b, "LIST\x03\x00\x00\x00abc\x00"...)
	b = append(b, "fmt \x10\x00\x00\x00"...)
	b = append(b, fmtChunk...)
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	le.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pcm16(samples []int16) []byte {
	b := make([]byte, 2*len(samples))
	for i, v := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

// TestLoadPromptPCM: 16-bit PCM is cut into 20 ms frames, encoded in both
// codecs, the last frame padded with silence.
func TestLoadPromptPCM(t *testing.T) {
	samples := make([]int16, 2*frameSamples+10)
	for i := range samples {
		samples[i] = int16(8000 * math.Sin(float64(i)/5))
	}
	s, err := LoadPrompt(writeFile(t, "p.wav", wavFile(wavPCM, 1, 8000, 16, pcm16(samples))))
	if err != nil {
		t.Fatal(err)
	}
	if s.Frames() != 3 {
		t.Fatalf("%d frames, want 3", s.Frames())
	}
	for _, c := range []Codec{PCMU, PCMA} {
		want := make([]byte, frameSamples)
		c.Encode(want, samples[frameSamples:2*frameSamples])
		if got := s.Frame(c, 1); string(got) != string(want) {
			t.Errorf("%s frame 1 differs from the encoded samples", c)
		}
		last := s.Frame(c, 2)
		for i := 10; i < frameSamples; i++ {
			if last[i] != c.silence() {
				t.Fatalf("%s: last frame byte %d is %#x, want silence", c, i, last[i])
			}
		}
	}
}

// TestLoadPromptCoded: a µ-law WAV is kept byte for byte as PCMU and
// transcoded to PCMA; an A-law one the other way round.
func TestLoadPromptCoded(t *testing.T) {
	data := make([]byte, frameSamples)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, c := range []struct {
		tag  uint16
		from Codec
	}{{wavULaw, PCMU}, {wavALaw, PCMA}} {
		s, err := LoadPrompt(writeFile(t, "c.wav", wavFile(c.tag, 1, 8000, 8, data)))
		if err != nil {
			t.Fatal(err)
		}
		if string(s.Frame(c.from, 0)) != string(data) {
			t.Errorf("%s WAV not kept as it is", c.from)
		}
		other := PCMA
		if c.from == PCMA {
			other = PCMU
		}
		pcm := make([]int16, frameSamples)
		c.from.Decode(pcm, data)
		want := make([]byte, frameSamples)
		other.Encode(want, pcm)
		if string(s.Frame(other, 0)) != string(want) {
			t.Errorf("%s WAV not transcoded to %s", c.from, other)
		}
	}
}

// TestLoadPromptRefuses: everything but 8 kHz mono 16-bit PCM or 8-bit
// G.711 is refused with ErrUnsupportedAudio saying what the file holds.
func TestLoadPromptRefuses(t *testing.T) {
	one := pcm16(make([]int16, frameSamples))
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"stereo", wavFile(wavPCM, 2, 8000, 16, one), "2 channels"},
		{"44.1 kHz", wavFile(wavPCM, 1, 44100, 16, one), "44100 Hz"},
		{"8-bit PCM", wavFile(wavPCM, 1, 8000, 8, one), "8-bit PCM"},
		{"24-bit PCM", wavFile(wavPCM, 1, 8000, 24, one), "24-bit PCM"},
		{"float", wavFile(3, 1, 8000, 32, one), "format tag 0x3"},
		{"16-bit µ-law", wavFile(wavULaw, 1, 8000, 16, one), "format tag 0x7"},
		{"not RIFF", []byte("ID3\x03 an mp3 file......"), "not a RIFF/WAVE"},
		{"empty data", wavFile(wavPCM, 1, 8000, 16, nil), "no audio"},
		{"no data", wavFile(wavPCM, 1, 8000, 16, one)[:48], "no data chunk"},
		{"short fmt", []byte("RIFF\x10\x00\x00\x00WAVEfmt \x04\x00\x00\x00\x01\x00\x01\x00"), "fmt chunk of 4 bytes"},
		{"chunk past end", []byte("RIFF\x10\x00\x00\x00WAVEfmt \xff\x00\x00\x00\x01\x00"), "runs past the end"},
	}
	for _, c := range cases {
		s, err := LoadPrompt(writeFile(t, "bad.wav", c.file))
		if s != nil || !errors.Is(err, ErrUnsupportedAudio) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, %v; want ErrUnsupportedAudio saying %q", c.name, s, err, c.want)
		}
	}
	if _, err := LoadPrompt(filepath.Join(t.TempDir(), "missing.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestShippedPrompts: every prompt in testdata/prompts loads, in both
// languages, and lasts a few seconds.
func TestShippedPrompts(t *testing.T) {
	names := []string{"enter-extension", "not-found-retry", "goodbye", "callee-unavailable", "no-callback", "unknown-number"}
	for _, lang := range []string{"zh", "en"} {
		for _, n := range names {
			s, err := LoadPrompt(filepath.Join("..", "testdata", "prompts", lang, n+".wav"))
			if err != nil {
				t.Fatal(err)
			}
			if d := s.Duration(); d.Seconds() < 0.5 || d.Seconds() > 8 {
				t.Errorf("%s/%s lasts %v", lang, n, d)
			}
		}
	}
}

func FuzzDecodeWAV(f *testing.F) {
	f.Add(wavFile(wavPCM, 1, 8000, 16, pcm16(make([]int16, 300))))
	f.Add(wavFile(wavULaw, 1, 8000, 8, make([]byte, 170)))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeWAV("fuzz", b)
		if (s == nil) == (err == nil) {
			t.Fatalf("sound %v and error %v", s, err)
		}
		if s != nil && (s.Frames() == 0 || len(s.Frame(PCMA, s.Frames()-1)) != frameSamples) {
			t.Fatalf("bad frames")
		}
	})
}
