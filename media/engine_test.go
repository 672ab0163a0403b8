package media_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/media"
)

// The engine answering A: real UDP on 127.0.0.1, a test peer for A (and
// B), what A hears decoded back to PCM.

// offerA is A's offer: PCMU and telephone-event 101 at A's peer.
func offerA(a *endpoint, formats ...int) []byte {
	if len(formats) == 0 {
		formats = []int{0, 101}
	}
	return testkit.Offer{User: "a", Session: 7, Port: a.Port(), Formats: formats, Attrs: []string{"fmtp:101 0-16"}}.SDP()
}

func answered(t *testing.T, r *media.Relay, a *endpoint) (*media.Session, netip.AddrPort) {
	t.Helper()
	s := r.NewSession(zerolog.Nop())
	t.Cleanup(s.Close)
	ans, err := s.Answer(offerA(a))
	if err != nil {
		t.Fatal(err)
	}
	return s, testkit.MustAudioAddr(t, ans)
}

// rtpOf parses a datagram as RTP, failing the test otherwise.
func rtpOf(t *testing.T, d testkit.Datagram) *rtp.Packet {
	t.Helper()
	var p rtp.Packet
	if err := p.Unmarshal(d.Data); err != nil {
		t.Fatalf("not RTP from %v: %v", d.From, err)
	}
	return &p
}

// waitDone waits (bounded) for a playback to end.
func waitDone(t *testing.T, pb *media.Playback, what string) {
	t.Helper()
	select {
	case <-pb.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not end", what)
	}
}

// wavSamples reads the 16-bit samples of a WAV's data chunk, apart from
// media's loader: the reference what A hears is compared with.
func wavSamples(t *testing.T, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("data"))
	if i < 0 {
		t.Fatalf("%s: no data chunk", path)
	}
	n := int(binary.LittleEndian.Uint32(b[i+4:]))
	data := b[i+8 : i+8+n]
	out := make([]int16, n/2)
	for j := range out {
		out[j] = int16(binary.LittleEndian.Uint16(data[2*j:]))
	}
	return out
}

