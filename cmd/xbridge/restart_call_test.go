package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/internal/testkit"
)

// reasonRestarted is what the restarted engine's BYEs must say.
const reasonRestarted = `SIP;cause=500;text="engine restarted"`

// sipPeer is a fake carrier (A) or trunk (B): a sipgo UA on 127.0.0.1 that
// keeps every request it gets, answers BYE with 200 and, as the trunk,
// answers INVITE with 200 and an SDP.
type sipPeer struct {
	t    *testing.T
	name string
	addr string
	ua   *sipgo.UserAgent
	dua  *sipgo.DialogUA

	mu       sync.Mutex
	requests []*sip.Request
	sessions map[string]*sipgo.DialogServerSession // by Call-ID
	byes     chan *sip.Request
}

func newSIPPeer(t *testing.T, name, addr string) *sipPeer {
	t.Helper()
	u := testkit.NewUA(t, name, addr)
	host, srv := u.Host, u.Server
	peer := &sipPeer{t: t, name: name, addr: addr, ua: u.UA, dua: u.Dialog, byes: make(chan *sip.Request, 8), sessions: map[string]*sipgo.DialogServerSession{}}
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		peer.keep(req)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		peer.byes <- req
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		peer.keep(req)
		peer.mu.Lock()
		sess := peer.sessions[req.CallID().Value()]
		peer.mu.Unlock()
		if sess != nil {
			_ = sess.ReadAck(req, tx) // ends the 2xx retransmissions
		}
	})
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		peer.keep(req)
		sess, err := peer.dua.ReadInvite(req, tx)
		if err != nil {
			t.Errorf("%s: read invite: %v", name, err)
			return
		}
		peer.mu.Lock()
		peer.sessions[req.CallID().Value()] = sess
		peer.mu.Unlock()
		if err := sess.Respond(200, "OK", peerSDP(host, 40000), sip.NewHeader("Content-Type", "application/sdp")); err != nil {
			t.Errorf("%s: answer: %v", name, err)
		}
	})
	u.ServeUDP()
	return peer
}

func (p *sipPeer) keep(req *sip.Request) {
	p.mu.Lock()
	p.requests = append(p.requests, req)
	p.mu.Unlock()
}

// maxCSeq is the highest CSeq of the requests of the dialog callID it got.
func (p *sipPeer) maxCSeq(callID string) uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n uint32
	for _, r := range p.requests {
		if r.CallID().Value() == callID && r.CSeq().SeqNo > n {
			n = r.CSeq().SeqNo
		}
	}
	return n
}

func (p *sipPeer) waitBye(bound time.Duration) *sip.Request {
	p.t.Helper()
	select {
	case r := <-p.byes:
		return r
	case <-time.After(bound):
		p.t.Fatalf("%s got no BYE within %v", p.name, bound)
		return nil
	}
}

func peerSDP(host string, port int) []byte {
	return testkit.Offer{Session: 1, IP: host, Port: port, Attrs: []string{"sendrecv"}}.SDP()
}

