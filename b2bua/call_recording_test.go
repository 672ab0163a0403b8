package b2bua

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// TestRecordedCall: a binding that says record gets its answered call
// written as a stereo WAV named after its record, the caller's tone in the
// left channel and the callee's in the right; the record says it was
// recorded. A binding that does not say so leaves no file.
func TestRecordedCall(t *testing.T) {
	dir := t.TempDir()
	te := newTestEngineWith(t, nil, []Option{WithRecordings(dir, nil)}, withEvents())
	ctx := context.Background()
	if _, err := te.store.AddNumbers(ctx, "default", []string{numX}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := te.store.CreateBinding(ctx, store.NewBinding{Pool: "default", X: numX, A: numA, B: numB,
		Policy: store.Policy{Record: true}, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	te.trunk.setScript(ringsThen(200))
	aRTP := newRTPPeer(t)
	d, err := newCarrier(t).invite(ctx, te.addr, numA, numX, aRTP.sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	res, code := answer(t, d, 5*time.Second)
	if code != 200 {
		t.Fatalf("A got %d", code)
	}
	_ = d.Ack(ctx)
	toRelayA, toRelayB := testkit.MustAudioAddr(t, res.Body()), testkit.MustAudioAddr(t, tc.req.Body())
	aTone, bTone := testkit.ToneRTP(t, 440, 50, 1), testkit.ToneRTP(t, 1000, 50, 2)
	for i := range aTone {
		aRTP.Send(toRelayA, aTone[i])
		tc.rtp.Send(toRelayB, bTone[i])
		time.Sleep(time.Millisecond)
	}
	tc.rtp.waitReceived(t, 45)
	aRTP.waitReceived(t, 45)
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	te.waitIdle()
	_, rec := te.callEvents(sipedge.CallID(d.InviteRequest))
	if rec.Recording != recordingDone || rec.RecordingNote != "" {
		t.Fatalf("record says recording %q (%s)", rec.Recording, rec.RecordingNote)
	}
	testkit.CheckStereoTones(t, RecordingPath(dir, rec.ID), 440, 1000)

	// The same call on a binding that does not record.
	te2 := newTestEngineWith(t, nil, []Option{WithRecordings(t.TempDir(), nil)}, withEvents())
	te2.bind(numX, numA, numB, time.Hour)
	_, d2, _ := te2.answeredCall()
	_ = d2.Bye(ctx)
	te2.waitIdle()
	_, rec2 := te2.callEvents(sipedge.CallID(d2.InviteRequest))
	if rec2.Recording != "" {
		t.Errorf("an unrecorded call's record says %q", rec2.Recording)
	}
	if _, err := os.Stat(RecordingPath(te2.engine.recordDir, rec2.ID)); !os.IsNotExist(err) {
		t.Errorf("an unrecorded call left a file: %v", err)
	}
}

// TestRecordingNotice: a pool that records every call and gives notice
// has both parties hear the call-recorded prompt at the answer, in place
// of each other, and then each other; the record says recorded.
func TestRecordingNotice(t *testing.T) {
	dir := t.TempDir()
	pools := func(pool string) RecordingPolicy { return RecordingPolicy{All: pool == "default", Notice: true} }
	te := newTestEngineWith(t, nil, []Option{WithRecordings(dir, pools), WithPrompts(testPrompts(t))}, withEvents())
	te.bind(numX, numA, numB, time.Hour)
	ctx := context.Background()
	te.trunk.setScript(ringsThen(200))
	aRTP := newRTPPeer(t)
	d, err := newCarrier(t).invite(ctx, te.addr, numA, numX, aRTP.sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	if _, code := answer(t, d, 5*time.Second); code != 200 {
		t.Fatalf("A got %d", code)
	}
	_ = d.Ack(ctx)
	// The notice is about 1.8 s of speech: 50 packets or more reach each
	// side from the engine while neither party has sent a thing.
	aRTP.waitReceived(t, 50)
	tc.rtp.waitReceived(t, 50)
	if err := d.Bye(ctx); err != nil {
		t.Fatal(err)
	}
	te.waitIdle()
	_, rec := te.callEvents(sipedge.CallID(d.InviteRequest))
	if rec.Recording != recordingDone {
		t.Fatalf("record says recording %q (%s)", rec.Recording, rec.RecordingNote)
	}
}