// TestEnginePlaysPromptToA: the engine answers A's PCMU offer from A's
// relay port, plays a prompt there as one paced RTP stream of its own, and
// A, decoding what it received, hears the prompt's file.
func TestEnginePlaysPromptToA(t *testing.T) {
	r := newRelay(t, 29000, 29019)
	a := listen(t)
	s, relayA := answered(t, r, a)
	const path = "../testdata/prompts/en/goodbye.wav"
	prompt, err := media.LoadPrompt(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pb, err := s.Play(media.SideA, prompt)
	if err != nil {
		t.Fatal(err)
	}
	var heard []int16
	var first *rtp.Packet
	buf := make([]int16, 160)
	for i := 0; i < prompt.Frames(); i++ {
		d := a.Recv()
		if d.From != relayA {
			t.Fatalf("packet %d from %v, want A's relay port %v", i, d.From, relayA)
		}
		p := rtpOf(t, d)
		if i == 0 {
			first = p
			if !p.Marker {
				t.Error("the first packet does not start a talkspurt")
			}
		} else if p.SSRC != first.SSRC || p.SequenceNumber != first.SequenceNumber+uint16(i) ||
			p.Timestamp != first.Timestamp+uint32(160*i) || p.Marker || p.PayloadType != 0 {
			t.Fatalf("packet %d: ssrc %x seq %d ts %d pt %d marker %v after ssrc %x seq %d ts %d",
				i, p.SSRC, p.SequenceNumber, p.Timestamp, p.PayloadType, p.Marker, first.SSRC, first.SequenceNumber, first.Timestamp)
		}
		if !bytes.Equal(p.Payload, prompt.Frame(media.PCMU, i)) {
			t.Fatalf("frame %d differs from the prompt's", i)
		}
		media.PCMU.Decode(buf, p.Payload)
		heard = append(heard, buf...)
	}
	waitDone(t, pb, "the prompt")
	if !pb.Completed() {
		t.Error("the prompt played to the end but is not Completed")
	}
	// 20 ms pacing: the frames took about the prompt's length to come
	// (a loose lower bound; no upper bound on a busy machine).
	if el := time.Since(start); el < prompt.Duration()*8/10 {
		t.Errorf("%d frames arrived in %v: not paced", prompt.Frames(), el)
	}
	if c := testkit.Correlation(heard, wavSamples(t, path)); c < 0.99 {
		t.Errorf("what A heard correlates %.3f with the prompt's file", c)
	}
	a.ExpectNothing()
	if st := s.Stats(); st.PlayedToA != uint64(prompt.Frames()) {
		t.Errorf("PlayedToA = %d, want %d", st.PlayedToA, prompt.Frames())
	}
}

// digitsOf reads n keys from the session, bounded in time.
func digitsOf(t *testing.T, s *media.Session, n int) string {
	t.Helper()
	var got []byte
	for len(got) < n {
		select {
		case d := <-s.Digits():
			got = append(got, byte(d))
		case <-time.After(5 * time.Second):
			t.Fatalf("got keys %q, want %d", got, n)
		}
	}
	return string(got)
}

// keyed has e key ks (a fresh sender with SSRC ssrc) and checks that the
// session reports exactly those keys.
func keyed(t *testing.T, s *media.Session, e *endpoint, to netip.AddrPort, ssrc uint32, ks string) {
	t.Helper()
	w := &media.EventWriter{PT: 101, SSRC: ssrc}
	var ts uint32
	keys(t, e, to, w, &ts, ks)
	if got := digitsOf(t, s, len(ks)); got != ks {
		t.Fatalf("keys %q, want %q", got, ks)
	}
}

func noMoreDigits(t *testing.T, s *media.Session) {
	t.Helper()
	select {
	case d := <-s.Digits():
		t.Fatalf("unexpected key %q", d)
	case <-time.After(testkit.QuietPeriod):
	}
}

// keys sends the RFC 4733 packets of each key from e to the relay port.
func keys(t *testing.T, e *endpoint, to netip.AddrPort, w *media.EventWriter, ts *uint32, ks string) {
	t.Helper()
	for _, k := range ks {
		pkts, err := w.Event(media.Digit(k), *ts, 80*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			e.Send(to, p)
		}
		*ts += 2000
	}
}

// TestEngineDigitsFromAOnly: the keys A sends as telephone-events come out
// of Digits once each; A's audio goes nowhere (counted); a stranger's
// telephone-events on A's relay port are not A's keys.
func TestEngineDigitsFromAOnly(t *testing.T) {
	r := newRelay(t, 29020, 29039)
	a, stranger := listen(t), listen(t)
	s, relayA := answered(t, r, a)
	w := &media.EventWriter{PT: 101, SSRC: 0xa}
	var ts uint32 = 1000
	keys(t, a, relayA, w, &ts, "12")
	if got := digitsOf(t, s, 2); got != "12" {
		t.Fatalf("keys %q, want 12", got)
	}
	// A stranger (another port on A's host, inside the learning window)
	// keys 9; A's audio is not forwarded anywhere.
	sw := &media.EventWriter{PT: 101, SSRC: 0xbad}
	var sts uint32 = 5000
	keys(t, stranger, relayA, sw, &sts, "99")
	a.SendRTP(relayA, 5, 0x55)
	keys(t, a, relayA, w, &ts, "34#")
	if got := digitsOf(t, s, 3); got != "34#" {
		t.Fatalf("keys %q, want 34# (the stranger's 9 is not A's)", got)
	}
	noMoreDigits(t, s)
	st := s.Stats()
	if st.AToB.Strangers == 0 || st.Digits != 5 || st.AToB.RTPPackets != 0 {
		t.Errorf("stats %+v: want strangers > 0, 5 keys, nothing forwarded", st)
	}
	// Every packet A sent went to the engine: 5 keys of 6 packets, 5 of audio.
	if st.AToB.Engine != 5*6+5 {
		t.Errorf("Engine = %d, want %d", st.AToB.Engine, 5*6+5)
	}
	stranger.ExpectNothing()
}

// TestEngineBargeIn: a key during the prompt stops it: the IVR stops the
// playback on the first key, no frame follows, and Completed says it did
// not play out.
func TestEngineBargeIn(t *testing.T) {
	r := newRelay(t, 29040, 29059)
	a := listen(t)
	s, relayA := answered(t, r, a)
	prompt, err := media.LoadPrompt("../testdata/prompts/en/enter-extension.wav")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := s.Play(media.SideA, prompt)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		a.Recv()
	}
	keyed(t, s, a, relayA, 1, "7")
	pb.Stop()
	waitDone(t, pb, "the stopped prompt")
	if pb.Completed() {
		t.Error("a stopped prompt is Completed")
	}
	// Once Done, nothing more is sent: A gets exactly what was played, and
	// that is not the whole prompt.
	played := s.Stats().PlayedToA
	if played >= uint64(prompt.Frames()) {
		t.Fatalf("%d of %d frames played: the prompt was not stopped", played, prompt.Frames())
	}
	got := uint64(5)
	for got < played {
		a.Recv()
		got++
	}
	a.ExpectNothing()
	if after := s.Stats().PlayedToA; after != played {
		t.Fatalf("%d frames played after Done", after-played)
	}
}

