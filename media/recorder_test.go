package media_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pion/rtp"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/media"
)

// TestRecordingStereo: a recorded call's WAV has each party's audio in its
// own channel, decoded from G.711: the tone A sent on the left, B's on the
// right, and neither in the other's channel.
func TestRecordingStereo(t *testing.T) {
	r := newRelay(t, 29260, 29279)
	a, b := listen(t), listen(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	toB := mustRewrite(t, s, media.SideA, sdpFor("alice", a.Port(), 0))
	toA := mustRewrite(t, s, media.SideB, sdpFor("bob", b.Port(), 0))
	relayB, relayA := relayPorts(t, toB)[0], relayPorts(t, toA)[0]
	path := filepath.Join(t.TempDir(), "call.wav")
	rec, err := s.Record(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Record(path + "2"); err == nil {
		t.Fatal("a second recording of one session started")
	}
	aTone, bTone := testkit.ToneRTP(t, 440, 50, 1), testkit.ToneRTP(t, 1000, 50, 2)
	for i := range aTone {
		a.SendPort(relayA, aTone[i])
		b.SendPort(relayB, bTone[i])
	}
	b.WaitReceived(50)
	a.WaitReceived(50)
	res := rec.Stop()
	if res.Path != path || res.Truncated || res.Note != "" || res.Seconds < 0.9 {
		t.Fatalf("result %+v", res)
	}
	testkit.CheckStereoTones(t, path, 440, 1000)
	left, _ := testkit.ReadStereoWAV(t, path)
	left2, _ := testkit.ReadStereoWAV(t, path)
	if len(left2) != len(left) {
		t.Fatal("the WAV changed after Stop")
	}
	if again := rec.Stop(); again != res {
		t.Errorf("second Stop %+v", again)
	}
	if left, _ := filepath.Glob(path + ".*"); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestRecordingKeepsOtherCodecsRaw: payloads the relay cannot decode are
// kept as they came, and the result says where.
func TestRecordingKeepsOtherCodecsRaw(t *testing.T) {
	r := newRelay(t, 29280, 29299)
	a, b := listen(t), listen(t)
	s := r.NewSession(zerolog.Nop())
	defer s.Close()
	mustRewrite(t, s, media.SideA, testkit.Offer{User: "alice", Session: 1, Port: a.Port(), Formats: []int{18}}.SDP())
	toA := mustRewrite(t, s, media.SideB, testkit.Offer{User: "bob", Session: 1, Port: b.Port(), Formats: []int{18}}.SDP())
	relayA := relayPorts(t, toA)[0]
	path := filepath.Join(t.TempDir(), "g729.wav")
	rec, err := s.Record(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 18, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 9},
			Payload: []byte("g729frame!")}
		raw, _ := p.Marshal()
		a.SendPort(relayA, raw)
	}
	b.WaitReceived(10)
	res := rec.Stop()
	if res.Note == "" {
		t.Fatalf("no note about the raw payloads: %+v", res)
	}
	raw, err := os.ReadFile(path + ".A.rtp")
	if err != nil || len(raw) != 10*(7+10) {
		t.Fatalf("raw payloads: %d bytes, %v", len(raw), err)
	}
}