// TestCallsEndAfterKill9 is the promise to both parties: a crash leaves no
// call open. A call is up between a fake carrier and a fake trunk through
// the real binary; the binary is SIGKILLed (after the store's flush
// interval), restarted on the same SIP port and data directory, and both
// parties get a BYE in their own dialog saying the engine restarted. After
// a second kill and start, nobody gets another: the records are gone.
func TestCallsEndAfterKill9(t *testing.T) {
	bin, cfg, env := binaryEnv(t)
	base := "http://" + cfg.API
	var logs syncBuffer
	defer func() {
		if t.Failed() {
			t.Logf("engine logs:\n%s", logs.String())
		}
	}()
	cmd := startServe(t, bin, env, base, &logs)
	defer func() {
		if cmd != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	post := func(path string, body any) map[string]any { return postJSON(t, base, path, body) }
	const x, a, b = "+8617000000001", "+8613800000001", "+8613900000002"
	post("/v1/pools/default/numbers", map[string]any{"numbers": []string{x}})
	post("/v1/bindings", map[string]any{"a": a, "b": b, "x": x, "ttl_seconds": 3600})

	trunk := newSIPPeer(t, "trunk", cfg.Trunk)
	carrierAddr, err := freeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	carrier := newSIPPeer(t, "carrier", carrierAddr.String())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inv, aDialog := answeredCall(ctx, t, cfg, carrier, a, x)
	trunk.mu.Lock()
	if len(trunk.requests) == 0 {
		trunk.mu.Unlock()
		t.Fatal("the trunk saw no INVITE")
	}
	bInvite := trunk.requests[0]
	trunk.mu.Unlock()

	// The record is committed within the store's flush interval (100 ms);
	// wait several of them, then kill without warning.
	time.Sleep(500 * time.Millisecond)
	kill := func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		cmd = nil
	}
	kill()
	// The highest CSeq each party has seen in its dialog, before any BYE.
	aSeen := max(inv.CSeq().SeqNo, carrier.maxCSeq(inv.CallID().Value()))
	bSeen := trunk.maxCSeq(bInvite.CallID().Value())
	select {
	case r := <-carrier.byes:
		t.Fatalf("the carrier got a BYE from a dead engine: %v", r)
	case r := <-trunk.byes:
		t.Fatalf("the trunk got a BYE from a dead engine: %v", r)
	default:
	}

	cmd = startServe(t, bin, env, base, &logs)
	aToTag, _ := aDialog.InviteResponse.To().Params.Get("tag")
	aFromTag, _ := inv.From().Params.Get("tag")
	bFromTag, _ := bInvite.From().Params.Get("tag")
	trunk.mu.Lock()
	var bToTag string
	for _, r := range trunk.requests {
		if r.IsAck() {
			bToTag, _ = r.To().Params.Get("tag")
		}
	}
	trunk.mu.Unlock()
	for _, leg := range []struct {
		peer           *sipPeer
		callID         string
		fromTag, toTag string
		atLeast        uint32 // CSeqs this side has seen in the dialog
		other          []string
	}{
		{carrier, inv.CallID().Value(), aToTag, aFromTag, aSeen, []string{b[3:], "trunk"}},
		{trunk, bInvite.CallID().Value(), bFromTag, bToTag, bSeen, []string{a[3:], "carrier"}},
	} {
		bye := leg.peer.waitBye(10 * time.Second)
		from, _ := bye.From().Params.Get("tag")
		to, _ := bye.To().Params.Get("tag")
		if bye.CallID().Value() != leg.callID || from != leg.fromTag || to != leg.toTag {
			t.Errorf("%s got a BYE outside its dialog: Call-ID %q tags %q/%q, want %q %q/%q",
				leg.peer.name, bye.CallID().Value(), from, to, leg.callID, leg.fromTag, leg.toTag)
		}
		if bye.CSeq().SeqNo <= leg.atLeast {
			t.Errorf("%s got BYE CSeq %d, not above the %d it saw", leg.peer.name, bye.CSeq().SeqNo, leg.atLeast)
		}
		if h := bye.GetHeader("Reason"); h == nil || h.Value() != reasonRestarted {
			t.Errorf("%s's BYE has Reason %v, want %s", leg.peer.name, h, reasonRestarted)
		}
		for _, s := range leg.other {
			if strings.Contains(bye.String(), s) {
				t.Errorf("%s's BYE carries %q of the other party:\n%s", leg.peer.name, s, bye)
			}
		}
	}

	// The BYEs were answered, so the records are deleted: another crash
	// and start sends nothing more.
	time.Sleep(300 * time.Millisecond)
	kill()
	cmd = startServe(t, bin, env, base, &logs)
	select {
	case r := <-carrier.byes:
		t.Errorf("the carrier got a second BYE after the next restart: %v", r.GetHeader("Reason"))
	case r := <-trunk.byes:
		t.Errorf("the trunk got a second BYE after the next restart: %v", r.GetHeader("Reason"))
	case <-time.After(2 * time.Second):
	}
}

// postJSON POSTs body to the API at base and returns its JSON answer,
// failing the test on anything but a 2xx.
func postJSON(t *testing.T, base, path string, body any) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(body)
	res, err := http.Post(base+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode >= 300 {
		t.Fatalf("POST %s: %d %v %v", path, res.StatusCode, out, err)
	}
	return out
}

// answeredCall has the carrier call x from a through the engine of cfg,
// waits for the answer and acknowledges it.
func answeredCall(ctx context.Context, t *testing.T, cfg Config, carrier *sipPeer, a, x string) (*sip.Request, *sipgo.DialogClientSession) {
	t.Helper()
	inv := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: x, Host: cfg.SIP.Addr().String(), Port: int(cfg.SIP.Port())})
	fromParams := sip.NewParams()
	fromParams.Add("tag", sip.GenerateTagN(10))
	inv.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: a, Host: "carrier.example"}, Params: fromParams})
	inv.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: x, Host: cfg.SIP.Addr().String()}, Params: sip.NewParams()})
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody(peerSDP("127.0.0.1", 42000))
	aDialog, err := carrier.dua.WriteInvite(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	if err := aDialog.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatalf("call not answered: %v", err)
	}
	if err := aDialog.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	return inv, aDialog
}
