package b2bua

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

func TestLeftoverBye(t *testing.T) {
	base := store.DialogLeg{
		CallID: "c1@carrier", LocalTag: "ours", RemoteTag: "theirs",
		LocalURI: "sip:+8617000000001@127.0.0.1", RemoteURI: "sip:+8613800000001@carrier.example",
		RemoteTarget: "sip:carrier@127.0.0.1:5062", NextCSeq: 7, Transport: "UDP",
	}
	with := func(edit func(l *store.DialogLeg)) store.DialogLeg { l := base; edit(&l); return l }
	tests := []struct {
		name       string
		leg        store.DialogLeg
		recipient  string
		routes     []string
		cseq       uint32
		dest       string
		transport  string
		wantRefuse bool
	}{
		{name: "no routes", leg: base, recipient: "sip:carrier@127.0.0.1:5062", cseq: 107, transport: "UDP"},
		{name: "loose routes", leg: with(func(l *store.DialogLeg) {
			l.RouteSet = []string{"sip:p1.example;lr", "sip:p2.example:5070;lr"}
			l.Destination = "192.0.2.1:5060"
		}), recipient: "sip:carrier@127.0.0.1:5062", routes: []string{"<sip:p1.example;lr>", "<sip:p2.example:5070;lr>"}, cseq: 107, dest: "192.0.2.1:5060", transport: "UDP"},
		{name: "strict router first", leg: with(func(l *store.DialogLeg) {
			l.RouteSet = []string{"sip:strict.example;method=INVITE;maddr=192.0.2.9", "sip:p2.example;lr"}
		}), recipient: "sip:strict.example;maddr=192.0.2.9", routes: []string{"<sip:p2.example;lr>", "<sip:carrier@127.0.0.1:5062>"}, cseq: 107, transport: "UDP"},
		{name: "tcp", leg: with(func(l *store.DialogLeg) { l.Transport = "TCP" }), recipient: "sip:carrier@127.0.0.1:5062", cseq: 107, transport: "TCP"},
		{name: "cseq near the top", leg: with(func(l *store.DialogLeg) { l.NextCSeq = 1<<31 - 10 }), recipient: "sip:carrier@127.0.0.1:5062", cseq: 1<<31 - 10, transport: "UDP"},
		{name: "bad target", leg: with(func(l *store.DialogLeg) { l.RemoteTarget = "sip:" }), wantRefuse: true},
		{name: "bad route", leg: with(func(l *store.DialogLeg) { l.RouteSet = []string{"<<"} }), wantRefuse: true},
		{name: "unknown transport", leg: with(func(l *store.DialogLeg) { l.Transport = "SCTP" }), wantRefuse: true},
		{name: "no local tag", leg: with(func(l *store.DialogLeg) { l.LocalTag = "" }), wantRefuse: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := leftoverBye(tc.leg)
			if tc.wantRefuse {
				if !errors.Is(err, errBadLeftover) {
					t.Fatalf("leftoverBye = %v, want errBadLeftover", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := req.Recipient.String(); got != tc.recipient {
				t.Errorf("Request-URI %s, want %s", got, tc.recipient)
			}
			var routes []string
			for _, h := range req.GetHeaders("Route") {
				routes = append(routes, h.Value())
			}
			if strings.Join(routes, ",") != strings.Join(tc.routes, ",") {
				t.Errorf("Route %q, want %q", routes, tc.routes)
			}
			if got := req.CSeq(); got.SeqNo != tc.cseq || got.MethodName != sip.BYE {
				t.Errorf("CSeq %v, want %d BYE", got, tc.cseq)
			}
			if tag, _ := req.From().Params.Get("tag"); tag != "ours" || req.From().Address.String() != tc.leg.LocalURI {
				t.Errorf("From %v", req.From())
			}
			if tag, _ := req.To().Params.Get("tag"); tag != "theirs" || req.To().Address.String() != tc.leg.RemoteURI {
				t.Errorf("To %v", req.To())
			}
			if sipedge.CallID(req) != tc.leg.CallID {
				t.Errorf("Call-ID %q", sipedge.CallID(req))
			}
			if h := req.GetHeader("Reason"); h == nil || h.Value() != reasonRestarted {
				t.Errorf("Reason %v", h)
			}
			if req.Destination() != tc.dest && tc.dest != "" || req.Transport() != tc.transport {
				t.Errorf("destination %q over %s, want %q over %s", req.Destination(), req.Transport(), tc.dest, tc.transport)
			}
		})
	}
}

// restartOn starts a second engine on the first one's store and relay, as
// a restart after a crash would find them, and returns when it is ready.
func restartOn(t *testing.T, te *testEngine, trunk string, opts ...Option) *Engine {
	t.Helper()
	eng, err := New(Config{Listen: fmt.Sprintf("127.0.0.1:%d", freePort(t)), Trunk: trunk},
		routing.NewRouter(te.store), te.relay, te.store, append([]Option{WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("restarted engine did not stop")
		}
	})
	select {
	case <-eng.Ready():
	case err := <-done:
		t.Fatalf("restarted engine: %v", err)
	case <-time.After(5 * time.Second):
		// Reading the records and sending their BYEs must not hold up start.
		t.Fatal("restarted engine not ready")
	}
	return eng
}

// viaAddr is where a response to req goes: its Via's sent-by (the engine
// that sent it, whichever of the two that is).
func viaAddr(req *sip.Request) string {
	v := req.Via()
	return net.JoinHostPort(v.Host, fmt.Sprint(v.Port))
}

func (te *testEngine) activeCalls() []store.ActiveCall {
	te.t.Helper()
	all, err := te.store.ActiveCalls(context.Background())
	if err != nil {
		te.t.Fatal(err)
	}
	return all
}

func (te *testEngine) waitNoRecords(bound time.Duration) {
	te.t.Helper()
	deadline := time.Now().Add(bound)
	for len(te.activeCalls()) > 0 {
		if time.Now().After(deadline) {
			te.t.Fatalf("records still there after %v: %+v", bound, te.activeCalls())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRestartEndsRecordedCall: a call goes up (with holds both ways, so each
// leg has seen requests from the engine), its record is what each party's
// dialog says, and an engine started on the same store ends it: each party
// gets a BYE in its own dialog (Call-ID, tags, Route, a CSeq above all it
// saw) with the restart Reason, carrying nothing of the other party, and
// the record goes.
func TestRestartEndsRecordedCall(t *testing.T) {
	c := newPrivacyCall(t, false)
	c.setup()
	c.holdFromA()
	c.holdFromB()

	recs := c.te.activeCalls()
	if len(recs) != 1 {
		t.Fatalf("%d records of the call, want 1", len(recs))
	}
	rec := recs[0]
	a, b := rec.Legs[0], rec.Legs[1]
	if a.CallID != c.aCallID || a.RemoteTag != c.aFromTag || a.LocalTag != c.aToTag || a.Destination != c.car.addr() {
		t.Errorf("A leg record %+v does not match the carrier's dialog", a)
	}
	if len(a.RouteSet) != 1 || !strings.HasPrefix(a.RouteSet[0], "sip:"+c.car.addr()+";lr") {
		t.Errorf("A leg route set %q, want the carrier's Record-Route", a.RouteSet)
	}
	bFromTag, _ := c.bInvite.From().Params.Get("tag")
	if b.CallID != sipedge.CallID(c.bInvite) || b.LocalTag != bFromTag || b.RemoteTag != c.bToTag || b.Transport != "UDP" {
		t.Errorf("B leg record %+v does not match the trunk's dialog", b)
	}
	if rec.BindingID != c.binding.ID || rec.ID != sipedge.CallID(c.bInvite) {
		t.Errorf("record %s of binding %s", rec.ID, rec.BindingID)
	}
	// The highest CSeq each party saw from the engine: A the mirrored hold
	// from B, B the INVITE and the mirrored hold from A.
	seen := map[*rawUA]uint32{}
	for _, ua := range []*rawUA{c.car, c.tr} {
		for _, d := range ua.received() {
			if req, ok := d.msg.(*sip.Request); ok && req.CSeq().SeqNo > seen[ua] {
				seen[ua] = req.CSeq().SeqNo
			}
		}
	}

	restartOn(t, c.te, c.tr.addr())
	for _, side := range []struct {
		ua                 *rawUA
		callID, from, to   string
		route              string
		other              party
		otherName, routeOf string
	}{
		{c.car, c.aCallID, c.aToTag, c.aFromTag, "<sip:" + c.car.addr() + ";lr", partyB, "B", "carrier"},
		{c.tr, sipedge.CallID(c.bInvite), bFromTag, c.bToTag, "<sip:" + c.tr.addr() + ";lr", partyA, "A", "trunk"},
	} {
		bye := side.ua.request(sip.BYE, true)
		from, _ := bye.From().Params.Get("tag")
		to, _ := bye.To().Params.Get("tag")
		if sipedge.CallID(bye) != side.callID || from != side.from || to != side.to {
			t.Errorf("%s got a BYE outside its dialog: Call-ID %q, tags %q/%q", side.ua.name, sipedge.CallID(bye), from, to)
		}
		if bye.CSeq().SeqNo <= seen[side.ua] {
			t.Errorf("%s got BYE CSeq %d, not above the %d it saw", side.ua.name, bye.CSeq().SeqNo, seen[side.ua])
		}
		if r := bye.Route(); r == nil || !strings.HasPrefix(r.Value(), side.route) {
			t.Errorf("%s's BYE has Route %v, want the %s's Record-Route", side.ua.name, r, side.routeOf)
		}
		if h := bye.GetHeader("Reason"); h == nil || h.Value() != reasonRestarted {
			t.Errorf("%s's BYE has Reason %v", side.ua.name, h)
		}
		for _, line := range leakingLines([]byte(bye.String()), side.other.secrets()) {
			t.Errorf("%s's BYE carries %s's identity: %s", side.ua.name, side.otherName, line)
		}
		side.ua.send(viaAddr(bye), answerTo(bye, 200, "OK", "").bytes())
	}
	c.te.waitNoRecords(5 * time.Second)
	// The first engine, which never died here, lets go of the call too.
	c.bindingDeleted()
}

// TestRestartWithSilentPeers: a recorded call whose parties never answer
// does not hold up the start or the other recorded calls, and its record
// is gone once its BYEs time out.
func TestRestartWithSilentPeers(t *testing.T) {
	te := newTestEngine(t)
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	live := newRawUA(t, "live peer")
	leg := func(callID, addr string) store.DialogLeg {
		return store.DialogLeg{
			CallID: callID, LocalTag: "l-" + callID, RemoteTag: "r-" + callID,
			LocalURI: "sip:+" + numX + "@127.0.0.1", RemoteURI: "sip:peer@127.0.0.1",
			RemoteTarget: "sip:peer@" + addr, NextCSeq: 2, Transport: "UDP",
		}
	}
	ctx := context.Background()
	for _, rec := range []store.ActiveCall{
		{ID: "dead", Legs: [2]store.DialogLeg{leg("dead-a", silent.LocalAddr().String()), leg("dead-b", silent.LocalAddr().String())}, AnsweredAt: time.Now()},
		{ID: "live", Legs: [2]store.DialogLeg{leg("live-a", live.addr()), leg("live-b", live.addr())}, AnsweredAt: time.Now()},
	} {
		if err := te.store.PutActiveCall(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	restartOn(t, te, te.trunk.addr)
	for range 2 {
		bye := live.request(sip.BYE, true)
		live.send(viaAddr(bye), answerTo(bye, 200, "OK", "").bytes())
	}
	// The silent call's BYEs are still waiting while the live call is done.
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs := te.activeCalls()
		if len(recs) == 1 && recs[0].ID == "dead" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records %+v, want only the silent call's while its BYEs wait", recs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	te.waitNoRecords(leftoverByeTimeout + 5*time.Second)
}

// A call the crash ended still gets its record closed and its
// call.released: the restarted engine finds the open record the answer
// wrote, releases it as the engine with the restart's Reason, and removes
// the active-call record in the same transaction.
func TestRestartClosesOpenRecord(t *testing.T) {
	c := newPrivacyCall(t, false, withEvents())
	c.setup()
	recs := c.te.activeCalls()
	if len(recs) != 1 || recs[0].RecordID == "" {
		t.Fatalf("active-call records %+v, want one naming its call record", recs)
	}
	open, err := c.te.store.Record(context.Background(), recs[0].RecordID)
	if err != nil || !open.ReleasedAt.IsZero() || open.AnsweredAt.IsZero() || open.BindingID != c.binding.ID {
		t.Fatalf("open record %+v, %v", open, err)
	}
	restartOn(t, c.te, c.tr.addr(), WithEvents(c.te.store, nil))
	for _, ua := range []*rawUA{c.car, c.tr} {
		bye := ua.request(sip.BYE, true)
		ua.send(viaAddr(bye), answerTo(bye, 200, "OK", "").bytes())
	}
	c.te.waitNoRecords(5 * time.Second)
	got, rec := c.te.callEvents(c.aCallID)
	if n := len(got); n == 0 || got[n-1].Type != events.TypeReleased {
		t.Fatalf("events %v, want call.released last", eventTypes(got))
	}
	if rec.ReleasedBy != events.ByEngine || rec.Status != 500 || rec.Q850 != 41 || rec.ReasonText != "engine restarted" ||
		rec.Outcome != store.OutcomeAnswered || rec.ReleasedAt.IsZero() || !rec.AnsweredAt.Equal(open.AnsweredAt) {
		t.Errorf("closed record %+v", rec)
	}
	c.bindingDeleted()
}
