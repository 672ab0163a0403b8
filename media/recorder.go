package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// A recording taps a session's first stream: every RTP packet the relay
// forwards is copied, by value, into a bounded channel (no allocation, no
// lock, never a wait: a full channel stops the recording and marks it
// truncated, and the call goes on), and a goroutine of its own decodes
// G.711 into one mono PCM file per side. Stop interleaves them into a
// stereo WAV, caller (side A) left, callee (side B) right. Payloads the
// relay cannot decode (other codecs) are kept as they came, in a
// side-named .rtp file next to the WAV, and the result says so.

// recordQueue is how many packets may wait for the writer: about 2.5 s of
// both directions at 50 packets a second each.
const recordQueue = 256

// maxRecordPayload is the largest payload kept: 60 ms of G.711. A larger
// one is counted and not kept.
const maxRecordPayload = 480

// maxGap is the longest stretch of silence a timestamp jump may ask to
// write; a longer one re-anchors the side at its arrival time instead.
const maxGap = 10 * sampleRate

type recPacket struct {
	side Side
	pt   uint8
	n    uint16
	ts   uint32
	at   int64 // unix nanos of arrival
	data [maxRecordPayload]byte
}

// Recording is one call's recording in the making.
type Recording struct {
	path    string
	ch      chan recPacket // never closed: a tap may race Stop
	quit    chan struct{}
	full    atomic.Bool // a packet found the queue full: recording stopped
	stopped atomic.Bool
	done    chan struct{}
	sess    *Session
	start   int64

	// The writer's, read after done.
	res   RecordingResult
	sides [2]recSide
}

type recSide struct {
	pcm     *os.File
	w       *bufio.Writer
	samples int64 // written so far
	anchor  bool
	baseTS  uint32
	basePos int64
	raw     *os.File // payloads of codecs not decoded, length-prefixed
	rawPT   int
	scratch [maxRecordPayload]int16
}

// RecordingResult is what a recording came to.
type RecordingResult struct {
	Path    string  // the WAV ("" when none could be written)
	Seconds float64 // its length
	// Truncated: the writer fell behind and the recording stopped early.
	Truncated bool
	// Note says what else to know: payloads kept raw, a write failure.
	Note string
}

// ErrRecording: the session already records, or is closed.
var ErrRecording = errors.New("media: session cannot start a recording")

// Record starts recording the session's first stream into a stereo WAV at
// path (the directory must exist); Stop ends it.
func (s *Session) Record(path string) (*Recording, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrRecording
	}
	r := &Recording{path: path, ch: make(chan recPacket, recordQueue), quit: make(chan struct{}), done: make(chan struct{}),
		sess: s, start: time.Now().UnixNano()}
	for i := range r.sides {
		f, err := os.OpenFile(fmt.Sprintf("%s.%s.pcm", path, Side(i)), os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
		if err != nil {
			r.removeTemp()
			return nil, fmt.Errorf("media: record: %w", err)
		}
		r.sides[i] = recSide{pcm: f, w: bufio.NewWriterSize(f, 32<<10), rawPT: -1}
	}
	if !s.recording.CompareAndSwap(nil, r) {
		r.removeTemp()
		return nil, ErrRecording
	}
	go r.write()
	return r, nil
}

// tap copies one forwarded RTP packet for the writer. It is on the relay's
// hot path: a struct copy into a buffered channel, or nothing.
func (r *Recording) tap(from Side, pkt []byte, now int64) {
	if r.full.Load() || r.stopped.Load() || len(pkt) < 12 {
		return
	}
	hdr := 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // header extension
		if len(pkt) < hdr+4 {
			return
		}
		hdr += 4 + 4*int(binary.BigEndian.Uint16(pkt[hdr+2:]))
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 && end > hdr { // padding
		end -= int(pkt[end-1])
	}
	if hdr >= end || end-hdr > maxRecordPayload {
		return
	}
	var p recPacket
	p.side, p.pt, p.ts, p.at = from, pkt[1]&0x7f, binary.BigEndian.Uint32(pkt[4:]), now
	p.n = uint16(copy(p.data[:], pkt[hdr:end]))
	select {
	case r.ch <- p:
	default:
		r.full.Store(true)
	}
}

// write is the recording's goroutine.
func (r *Recording) write() {
	defer close(r.done)
	var werr error
	take := func(p *recPacket) {
		if werr == nil {
			werr = r.sides[p.side].add(r, p)
		}
	}
	for running := true; running; {
		select {
		case p := <-r.ch:
			take(&p)
		case <-r.quit:
			running = false
		}
	}
	// What was queued before Stop is the recording's end.
	for drained := false; !drained; {
		select {
		case p := <-r.ch:
			take(&p)
		default:
			drained = true
		}
	}
	for i := range r.sides {
		if err := r.sides[i].w.Flush(); err != nil && werr == nil {
			werr = err
		}
	}
	if werr != nil {
		r.res.Note = "recording stopped: " + werr.Error()
	}
}

