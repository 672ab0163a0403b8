package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrUnsupportedAudio wraps every reason LoadPrompt refuses a file: not a
// WAV, or a WAV in another format than the three the engine plays without
// resampling.
var ErrUnsupportedAudio = errors.New("unsupported audio file")

// WAV format tags (RFC 2361).
const (
	wavPCM        = 1
	wavALaw       = 6
	wavULaw       = 7
	wavExtensible = 0xFFFE
)

// maxPromptBytes bounds the file read: two minutes of 16-bit audio and the
// chunks around it.
const maxPromptBytes = maxSoundFrames*frameSamples*2 + 64<<10

// LoadPrompt reads a WAV file and encodes it for playing: 8 kHz mono,
// 16-bit linear PCM, or 8-bit µ-law or A-law (kept as they are in their own
// codec and transcoded to the other). Anything else — another rate, stereo,
// 8 or 24-bit PCM, compressed formats — is refused with ErrUnsupportedAudio
// naming what the file holds: the engine does not resample, and a prompt
// that plays at the wrong speed is worse than an error at startup.
// `sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav` converts.
// A prompt may last at most two minutes.
func LoadPrompt(path string) (*Sound, error) {
	dir, file := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	return LoadPromptFS(os.DirFS(dir), file)
}

// wavFormat is the fmt chunk's content the engine looks at.
type wavFormat struct {
	tag, channels, bits uint16
	rate                uint32
}

// decodeWAV walks the RIFF chunks of data, checks the fmt chunk and encodes
// the data chunk. Chunks it does not need (LIST, fact, cue) are skipped.
func decodeWAV(name string, data []byte) (*Sound, error) {
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: not a RIFF/WAVE file", ErrUnsupportedAudio)
	}
	var (
		format  wavFormat
		haveFmt bool
	)
	for rest := data[12:]; len(rest) >= 8; {
		id, size := string(rest[0:4]), binary.LittleEndian.Uint32(rest[4:8])
		rest = rest[8:]
		if uint64(size) > uint64(len(rest)) {
			// A writer that could not seek back (a pipe) leaves the size
			// of the data chunk at its maximum: the chunk runs to the end.
			if id != "data" {
				return nil, fmt.Errorf("%w: chunk %q of %d bytes runs past the end of the file", ErrUnsupportedAudio, id, size)
			}
			size = uint32(len(rest))
		}
		body := rest[:size]
		rest = rest[min(uint64(len(rest)), uint64(size)+uint64(size&1)):] // chunks are padded to even sizes
		switch id {
		case "fmt ":
			f, err := parseWAVFormat(body)
			if err != nil {
				return nil, err
			}
			format, haveFmt = f, true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data chunk before the fmt chunk", ErrUnsupportedAudio)
			}
			return encodeWAVData(name, format, body)
		}
	}
	return nil, fmt.Errorf("%w: no data chunk", ErrUnsupportedAudio)
}

func parseWAVFormat(b []byte) (wavFormat, error) {
	if len(b) < 16 {
		return wavFormat{}, fmt.Errorf("%w: fmt chunk of %d bytes, want at least 16", ErrUnsupportedAudio, len(b))
	}
	f := wavFormat{
		tag:      binary.LittleEndian.Uint16(b[0:2]),
		channels: binary.LittleEndian.Uint16(b[2:4]),
		rate:     binary.LittleEndian.Uint32(b[4:8]),
		bits:     binary.LittleEndian.Uint16(b[14:16]),
	}
	if f.tag == wavExtensible {
		// WAVEFORMATEXTENSIBLE: the real tag is the first two bytes of
		// the sub-format GUID, after cbSize, valid bits and channel mask.
		if len(b) < 26 {
			return wavFormat{}, fmt.Errorf("%w: extensible fmt chunk of %d bytes is too short", ErrUnsupportedAudio, len(b))
		}
		f.tag = binary.LittleEndian.Uint16(b[24:26])
	}
	want := "16-bit PCM, 8-bit µ-law or 8-bit A-law, 8000 Hz, mono"
	switch {
	case f.channels != 1:
		return f, fmt.Errorf("%w: %d channels, want %s", ErrUnsupportedAudio, f.channels, want)
	case f.rate != sampleRate:
		return f, fmt.Errorf("%w: %d Hz, want %s", ErrUnsupportedAudio, f.rate, want)
	case f.tag == wavPCM && f.bits == 16, (f.tag == wavULaw || f.tag == wavALaw) && f.bits == 8:
		return f, nil
	case f.tag == wavPCM:
		return f, fmt.Errorf("%w: %d-bit PCM, want %s", ErrUnsupportedAudio, f.bits, want)
	}
	return f, fmt.Errorf("%w: WAV format tag %#x with %d bits, want %s", ErrUnsupportedAudio, f.tag, f.bits, want)
}

func encodeWAVData(name string, f wavFormat, data []byte) (*Sound, error) {
	if f.tag == wavPCM {
		n := len(data) / 2
		b := newSoundBuilder(name, n/frameSamples+1)
		for i := 0; i < n; i++ {
			b.sample(int16(binary.LittleEndian.Uint16(data[2*i:])))
		}
		return b.done()
	}
	from := PCMU
	if f.tag == wavALaw {
		from = PCMA
	}
	b := newSoundBuilder(name, len(data)/frameSamples+1)
	var frame [frameSamples]byte
	for len(data) > 0 {
		n := copy(frame[:], data)
		for i := n; i < len(frame); i++ {
			frame[i] = from.silence()
		}
		b.coded(from, frame[:])
		data = data[n:]
	}
	return b.done()
}
