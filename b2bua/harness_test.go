package b2bua

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// The harness runs the engine in-process on 127.0.0.1 with a real bbolt
// store and relay, a scripted trunk (the UAS every B leg reaches) and a
// scripted carrier (the UAC that sends A legs), both built on sipgo.

type testEngine struct {
	t      *testing.T
	engine *Engine
	store  *store.DB
	relay  *media.Relay
	addr   string // engine SIP address
	trunk  *trunk
}

// engineSetup is what a test engine is built from.
type engineSetup struct {
	cfg  Config
	opts []Option
	// lookup and bindings stand between the store and the router and
	// engine; nil passes the store itself.
	lookup   func(*store.DB) routing.BindingLookup
	bindings func(*store.DB) Store
	// events writes call records and events to the store (WithEvents).
	events bool
}

// withEvents makes the engine write call records and events to its store.
func withEvents() engineOpt { return func(s *engineSetup) { s.events = true } }

// engineOpt changes how a test engine is built.
type engineOpt func(*engineSetup)

func withEdge(opts ...sipedge.Option) engineOpt {
	return func(s *engineSetup) { s.opts = append(s.opts, WithEdgeOptions(opts...)) }
}

func withAnswerTimeout(d time.Duration) engineOpt {
	return func(s *engineSetup) { s.cfg.AnswerTimeout = d }
}

// freePort is a loopback port free for both UDP and TCP (the kit's).
func freePort(t *testing.T) int { return testkit.FreePort(t) }

func testLogger(t *testing.T) zerolog.Logger { return testkit.Logger(t) }

func newTestEngine(t *testing.T, opts ...engineOpt) *testEngine {
	t.Helper()
	return newTestEngineWith(t, nil, nil, opts...)
}

// newTestEngineWith is newTestEngine with router and engine options too.
func newTestEngineWith(t *testing.T, ropts []routing.Option, eopts []Option, opts ...engineOpt) *testEngine {
	t.Helper()
	te := &testEngine{t: t}
	te.trunk = newTrunk(t)

	sopts := []store.Option{store.WithSweepInterval(50 * time.Millisecond), store.WithQuarantine(time.Hour)}
	setup := engineSetup{
		cfg: Config{
			Listen: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			Trunk:  te.trunk.addr,
		},
		opts: append([]Option{WithLogger(testLogger(t))}, eopts...),
	}
	for _, o := range opts {
		o(&setup)
	}
	cfg := setup.cfg
	st, err := store.Open(filepath.Join(t.TempDir(), "xbridge.db"), sopts...)
	if err != nil {
		t.Fatal(err)
	}
	te.store = st
	lo, hi := testkit.RTPRange()
	relay, err := media.NewRelay(media.Config{IP: netip.MustParseAddr("127.0.0.1"), PortMin: lo, PortMax: hi})
	if err != nil {
		t.Fatal(err)
	}
	te.relay = relay
	var lookup routing.BindingLookup = st
	if setup.lookup != nil {
		lookup = setup.lookup(st)
	}
	var bindings Store = st
	if setup.bindings != nil {
		bindings = setup.bindings(st)
	}
	if setup.events {
		setup.opts = append(setup.opts, WithEvents(st, nil))
	}
	eng, err := New(cfg, routing.NewRouter(lookup, ropts...), relay, bindings, setup.opts...)
	if err != nil {
		t.Fatal(err)
	}
	te.engine = eng
	te.addr = cfg.Listen

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Serve(ctx) }()
	select {
	case <-eng.Ready():
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("engine not ready")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("engine did not stop")
		}
		relay.Close()
		st.Close()
	})
	return te
}

// bind adds x to the default pool and binds a and b on it.
func (te *testEngine) bind(x, a, b string, ttl time.Duration) store.Binding {
	te.t.Helper()
	ctx := context.Background()
	if _, err := te.store.AddNumbers(ctx, "default", []string{x}); err != nil {
		te.t.Fatal(err)
	}
	bd, _, err := te.store.CreateBinding(ctx, store.NewBinding{Pool: "default", X: x, A: a, B: b, ExpiresAt: time.Now().Add(ttl)})
	if err != nil {
		te.t.Fatal(err)
	}
	return bd
}