// add writes one packet of a side: decoded G.711 at its place in time
// (silence for a gap, a late packet dropped), or its raw payload.
func (s *recSide) add(r *Recording, p *recPacket) error {
	var codec Codec
	switch {
	case p.pt == 0:
		codec = PCMU
	case p.pt == 8:
		codec = PCMA
	case p.pt == 13:
		return nil // comfort noise: silence the gap will write
	case p.pt >= 96 && p.n%4 == 0 && p.n <= 16:
		// A dynamic type with RFC 4733's 4-byte events: a key press, no
		// audio. A dynamic codec's frames are longer, and kept raw.
		return nil
	default:
		return s.keepRaw(r, p)
	}
	if !s.anchor {
		s.anchor, s.baseTS = true, p.ts
		s.basePos = (p.at - r.start) * sampleRate / int64(time.Second)
	}
	pos := s.basePos + int64(int32(p.ts-s.baseTS))
	if pos < s.samples {
		return nil // late or repeated
	}
	if gap := pos - s.samples; gap > maxGap {
		s.baseTS, s.basePos = p.ts, max(s.samples, (p.at-r.start)*sampleRate/int64(time.Second))
		pos = s.basePos
	}
	for ; s.samples < pos; s.samples++ {
		if _, err := s.w.Write([]byte{0, 0}); err != nil {
			return err
		}
	}
	pcm := s.scratch[:p.n]
	codec.Decode(pcm, p.data[:p.n])
	var b [2]byte
	for _, v := range pcm {
		binary.LittleEndian.PutUint16(b[:], uint16(v))
		if _, err := s.w.Write(b[:]); err != nil {
			return err
		}
	}
	s.samples += int64(len(pcm))
	return nil
}

// keepRaw appends a payload the relay does not decode to the side's .rtp
// file: be16 length, be32 timestamp, the payload type, the payload.
func (s *recSide) keepRaw(r *Recording, p *recPacket) error {
	if s.raw == nil {
		f, err := os.OpenFile(fmt.Sprintf("%s.%s.rtp", r.path, p.side), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		s.raw, s.rawPT = f, int(p.pt)
	}
	var h [7]byte
	binary.BigEndian.PutUint16(h[:], p.n)
	binary.BigEndian.PutUint32(h[2:], p.ts)
	h[6] = p.pt
	if _, err := s.raw.Write(h[:]); err != nil {
		return err
	}
	_, err := s.raw.Write(p.data[:p.n])
	return err
}

// Stop ends the recording, writes the WAV and returns what it came to.
// The relay stops tapping at once; the WAV is written by the caller's
// goroutine (a second or so for an hour's call), never the relay's.
func (r *Recording) Stop() RecordingResult {
	if r.stopped.Swap(true) {
		<-r.done
		return r.res
	}
	r.sess.recording.CompareAndSwap(r, nil)
	close(r.quit)
	<-r.done
	r.res.Truncated = r.full.Load()
	var notes []string
	if r.res.Note != "" {
		notes = append(notes, r.res.Note)
	}
	for i := range r.sides {
		if s := &r.sides[i]; s.raw != nil {
			notes = append(notes, fmt.Sprintf("side %s sent payload type %d, not G.711: its payloads are kept raw in %s.%s.rtp", Side(i), s.rawPT, r.path, Side(i)))
			if err := s.raw.Close(); err != nil {
				notes = append(notes, err.Error())
			}
		}
	}
	if err := r.interleave(); err != nil {
		notes = append(notes, "no WAV written: "+err.Error())
	} else {
		r.res.Path = r.path
	}
	r.removeTemp()
	for i, n := range notes {
		if i == 0 {
			r.res.Note = n
		} else {
			r.res.Note += "; " + n
		}
	}
	return r.res
}

// interleave writes the two sides' PCM as one stereo WAV: written to a
// temporary name and renamed, so a reader never sees half a file.
func (r *Recording) interleave() error {
	n := max(r.sides[0].samples, r.sides[1].samples)
	r.res.Seconds = float64(n) / sampleRate
	tmp := r.path + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	w := bufio.NewWriterSize(out, 64<<10)
	if err := writeWAVHeader(w, n); err != nil {
		out.Close()
		return err
	}
	var readers [2]*bufio.Reader
	for i := range r.sides {
		f := r.sides[i].pcm
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			out.Close()
			return err
		}
		readers[i] = bufio.NewReaderSize(f, 64<<10)
	}
	var frame [4]byte
	for k := int64(0); k < n; k++ {
		for i := range readers {
			frame[2*i], frame[2*i+1] = 0, 0
			if k < r.sides[i].samples {
				if _, err := io.ReadFull(readers[i], frame[2*i:2*i+2]); err != nil {
					out.Close()
					return err
				}
			}
		}
		if _, err := w.Write(frame[:]); err != nil {
			out.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, r.path)
}

// writeWAVHeader writes the RIFF header of n stereo 16-bit frames at 8 kHz.
func writeWAVHeader(w io.Writer, n int64) error {
	data := uint32(n * 4)
	var h [44]byte
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+data)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], 2) // channels
	binary.LittleEndian.PutUint32(h[24:], sampleRate)
	binary.LittleEndian.PutUint32(h[28:], sampleRate*4)
	binary.LittleEndian.PutUint16(h[32:], 4)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], data)
	_, err := w.Write(h[:])
	return err
}

func (r *Recording) removeTemp() {
	for i := range r.sides {
		if f := r.sides[i].pcm; f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
}
