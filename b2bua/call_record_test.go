package b2bua

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/ivr"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// callEvents waits until the outbox holds a terminal event (released or
// blocked) of the call whose A leg is aCallID, and returns that call's
// events in order and its record.
func (te *testEngine) callEvents(aCallID string) ([]events.Payload, store.CallRecord) {
	te.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, err := te.store.OutboxAfter(context.Background(), 0, 1000)
		if err != nil {
			te.t.Fatal(err)
		}
		var got []events.Payload
		for _, e := range entries {
			var p events.Payload
			if err := json.Unmarshal(e.Body, &p); err != nil {
				te.t.Fatalf("event %s: %v", e.ID, err)
			}
			if p.Call.ACallID == aCallID {
				got = append(got, p)
			}
		}
		if n := len(got); n > 0 && (got[n-1].Type == events.TypeReleased || got[n-1].Type == events.TypeBlocked) {
			rec, err := te.store.Record(context.Background(), got[n-1].Call.RecordID)
			if err != nil {
				te.t.Fatal(err)
			}
			return got, rec
		}
		if time.Now().After(deadline) {
			te.t.Fatalf("no terminal event for call %s; its events: %+v", aCallID, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// answeredCall has A call X, B ring a moment and answer, and A
// acknowledge the answer.
func (te *testEngine) answeredCall() (*carrier, *sipgo.DialogClientSession, *trunkCall) {
	te.t.Helper()
	te.trunk.setScript(ringsThen(200))
	car := newCarrier(te.t)
	d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(te.t).sdp(1))
	if err != nil {
		te.t.Fatal(err)
	}
	tc := te.trunk.nextCall(te.t)
	if _, code := answer(te.t, d, 5*time.Second); code != 200 {
		te.t.Fatalf("A got %d", code)
	}
	_ = d.Ack(context.Background())
	return car, d, tc
}

func eventTypes(ps []events.Payload) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Type
	}
	return out
}

func sameTypes(got []events.Payload, want ...string) bool {
	g := eventTypes(got)
	if len(g) != len(want) {
		return false
	}
	for i := range g {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}

// ringsThen is the trunk's script for a B that rings a moment (a 180 and a
// final answer sent back to back can reach the engine as the final alone).
func ringsThen(final int) func(*sip.Request) trunkAction {
	return func(*sip.Request) trunkAction {
		return trunkAction{provisional: []int{180}, ringFor: 50 * time.Millisecond, final: final}
	}
}

func TestRecordOfAnsweredCall(t *testing.T) {
	te := newTestEngine(t, withEvents())
	b := te.bind(numX, numA, numB, time.Hour)
	_, d, tc := te.answeredCall()
	time.Sleep(20 * time.Millisecond)
	if err := d.Bye(context.Background()); err != nil {
		t.Fatal(err)
	}
	te.waitIdle()
	got, rec := te.callEvents(sipedge.CallID(d.InviteRequest))
	if !sameTypes(got, events.TypeInitiated, events.TypeRinging, events.TypeAnswered, events.TypeReleased) {
		t.Fatalf("events %v", eventTypes(got))
	}
	for _, p := range got {
		if p.Call.RecordID != rec.ID || p.Call.BindingID != b.ID {
			t.Errorf("%s names record %s binding %s, want %s and %s", p.Type, p.Call.RecordID, p.Call.BindingID, rec.ID, b.ID)
		}
	}
	want := store.CallRecord{
		ID: rec.ID, BindingID: b.ID, Model: store.ModelAXB, Pool: b.Pool, X: numX,
		Caller: numA, CallerRole: "A", Callee: numB, CalleeRole: "B", Display: numX,
		ACallID: sipedge.CallID(d.InviteRequest), BCallID: sipedge.CallID(tc.req),
		ReleasedBy: events.ByCaller, Status: 200, Q850: 16, Outcome: store.OutcomeAnswered,
	}
	checkRecord(t, rec, want)
	if !(rec.InvitedAt.Before(rec.BSentAt) || rec.InvitedAt.Equal(rec.BSentAt)) || rec.RingingAt.Before(rec.BSentAt) ||
		rec.AnsweredAt.Before(rec.RingingAt) || rec.ReleasedAt.Before(rec.AnsweredAt) {
		t.Errorf("times out of order: invited %v, b sent %v, ringing %v, answered %v, released %v",
			rec.InvitedAt, rec.BSentAt, rec.RingingAt, rec.AnsweredAt, rec.ReleasedAt)
	}
	if calls, _ := te.store.ActiveCalls(context.Background()); len(calls) != 0 {
		t.Errorf("active-call records left: %+v", calls)
	}
}

// checkRecord compares everything but the times.
func checkRecord(t *testing.T, got, want store.CallRecord) {
	t.Helper()
	g := got
	g.InvitedAt, g.BSentAt, g.RingingAt, g.AnsweredAt, g.ReleasedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if g != want {
		t.Errorf("record\n got %+v\nwant %+v", g, want)
	}
	if got.InvitedAt.IsZero() || got.ReleasedAt.IsZero() {
		t.Errorf("record without its invite or release time: %+v", got)
	}
}

func TestRecordOfFailedCalls(t *testing.T) {
	tests := []struct {
		final         int
		outcome       string
		q850          int
		by            string
		wantRinging   bool
		wantInitiated bool
	}{
		{486, store.OutcomeBusy, 17, events.ByCallee, true, true},
		{480, store.OutcomeNoAnswer, 18, events.ByCallee, true, true},
		{603, store.OutcomeRejected, 21, events.ByCallee, true, true},
		{503, store.OutcomeTrunkFailure, 41, events.ByCallee, true, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.final), func(t *testing.T) {
			te := newTestEngine(t, withEvents())
			te.bind(numX, numA, numB, time.Hour)
			te.trunk.setScript(ringsThen(tt.final))
			car := newCarrier(t)
			d, err := car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
			if err != nil {
				t.Fatal(err)
			}
			answer(t, d, 5*time.Second)
			te.waitIdle()
			got, rec := te.callEvents(sipedge.CallID(d.InviteRequest))
			if !sameTypes(got, events.TypeInitiated, events.TypeRinging, events.TypeReleased) {
				t.Errorf("events %v", eventTypes(got))
			}
			if rec.Outcome != tt.outcome || rec.Status != tt.final || rec.Q850 != tt.q850 || rec.ReleasedBy != tt.by || !rec.AnsweredAt.IsZero() {
				t.Errorf("record: outcome %s status %d q850 %d by %s answered %v; want %s %d %d %s",
					rec.Outcome, rec.Status, rec.Q850, rec.ReleasedBy, rec.AnsweredAt, tt.outcome, tt.final, tt.q850, tt.by)
			}
		})
	}
}