// waitIdle waits until the engine has no calls and the relay no ports.
func (te *testEngine) waitIdle() {
	te.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if te.engine.ActiveCalls() == 0 && te.relay.PortsInUse() == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	te.t.Fatalf("not idle: %d calls, %d relay ports", te.engine.ActiveCalls(), te.relay.PortsInUse())
}

// ---- RTP endpoint ----

// rtpPeer is a party's RTP socket: the kit's peer, with the harness's
// offer.
type rtpPeer struct{ *testkit.Peer }

func newRTPPeer(t *testing.T) *rtpPeer { return &rtpPeer{testkit.NewPeer(t)} }

func (p *rtpPeer) port() int { return p.Port() }

func (p *rtpPeer) sdp(sessID int) []byte {
	return testkit.Offer{Session: sessID, Port: p.Port(), Formats: []int{0, 8, 101}, Attrs: []string{"fmtp:101 0-16", "ptime:20", "sendrecv"}}.SDP()
}

// send sends n PCMU packets whose payload is filled with mark to the
// address the SDP names.
func (p *rtpPeer) send(t *testing.T, sdp []byte, n int, mark byte) {
	t.Helper()
	p.SendRTP(testkit.MustAudioAddr(t, sdp), n, mark)
}

func (p *rtpPeer) waitReceived(t *testing.T, atLeast int64) {
	t.Helper()
	p.WaitReceived(atLeast)
}

func sdpAudioAddr(t *testing.T, sdp []byte) *net.UDPAddr {
	t.Helper()
	return net.UDPAddrFromAddrPort(testkit.MustAudioAddr(t, sdp))
}

// ---- trunk: the UAS the B legs reach ----

// trunkAction scripts how the trunk answers one INVITE.
type trunkAction struct {
	provisional []int         // e.g. 180, 183 (183 carries SDP)
	ringFor     time.Duration // before the final answer
	final       int           // 200, 486, ...; 0 = never answer
	noResponse  bool          // drop the INVITE entirely
}

type trunkCall struct {
	req    *sip.Request
	sess   *sipgo.DialogServerSession
	rtp    *rtpPeer
	byeReq chan *sip.Request
	acks   chan *sip.Request
	cancel chan struct{}
}

type trunk struct {
	t      *testing.T
	ua     *sipgo.UserAgent
	addr   string
	dua    *sipgo.DialogUA
	mu     sync.Mutex
	script func(req *sip.Request) trunkAction
	calls  chan *trunkCall
	byCall map[string]*trunkCall
}

func newTrunk(t *testing.T) *trunk {
	u := testkit.NewUA(t, "trunk", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	tr := &trunk{t: t, addr: u.Addr, ua: u.UA, dua: u.Dialog, calls: make(chan *trunkCall, 64), byCall: map[string]*trunkCall{}}
	tr.script = func(*sip.Request) trunkAction { return trunkAction{provisional: []int{180}, final: 200} }
	srv := u.Server
	srv.OnInvite(tr.onInvite)
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		if tc := tr.get(req); tc != nil {
			_ = tc.sess.ReadAck(req, tx)
			select {
			case tc.acks <- req:
			default:
			}
		}
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		tc := tr.get(req)
		if tc == nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "No call", nil))
			return
		}
		_ = tc.sess.ReadBye(req, tx)
		tc.byeReq <- req
	})
	u.ServeUDP()
	u.ServeTCP()
	return tr
}

func (tr *trunk) setScript(f func(req *sip.Request) trunkAction) {
	tr.mu.Lock()
	tr.script = f
	tr.mu.Unlock()
}

func (tr *trunk) get(req *sip.Request) *trunkCall {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.byCall[sipedge.CallID(req)]
}

