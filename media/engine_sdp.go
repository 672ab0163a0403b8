package media

import (
	"fmt"
	"strconv"
	"strings"
)

// The SDP the engine writes itself: its answer to the caller while it
// answers the call, and the offer towards the callee it then bridges to.
// Both are built line by line from the engine's own vocabulary and rendered
// by the relay's allowlist renderer (render): of the caller's offer only the
// m= lines' media, proto and payload type numbers (already held to their
// grammars by parseSDP) and the payload type numbers of the chosen codec
// and of telephone-event cross, never a line.

// audioFormat is what a party receives on the engine's stream: the G.711
// codec and the payload type it is carried with, and the telephone-event
// payload type (-1 when the party did not offer telephone-event).
type audioFormat struct {
	ok     bool
	codec  Codec
	pt     uint8
	events int
}

// g711Format is the G.711 format stream i of d can receive: the first PCMU
// or PCMA (static payload type, or a dynamic one mapped by a=rtpmap to
// PCMU/8000 or PCMA/8000) in the m= line's order, and its telephone-event
// payload type.
func (d *sessionDesc) g711Format(i int) audioFormat {
	m := &d.media[i]
	f := audioFormat{events: -1}
	if m.port == 0 || !m.transport.rtp || m.transport.secure || m.kind != "audio" {
		return f
	}
	var maps [128]string // pt -> "name/rate", lower case, from the section's kept rtpmaps
	for _, l := range d.lines {
		if l.media != i || l.kind != lineKeep {
			continue
		}
		v, ok := strings.CutPrefix(l.value, "rtpmap:")
		if !ok {
			continue
		}
		pt, enc, _ := strings.Cut(v, " ")
		if n, ok := payloadType(pt); ok && maps[n] == "" {
			maps[n] = strings.ToLower(enc)
		}
	}
	for field := range strings.FieldsSeq(m.fmts) {
		pt, ok := payloadType(field)
		if !ok {
			continue
		}
		enc := maps[pt]
		if enc == "" {
			switch pt {
			case 0:
				enc = "pcmu/8000"
			case 8:
				enc = "pcma/8000"
			}
		}
		switch {
		case !f.ok && (enc == "pcmu/8000" || enc == "pcmu/8000/1"):
			f.ok, f.codec, f.pt = true, PCMU, uint8(pt)
		case !f.ok && (enc == "pcma/8000" || enc == "pcma/8000/1"):
			f.ok, f.codec, f.pt = true, PCMA, uint8(pt)
		case f.events < 0 && enc == "telephone-event/8000":
			f.events = pt
		}
	}
	return f
}

// engineStream is the first stream of d the engine can answer: audio over
// plain RTP with PCMU or PCMA; ErrUnsupportedMedia when there is none.
func (d *sessionDesc) engineStream() (int, audioFormat, error) {
	for i := range d.media {
		if f := d.g711Format(i); f.ok {
			return i, f, nil
		}
	}
	return -1, audioFormat{}, fmt.Errorf("%w: no audio stream of plain RTP offers PCMU or PCMA", ErrUnsupportedMedia)
}

// streamShape is what the engine's SDP repeats of an m= line of the offer
// it answered: RFC 3264 6 wants the answer's m= lines to match the offer's,
// the rejected ones included, and the offer towards B keeps the same lines
// so that both sides number the streams alike.
type streamShape struct {
	kind, proto, fmts string
}

// engineDesc builds the engine's SDP: one m= line per shape, all rejected
// (port 0) but the engine's stream, which carries exactly the format f (and
// the codecs of more after it: the late offer's PCMA), telephone-event when
// f has it (events 0-15, the keys), 20 ms packets and the direction dir.
func engineDesc(shapes []streamShape, stream int, f audioFormat, dir Direction, more ...audioFormat) *sessionDesc {
	d := &sessionDesc{
		lines: []sdpLine{
			{typ: 'v', media: -1, kind: lineVersion},
			{typ: 'o', media: -1, kind: lineOrigin},
			{typ: 's', media: -1, kind: lineName},
			{typ: 'c', media: -1, kind: lineConn},
			{typ: 't', media: -1, kind: lineTime},
		},
		media: make([]mediaDesc, len(shapes)),
	}
	for i, sh := range shapes {
		d.lines = append(d.lines, sdpLine{typ: 'm', media: i, kind: lineMedia})
		if i != stream {
			d.media[i] = mediaDesc{kind: sh.kind, proto: sh.proto, fmts: sh.fmts}
			continue
		}
		add := func(kind lineKind, value string) {
			d.lines = append(d.lines, sdpLine{typ: 'a', media: i, kind: kind, value: value})
		}
		var fmts []string
		for _, c := range append([]audioFormat{f}, more...) {
			pt := strconv.Itoa(int(c.pt))
			fmts = append(fmts, pt)
			add(lineKeep, "rtpmap:"+pt+" "+c.codec.String()+"/8000")
		}
		if f.events >= 0 {
			ev := strconv.Itoa(f.events)
			fmts = append(fmts, ev)
			add(lineKeep, "rtpmap:"+ev+" telephone-event/8000")
			add(lineFmtp, "fmtp:"+ev+" 0-15")
		}
		add(lineKeep, "ptime:20")
		add(lineKeep, dir.String())
		add(lineRTCP, "")
		d.media[i] = mediaDesc{port: 1, kind: "audio", proto: sh.proto, fmts: strings.Join(fmts, " ")}
	}
	return d
}

// The engine's late offer (to an INVITE without SDP): PCMU, PCMA and
// telephone-event at their usual payload types, one audio stream.
var (
	lateOfferShapes = []streamShape{{kind: "audio", proto: "RTP/AVP"}}
	lateOfferPCMU   = audioFormat{ok: true, codec: PCMU, pt: 0, events: 101}
	lateOfferPCMA   = audioFormat{ok: true, codec: PCMA, pt: 8, events: -1}
)

// shapesOf are the m= lines of d as the engine repeats them. The proto is
// written in the relay's spelling (RTP/AVP or RTP/AVPF for the engine's
// stream; the others are rejected and keep the offer's token, which
// parseSDP matched against the known transports).
func (d *sessionDesc) shapesOf(stream int) []streamShape {
	out := make([]streamShape, len(d.media))
	for i, m := range d.media {
		out[i] = streamShape{kind: m.kind, proto: m.proto, fmts: m.fmts}
		if i == stream {
			out[i].proto = "RTP/AVP"
			if strings.EqualFold(m.proto, "RTP/AVPF") {
				out[i].proto = "RTP/AVPF"
			}
		}
	}
	return out
}

// answerDirection is what the engine answers to a party that does dir: it
// sends if the party receives, and receives (digits) if the party sends.
func answerDirection(dir Direction) Direction {
	var out Direction
	if dir&DirRecv != 0 {
		out |= DirSend
	}
	if dir&DirSend != 0 {
		out |= DirRecv
	}
	return out
}