func TestRecordOfBlockedAndCancelledCalls(t *testing.T) {
	te := newTestEngine(t, withEvents())
	te.bind(numX, numA, numB, time.Hour)
	car := newCarrier(t)

	// A stranger: no binding for them on X.
	d, err := car.invite(context.Background(), te.addr, "8613700000007", numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, code := answer(t, d, 5*time.Second); code != 404 {
		t.Fatalf("stranger got %d, want 404", code)
	}
	got, rec := te.callEvents(sipedge.CallID(d.InviteRequest))
	if !sameTypes(got, events.TypeBlocked) || rec.Outcome != store.OutcomeNoBinding || rec.Status != 404 || rec.Q850 != 1 || rec.ReleasedBy != events.ByEngine {
		t.Errorf("stranger: events %v, record %+v", eventTypes(got), rec)
	}
	if rec.Caller != "8613700000007" || rec.X != numX || rec.Callee != "" {
		t.Errorf("stranger's record names caller %q x %q callee %q", rec.Caller, rec.X, rec.Callee)
	}

	// A cancels while B rings.
	te.trunk.setScript(func(*sip.Request) trunkAction { return trunkAction{provisional: []int{180}, final: 0} })
	ctx, cancel := context.WithCancel(context.Background())
	d, err = car.invite(context.Background(), te.addr, numA, numX, newRTPPeer(t).sdp(1))
	if err != nil {
		t.Fatal(err)
	}
	tc := te.trunk.nextCall(t)
	done := make(chan error, 1)
	go func() {
		done <- d.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
			if res.StatusCode == 180 {
				cancel()
			}
			return nil
		}})
	}()
	<-tc.cancel
	<-done
	te.waitIdle()
	got, rec = te.callEvents(sipedge.CallID(d.InviteRequest))
	if !sameTypes(got, events.TypeInitiated, events.TypeRinging, events.TypeReleased) || rec.Outcome != store.OutcomeCancelled ||
		rec.ReleasedBy != events.ByCaller || rec.Status != 487 {
		t.Errorf("cancelled: events %v, record %+v", eventTypes(got), rec)
	}
}