// rtpFrom sends n packets of 20 ms of mark from e to the relay port, with
// SSRC ssrc, as a phone streaming does.
func rtpFrom(t *testing.T, e *endpoint, to netip.AddrPort, ssrc uint32, mark byte, n int) {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: ssrc}, Payload: bytes.Repeat([]byte{mark}, 160)}
	for i := range n {
		p.SequenceNumber, p.Timestamp = uint16(i), uint32(i*160)
		raw, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		e.Send(to, raw)
		time.Sleep(2 * time.Millisecond)
	}
}

// TestEngineRingbackThenBridge: after the IVR, B is offered the codec
// negotiated with A from B's relay port; A hears the engine's ringback
// while B rings silently, B's early media replaces it, and then audio
// flows both ways; nothing is sent to A's signalling (no new SDP) and A
// keeps its relay port.
func TestEngineRingbackThenBridge(t *testing.T) {
	r := newRelay(t, 29060, 29079)
	a, b := listen(t), listen(t)
	s, relayA := answered(t, r, a)
	offer, err := s.OfferB()
	if err != nil {
		t.Fatal(err)
	}
	relayB := testkit.MustAudioAddr(t, offer)
	if relayB == relayA {
		t.Fatal("B is offered A's relay port")
	}
	if !strings.Contains(string(offer), "m=audio "+itoa(int(relayB.Port()))+" RTP/AVP 0 101\r\n") {
		t.Fatalf("offer to B:\n%s", offer)
	}
	// A's port is no number of the offer (A's address is the relay's own).
	for _, n := range strings.FieldsFunc(string(offer), func(r rune) bool { return r < '0' || r > '9' }) {
		if n == itoa(a.Port()) || n == itoa(a.Port()+1) {
			t.Fatalf("the offer to B names A's port %s:\n%s", n, offer)
		}
	}
	ring := media.MustTone(media.ChinaRingback)
	pb, err := s.Play(media.SideA, ring, media.Loop())
	if err != nil {
		t.Fatal(err)
	}
	// B's 183 with SDP, and no early media yet: the ringback goes on.
	answerB := testkit.Offer{User: "b", Session: 9, Port: b.Port(), Formats: []int{0, 101}}.SDP()
	if err := s.AcceptB(answerB, false); err != nil {
		t.Fatal(err)
	}
	var engineSSRC uint32
	var heard []int16
	pcm := make([]int16, 160)
	for i := range 10 {
		p := rtpOf(t, a.Recv())
		if i == 0 {
			engineSSRC = p.SSRC
		}
		if p.SSRC != engineSSRC || !bytes.Equal(p.Payload, ring.Frame(media.PCMU, i)) {
			t.Fatalf("ringback frame %d differs", i)
		}
		media.PCMU.Decode(pcm, p.Payload)
		heard = append(heard, pcm...)
	}
	if p := testkit.TonePower(heard, 450, 8000); p < 0.9 {
		t.Fatalf("A hears 450 Hz at %.2f of its power, not the ringback", p)
	}
	// B's early media: it reaches A and the ringback yields to it.
	rtpFrom(t, b, relayB, 0xb0b, 0xB1, 5)
	waitDone(t, pb, "the ringback")
	sawB := 0
	for range 50 {
		d, ok := a.Next(testkit.QuietPeriod)
		if !ok {
			break
		}
		p := rtpOf(t, d)
		switch {
		case p.SSRC == 0xb0b:
			if d.From != relayA || p.Payload[0] != 0xB1 {
				t.Fatalf("B's packet reached A from %v", d.From)
			}
			sawB++
		case sawB > 0:
			t.Fatalf("the engine's packet %d after B's media", p.SequenceNumber)
		}
	}
	if sawB != 5 {
		t.Fatalf("A got %d of B's 5 packets", sawB)
	}
	// A's audio (and keys) now reach B, from B's relay port.
	rtpFrom(t, a, relayA, 0xa0a, 0xA1, 3)
	for range 3 {
		d := b.Recv()
		if p := rtpOf(t, d); d.From != relayB || p.SSRC != 0xa0a || p.Payload[0] != 0xA1 {
			t.Fatalf("B got %x from %v", d.Data, d.From)
		}
	}
	// B answers: later SDP goes through Rewrite like any call's.
	if err := s.AcceptB(answerB, true); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.BToA.RTPPackets != 5 || st.AToB.RTPPackets != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestEngineAnswerAtSwitch: B's 200 stops a ringback B's network never
// replaced with early media.
func TestEngineAnsweredStopsRingback(t *testing.T) {
	r := newRelay(t, 29080, 29099)
	a, b := listen(t), listen(t)
	s, _ := answered(t, r, a)
	if _, err := s.OfferB(); err != nil {
		t.Fatal(err)
	}
	pb, err := s.Play(media.SideA, media.MustTone(media.ChinaRingback), media.Loop())
	if err != nil {
		t.Fatal(err)
	}
	a.Recv()
	if err := s.AcceptB(testkit.Offer{Port: b.Port(), Formats: []int{0}}.SDP(), true); err != nil {
		t.Fatal(err)
	}
	waitDone(t, pb, "the ringback after B answered")
}

// TestEngineWarningBeepReplacesAudio: in a bridged call the warning beep is
// played to both parties instead of each other's audio for its length;
// their audio comes back after it.
func TestEngineWarningBeepReplacesAudio(t *testing.T) {
	r := newRelay(t, 29100, 29119)
	a, b := listen(t), listen(t)
	s, relayA := answered(t, r, a)
	offer, err := s.OfferB()
	if err != nil {
		t.Fatal(err)
	}
	relayB := testkit.MustAudioAddr(t, offer)
	if err := s.AcceptB(testkit.Offer{Port: b.Port(), Formats: []int{0, 101}}.SDP(), true); err != nil {
		t.Fatal(err)
	}
	beep := media.MustTone(media.WarningBeep)
	// Both parties stream while the beep plays: 100 packets, 2 s.
	done := make(chan struct{})
	go func() {
		defer close(done)
		p := rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 160)}
		for i := range 100 {
			p.SequenceNumber, p.Timestamp = uint16(i), uint32(i*160)
			for _, e := range []struct {
				from *endpoint
				to   netip.AddrPort
				ssrc uint32
			}{{a, relayA, 0xa}, {b, relayB, 0xb}} {
				p.SSRC = e.ssrc
				raw, _ := p.Marshal()
				e.from.Conn().WriteToUDPAddrPort(raw, e.to)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	var pbs []*media.Playback
	for _, side := range []media.Side{media.SideA, media.SideB} {
		pb, err := s.Play(side, beep, media.Replace())
		if err != nil {
			t.Fatal(err)
		}
		pbs = append(pbs, pb)
	}
	<-done
	for _, pb := range pbs {
		waitDone(t, pb, "the beep")
	}
	for _, c := range []struct {
		name  string
		e     *endpoint
		other uint32
	}{{"A", a, 0xb}, {"B", b, 0xa}} {
		var seq []uint32 // SSRCs in arrival order
		beeps := 0
		for {
			d, ok := c.e.Next(testkit.QuietPeriod)
			if !ok {
				break
			}
			p := rtpOf(t, d)
			seq = append(seq, p.SSRC)
			if p.SSRC != c.other {
				if !bytes.Equal(p.Payload, beep.Frame(media.PCMU, beeps)) {
					t.Fatalf("%s: beep frame %d differs", c.name, beeps)
				}
				beeps++
			}
		}
		if beeps != beep.Frames() {
			t.Fatalf("%s heard %d beep frames, want %d", c.name, beeps, beep.Frames())
		}
		// Between the beep's second frame and its last, nothing of the
		// other party's (one of theirs may have been in flight as it
		// began); before and after, the other party.
		firstBeep, lastBeep := -1, -1
		for i, ssrc := range seq {
			if ssrc != c.other {
				if firstBeep < 0 {
					firstBeep = i
				}
				lastBeep = i
			}
		}
		for i := firstBeep + 2; i < lastBeep; i++ {
			if seq[i] == c.other {
				t.Fatalf("%s heard the other party during the beep (packet %d of %d)", c.name, i, len(seq))
			}
		}
		if firstBeep == 0 || lastBeep == len(seq)-1 {
			t.Fatalf("%s: the other party's audio not around the beep: %d..%d of %d", c.name, firstBeep, lastBeep, len(seq))
		}
	}
	if st := s.Stats(); st.AToB.Engine == 0 || st.BToA.Engine == 0 {
		t.Errorf("replaced packets not counted: %+v", st)
	}
}

// TestEngineCodecChoice: the engine answers with the first of PCMU and PCMA
// in A's order and A's telephone-event payload type, only that; an offer
// with neither is ErrUnsupportedMedia and takes nothing.
func TestEngineCodecChoice(t *testing.T) {
	r := newRelay(t, 29120, 29139)
	cases := []struct {
		name  string
		offer string
		m     string // the answer's m= line after the port
		maps  []string
		err   error
	}{
		{"PCMU first", "m=audio 5004 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n", "RTP/AVP 0 101",
			[]string{"a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15"}, nil},
		{"PCMA first, no events", "m=audio 5004 RTP/AVP 8 0\r\n", "RTP/AVP 8", []string{"a=rtpmap:8 PCMA/8000"}, nil},
		{"after G.729", "m=audio 5004 RTP/AVP 18 8 96\r\na=rtpmap:96 telephone-event/8000\r\n", "RTP/AVP 8 96", nil, nil},
		{"dynamic PCMU", "m=audio 5004 RTP/AVPF 98 100\r\na=rtpmap:98 pcmu/8000\r\na=rtpmap:100 telephone-event/8000\r\n",
			"RTP/AVPF 98 100", []string{"a=rtpmap:98 PCMU/8000"}, nil},
		{"video first", "m=video 5006 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 5004 RTP/AVP 0\r\n", "RTP/AVP 0", nil, nil},
		{"G.729 only", "m=audio 5004 RTP/AVP 18\r\n", "", nil, media.ErrUnsupportedMedia},
		{"PCMU at 16 kHz", "m=audio 5004 RTP/AVP 96\r\na=rtpmap:96 PCMU/16000\r\n", "", nil, media.ErrUnsupportedMedia},
		{"SRTP only", "m=audio 5004 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n", "",
			nil, media.ErrUnsupportedMedia},
	}
	for _, c := range cases {
		s := r.NewSession(zerolog.Nop())
		ans, err := s.Answer([]byte("v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + c.offer))
		if c.err != nil {
			if !errors.Is(err, c.err) || ans != nil || r.PortsInUse() != 0 {
				t.Errorf("%s: %v, %d ports in use; want %v and nothing taken", c.name, err, r.PortsInUse(), c.err)
			}
			s.Close()
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		text := string(ans)
		port := testkit.MustAudioAddr(t, ans).Port()
		if !strings.Contains(text, "m=audio "+itoa(int(port))+" "+c.m+"\r\n") {
			t.Errorf("%s: answer\n%s\nwant m=audio <port> %s", c.name, text, c.m)
		}
		for _, m := range c.maps {
			if !strings.Contains(text, m+"\r\n") {
				t.Errorf("%s: answer lacks %s:\n%s", c.name, m, text)
			}
		}
		if c.name == "video first" && !strings.Contains(text, "m=video 0 RTP/AVP 96\r\n") {
			t.Errorf("video not rejected in order:\n%s", text)
		}
		s.Close()
	}
}

// TestEngineStateErrors: the engine's calls in the wrong state fail and
// change nothing: B's answer without the negotiated codec leaves the
// engine answering A (keys still decoded); Rewrite on an engine session
// before B is refused; OfferB on a plain session is refused.
func TestEngineStateErrors(t *testing.T) {
	r := newRelay(t, 29140, 29159)
	a, b := listen(t), listen(t)
	s, relayA := answered(t, r, a)
	if _, err := s.Rewrite(media.SideA, offerA(a)); !errors.Is(err, media.ErrEngineAnswers) {
		t.Errorf("Rewrite from A while the engine answers: %v", err)
	}
	if _, err := s.Rewrite(media.SideB, sdpFor("b", b.Port(), b.Port()+1)); !errors.Is(err, media.ErrEngineAnswers) {
		t.Errorf("Rewrite from B before AcceptB: %v", err)
	}
	if _, err := s.OfferB(); err != nil {
		t.Fatal(err)
	}
	pcma := testkit.Offer{Port: b.Port(), Formats: []int{8}}.SDP()
	if err := s.AcceptB(pcma, true); !errors.Is(err, media.ErrUnsupportedMedia) {
		t.Fatalf("B answering PCMA to a PCMU offer: %v", err)
	}
	keyed(t, s, a, relayA, 3, "5")
	b.ExpectNothing()
	// A re-INVITE of A's while the engine answers: answered again on the
	// same port.
	again, err := s.Answer(offerA(a))
	if err != nil || testkit.MustAudioAddr(t, again) != relayA {
		t.Fatalf("re-answer: %v\n%s", err, again)
	}

	plain := r.NewSession(zerolog.Nop())
	defer plain.Close()
	if _, err := plain.OfferB(); !errors.Is(err, media.ErrEngineAnswers) {
		t.Errorf("OfferB on a plain session: %v", err)
	}
	if err := plain.AcceptB(pcma, true); !errors.Is(err, media.ErrEngineAnswers) {
		t.Errorf("AcceptB on a plain session: %v", err)
	}
	if plain.Digits() != nil {
		t.Error("a plain session has Digits")
	}
	mustRewrite(t, plain, media.SideA, sdpFor("a", a.Port(), a.Port()+1))
	if _, err := plain.Answer(offerA(a)); !errors.Is(err, media.ErrEngineAnswers) {
		t.Errorf("Answer after Rewrite: %v", err)
	}
}

// TestEngineCloseStopsPlayback: Close ends a looping playback and nothing
// reaches A afterwards.
func TestEngineCloseStopsPlayback(t *testing.T) {
	r := newRelay(t, 29160, 29179)
	a := listen(t)
	s, _ := answered(t, r, a)
	pb, err := s.Play(media.SideA, media.MustTone(media.ChinaRingback), media.Loop())
	if err != nil {
		t.Fatal(err)
	}
	a.Recv()
	s.Close()
	select {
	case <-pb.Done():
	default:
		t.Fatal("Close returned before the playback ended")
	}
	for {
		if _, ok := a.Next(testkit.QuietPeriod); !ok {
			break
		}
	}
	a.ExpectNothing()
	if _, err := s.Play(media.SideA, media.MustTone(media.WarningBeep)); !errors.Is(err, media.ErrSessionClosed) {
		t.Errorf("Play after Close: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestBeepOnRelayedCallUsesAnsweredCodec: on a call the relay bridged
// from the start (AXB), the warning beep reaches each side in the codec
// the answer chose: A offered PCMU and PCMA, B answered PCMA, so A is sent
// PCMA although PCMU came first in its own offer; G.729 calls cannot be
// beeped (ErrUnsupportedMedia). Before, A was sent PCMU, which B's answer
// had ruled out.
func TestBeepOnRelayedCallUsesAnsweredCodec(t *testing.T) {
	r := newRelay(t, 29180, 29199)
	a, b := listen(t), listen(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	mustRewrite(t, s, media.SideA, testkit.Offer{Port: a.Port(), Formats: []int{0, 8, 101}}.SDP())
	mustRewrite(t, s, media.SideB, testkit.Offer{Port: b.Port(), Formats: []int{8, 101}}.SDP())
	beep := media.MustTone(media.WarningBeep)
	for _, c := range []struct {
		side media.Side
		e    *endpoint
	}{{media.SideA, a}, {media.SideB, b}} {
		pb, err := s.Play(c.side, beep, media.Replace())
		if err != nil {
			t.Fatal(err)
		}
		p := rtpOf(t, c.e.Recv())
		if p.PayloadType != 8 || !bytes.Equal(p.Payload, beep.Frame(media.PCMA, 0)) {
			t.Fatalf("side %v got payload type %d, want PCMA (8)", c.side, p.PayloadType)
		}
		pb.Stop()
		waitDone(t, pb, "the beep")
	}

	g729 := r.NewSession(zerolog.Nop())
	defer g729.Close()
	mustRewrite(t, g729, media.SideA, testkit.Offer{Port: a.Port(), Formats: []int{18, 0}}.SDP())
	mustRewrite(t, g729, media.SideB, testkit.Offer{Port: b.Port(), Formats: []int{18}}.SDP())
	if _, err := g729.Play(media.SideA, beep, media.Replace()); !errors.Is(err, media.ErrUnsupportedMedia) {
		t.Fatalf("beep on a G.729 call: %v", err)
	}
}

// TestEngineDetachB: B's leg fails after its early media began: DetachB
// makes B's still-arriving packets strangers, so the prompt the engine then
// plays to A is not cut short by them, and A's keys are the engine's
// again. Without it, B's first late packet would stop the prompt.
func TestEngineDetachB(t *testing.T) {
	r := newRelay(t, 29200, 29219)
	a, b := listen(t), listen(t)
	s, relayA := answered(t, r, a)
	offer, err := s.OfferB()
	if err != nil {
		t.Fatal(err)
	}
	relayB := testkit.MustAudioAddr(t, offer)
	if err := s.AcceptB(testkit.Offer{Port: b.Port(), Formats: []int{0, 101}}.SDP(), false); err != nil {
		t.Fatal(err)
	}
	rtpFrom(t, b, relayB, 0xb0b, 0xB1, 3)
	for range 3 {
		if p := rtpOf(t, a.Recv()); p.SSRC != 0xb0b {
			t.Fatalf("early media: got ssrc %x", p.SSRC)
		}
	}
	if err := s.DetachB(); err != nil {
		t.Fatal(err)
	}
	sorry := media.MustTone(media.WarningBeep)
	pb, err := s.Play(media.SideA, sorry)
	if err != nil {
		t.Fatal(err)
	}
	rtpFrom(t, b, relayB, 0xb0b, 0xB2, 5)
	waitDone(t, pb, "the prompt after B failed")
	if !pb.Completed() {
		t.Fatal("B's late packets cut the prompt short")
	}
	for i := 0; i < sorry.Frames(); i++ {
		if p := rtpOf(t, a.Recv()); p.SSRC == 0xb0b {
			t.Fatalf("B's late packet reached A")
		}
	}
	keyed(t, s, a, relayA, 4, "0")
	b.ExpectNothing()
}

// TestEngineLateOffer: A's INVITE came without SDP: the engine offers PCMU,
// PCMA and telephone-event from A's relay port, A answers PCMA in its ACK,
// and the engine then plays in PCMA, decodes A's keys and offers B PCMA.
func TestEngineLateOffer(t *testing.T) {
	r := newRelay(t, 29220, 29239)
	a := listen(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	offer, err := s.OfferA()
	if err != nil {
		t.Fatal(err)
	}
	relayA := testkit.MustAudioAddr(t, offer)
	for _, want := range []string{" RTP/AVP 0 8 101\r\n", "a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:8 PCMA/8000\r\n", "a=rtpmap:101 telephone-event/8000\r\n"} {
		if !strings.Contains(string(offer), want) {
			t.Fatalf("late offer lacks %q:\n%s", want, offer)
		}
	}
	if again, err := s.OfferA(); err != nil || testkit.MustAudioAddr(t, again) != relayA {
		t.Fatalf("repeated late offer: %v", err)
	}
	if _, err := s.Play(media.SideA, media.MustTone(media.WarningBeep)); !errors.Is(err, media.ErrUnsupportedMedia) {
		t.Fatalf("Play before A's answer: %v", err)
	}
	if err := s.AcceptA(testkit.Offer{Port: a.Port(), Formats: []int{18}}.SDP()); !errors.Is(err, media.ErrUnsupportedMedia) {
		t.Fatalf("A answering G.729: %v", err)
	}
	if err := s.AcceptA(testkit.Offer{Port: a.Port(), Formats: []int{8, 101}}.SDP()); err != nil {
		t.Fatal(err)
	}
	if err := s.AcceptA(testkit.Offer{Port: a.Port(), Formats: []int{8, 101}}.SDP()); !errors.Is(err, media.ErrEngineAnswers) {
		t.Fatalf("second AcceptA: %v", err)
	}
	beep := media.MustTone(media.WarningBeep)
	pb, err := s.Play(media.SideA, beep)
	if err != nil {
		t.Fatal(err)
	}
	if p := rtpOf(t, a.Recv()); p.PayloadType != 8 || !bytes.Equal(p.Payload, beep.Frame(media.PCMA, 0)) {
		t.Fatalf("played payload type %d, want PCMA", p.PayloadType)
	}
	pb.Stop()
	keyed(t, s, a, relayA, 5, "42")
	toB, err := s.OfferB()
	if err != nil || !strings.Contains(string(toB), " RTP/AVP 8 101\r\n") {
		t.Fatalf("offer to B (%v):\n%s", err, toB)
	}
	// A plain session with SDP already refuses a late offer.
	plain := r.NewSession(zerolog.Nop())
	defer plain.Close()
	mustRewrite(t, plain, media.SideA, sdpFor("a", a.Port(), a.Port()+1))
	if _, err := plain.OfferA(); !errors.Is(err, media.ErrEngineAnswers) {
		t.Fatalf("OfferA after Rewrite: %v", err)
	}
	if err := plain.AcceptA(sdpFor("a", a.Port(), a.Port()+1)); !errors.Is(err, media.ErrEngineAnswers) {
		t.Fatalf("AcceptA without OfferA: %v", err)
	}
}

// TestEnginePlaysNothingToAHolding: A's SDP says it does not receive
// (sendonly: A holds): the engine's frames are skipped while the prompt's
// time runs; after A's re-INVITE back to sendrecv, A hears the next one.
// Before, the engine sent to a party that had asked for no media.
func TestEnginePlaysNothingToAHolding(t *testing.T) {
	r := newRelay(t, 29240, 29259)
	a := listen(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	holding := testkit.Offer{Port: a.Port(), Formats: []int{0, 101}, Attrs: []string{"sendonly"}}.SDP()
	ans, err := s.Answer(holding)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ans), "a=recvonly\r\n") {
		t.Fatalf("answer to a sendonly offer:\n%s", ans)
	}
	beep := media.MustTone(media.WarningBeep)
	pb, err := s.Play(media.SideA, beep)
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, pb, "the beep to a holding A")
	if !pb.Completed() || s.Stats().PlayedToA != 0 {
		t.Fatalf("completed %v, %d frames sent to a holding A", pb.Completed(), s.Stats().PlayedToA)
	}
	a.ExpectNothing()
	if _, err := s.Answer(offerA(a)); err != nil {
		t.Fatal(err)
	}
	if pb, err = s.Play(media.SideA, beep); err != nil {
		t.Fatal(err)
	}
	if p := rtpOf(t, a.Recv()); !bytes.Equal(p.Payload, beep.Frame(media.PCMU, 0)) {
		t.Fatal("A back from hold does not hear the beep")
	}
	pb.Stop()
}