func (tr *trunk) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	tr.mu.Lock()
	act := tr.script(req)
	tr.mu.Unlock()
	if act.noResponse {
		return
	}
	sess, err := tr.dua.ReadInvite(req, tx)
	if err != nil {
		tr.t.Errorf("trunk read invite: %v", err)
		return
	}
	tc := &trunkCall{req: req, sess: sess, rtp: newRTPPeer(tr.t), byeReq: make(chan *sip.Request, 1), acks: make(chan *sip.Request, 4), cancel: make(chan struct{})}
	tr.mu.Lock()
	tr.byCall[sipedge.CallID(req)] = tc
	tr.mu.Unlock()
	tr.calls <- tc
	ct := sip.NewHeader("Content-Type", "application/sdp")
	for _, code := range act.provisional {
		if code == 183 {
			_ = sess.Respond(183, "Session Progress", tc.rtp.sdp(2), ct)
		} else {
			_ = sess.Respond(code, "Ringing", nil)
		}
	}
	if act.final == 0 {
		<-sess.Context().Done()
		close(tc.cancel)
		return
	}
	select {
	case <-time.After(act.ringFor):
	case <-sess.Context().Done():
		close(tc.cancel)
		return
	}
	if act.final == 200 {
		_ = sess.Respond(200, "OK", tc.rtp.sdp(2), ct)
		return
	}
	_ = sess.Respond(act.final, "Failed", nil)
}

func (tr *trunk) nextCall(t *testing.T) *trunkCall {
	t.Helper()
	select {
	case tc := <-tr.calls:
		return tc
	case <-time.After(5 * time.Second):
		t.Fatal("trunk got no INVITE")
		return nil
	}
}

// ---- carrier: the UAC that sends A legs ----

type carrier struct {
	ua     *sipgo.UserAgent
	dua    *sipgo.DialogUA
	tcp    *sipgo.DialogUA // sends over TCP; set useTCP to use it
	useTCP bool
	cli    *sipgo.Client
	addr   string
	byes   chan *sip.Request
}

func newCarrier(t *testing.T) *carrier {
	u := testkit.NewUA(t, "carrier", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	c := &carrier{ua: u.UA, cli: u.Client, dua: u.Dialog, addr: u.Addr, byes: make(chan *sip.Request, 8)}
	u.Server.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		c.byes <- req
	})
	u.ServeUDP()
	u.ServeTCP()
	tcpCli, _ := sipgo.NewClient(u.UA, sipgo.WithClientHostname("127.0.0.1"))
	c.tcp = &sipgo.DialogUA{Client: tcpCli, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "carrier", Host: "127.0.0.1", Port: u.Port, UriParams: params("transport", "tcp")}}}
	return c
}

// invite sends an INVITE from caller to dialled through the engine.
func (c *carrier) invite(ctx context.Context, engineAddr, caller, dialled string, sdp []byte, extra ...sip.Header) (*sipgo.DialogClientSession, error) {
	host, portText, _ := net.SplitHostPort(engineAddr)
	port, _ := strconv.Atoi(portText)
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: dialled, Host: host, Port: port})
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: caller, Host: "carrier.example"}, Params: params("tag", sip.GenerateTagN(8))})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: dialled, Host: host}, Params: sip.NewParams()})
	for _, h := range extra {
		req.AppendHeader(h)
	}
	if len(sdp) > 0 {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(sdp)
	}
	if c.useTCP {
		req.SetTransport("TCP")
		return c.tcp.WriteInvite(ctx, req)
	}
	return c.dua.WriteInvite(ctx, req)
}

func (c *carrier) waitBye(t *testing.T) *sip.Request {
	t.Helper()
	select {
	case r := <-c.byes:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("carrier got no BYE")
		return nil
	}
}

func fromUser(req *sip.Request) string { return req.From().Address.User }

// params builds header or URI parameters from key, value pairs.
func params(kv ...string) sip.HeaderParams { return testkit.Params(kv...) }

func withTrunkTransport(tp string) engineOpt {
	return func(s *engineSetup) { s.cfg.TrunkTransport = tp }
}