// The engine's own BYE (the binding deleted mid-call) gives the Reason's
// cause as the release status.
func TestRecordOfCallEndedByEngine(t *testing.T) {
	te := newTestEngine(t, withEvents())
	b := te.bind(numX, numA, numB, time.Hour)
	car, d, _ := te.answeredCall()
	if _, err := te.store.DeleteBinding(context.Background(), b.ID); err != nil {
		t.Fatal(err)
	}
	car.waitBye(t)
	te.waitIdle()
	got, rec := te.callEvents(sipedge.CallID(d.InviteRequest))
	if !sameTypes(got, events.TypeInitiated, events.TypeRinging, events.TypeAnswered, events.TypeReleased) {
		t.Errorf("events %v", eventTypes(got))
	}
	if rec.ReleasedBy != events.ByEngine || rec.Status != 480 || rec.Q850 != 18 || rec.ReasonText != "binding deleted" || rec.Outcome != store.OutcomeAnswered {
		t.Errorf("record %+v", rec)
	}
}

// An operator's hang-up (DELETE /v1/calls/{id}) ends an answered call with
// a Reason both parties see, and its record says the engine released it
// with normal clearing.
func TestHangUpAnsweredCall(t *testing.T) {
	te := newTestEngine(t, withEvents())
	te.bind(numX, numA, numB, time.Hour)
	car, d, tc := te.answeredCall()
	if te.engine.HangUp("no-such-call", "x") {
		t.Error("HangUp of an unknown call said it hung one up")
	}
	if !te.engine.HangUp(sipedge.CallID(tc.req), "fraud check") {
		t.Fatal("HangUp by the B leg's Call-ID found no call")
	}
	bye := car.waitBye(t)
	if h := bye.GetHeader("Reason"); h == nil || h.Value() != `Q.850;cause=16;text="fraud check"` {
		t.Errorf("A's BYE has Reason %v", h)
	}
	select {
	case <-tc.byeReq:
	case <-time.After(5 * time.Second):
		t.Fatal("B got no BYE")
	}
	te.waitIdle()
	_, rec := te.callEvents(sipedge.CallID(d.InviteRequest))
	if rec.ReleasedBy != events.ByEngine || rec.Status != 200 || rec.Q850 != 16 || rec.ReasonText != "fraud check" || rec.Outcome != store.OutcomeAnswered {
		t.Errorf("record %+v", rec)
	}
}

// A courier's extension call leaves the AXE's record: the courier as N,
// A as the callee, the extension, and the call.initiated that the placing
// of A's leg makes, after the engine answered the courier itself.
func TestRecordOfCourierCall(t *testing.T) {
	te, _ := newIVREngine(t, withEvents())
	b := te.bindAXE(numX, numA, extension)
	te.trunk.setScript(ringsThen(200))
	cc := dialX(t, te, numX)
	cc.rtp.WaitReceived(5)
	cc.info(extension)
	tc := te.trunk.nextCall(t)
	time.Sleep(200 * time.Millisecond) // A rings 50 ms, then answers: bridged after that
	bridged(t, cc, tc)
	cc.bye()
	te.waitIdle()
	got, rec := te.callEvents(sipedge.CallID(cc.d.InviteRequest))
	if !sameTypes(got, events.TypeInitiated, events.TypeRinging, events.TypeAnswered, events.TypeReleased) {
		t.Errorf("events %v", eventTypes(got))
	}
	want := store.CallRecord{
		ID: rec.ID, BindingID: b.ID, Model: store.ModelAXE, Pool: "default", X: numX, Extension: extension,
		Caller: numCourier, CallerRole: "N", Callee: numA, CalleeRole: "A", Display: numX,
		ACallID: sipedge.CallID(cc.d.InviteRequest), BCallID: sipedge.CallID(tc.req),
		ReleasedBy: events.ByCaller, Status: 200, Q850: 16, Outcome: store.OutcomeAnswered,
	}
	checkRecord(t, rec, want)
}

// A courier who never finds the extension leaves a record saying so.
func TestRecordOfCourierWithoutExtension(t *testing.T) {
	te, _ := newIVREngine(t, withEvents(), withMenu(ivr.Config{FirstDigit: 200 * time.Millisecond, InterDigit: 200 * time.Millisecond, Tries: 1}))
	te.bindAXE(numX, numA, extension)
	cc := dialX(t, te, numX)
	cc.info("9999")
	cc.waitBye()
	te.waitIdle()
	got, rec := te.callEvents(sipedge.CallID(cc.d.InviteRequest))
	if !sameTypes(got, events.TypeReleased) || rec.Outcome != store.OutcomeExtensionNotFound || rec.ReleasedBy != events.ByEngine || rec.Callee != "" {
		t.Errorf("events %v, record %+v", eventTypes(got), rec)
	}
}
