package b2bua

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/rs/zerolog"

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
}

// engineOpt changes how a test engine is built.
type engineOpt func(*engineSetup)

func withEdge(opts ...sipedge.Option) engineOpt {
	return func(s *engineSetup) { s.opts = append(s.opts, WithEdgeOptions(opts...)) }
}

func withAnswerTimeout(d time.Duration) engineOpt {
	return func(s *engineSetup) { s.cfg.AnswerTimeout = d }
}

var portBase atomic.Int32

// rtpRange hands each test engine its own relay port range so parallel
// packages do not fight over ports.
func rtpRange() (int, int) {
	n := int(portBase.Add(1))
	base := 30000 + (os.Getpid()%50)*400 + (n%10)*40
	return base, base + 39
}

func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func testLogger(t *testing.T) zerolog.Logger {
	if os.Getenv("XBRIDGE_TEST_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	}
	return zerolog.Nop()
}

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
	lo, hi := rtpRange()
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

type rtpPeer struct {
	conn     *net.UDPConn
	received atomic.Int64
	payloads sync.Map // first payload byte seen -> true
	lastFrom atomic.Value
}

func newRTPPeer(t *testing.T) *rtpPeer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &rtpPeer{conn: c}
	go func() {
		buf := make([]byte, 1500)
		var pkt rtp.Packet
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if pkt.Unmarshal(buf[:n]) == nil {
				p.received.Add(1)
				p.lastFrom.Store(from.String())
				if len(pkt.Payload) > 0 {
					p.payloads.Store(pkt.Payload[0], true)
				}
			}
		}
	}()
	t.Cleanup(func() { c.Close() })
	return p
}

func (p *rtpPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *rtpPeer) sdp(sessID int) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=- %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"+
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n", sessID, p.port()))
}

// send sends n PCMU packets whose payload is filled with mark to the
// address the SDP names.
func (p *rtpPeer) send(t *testing.T, sdp []byte, n int, mark byte) {
	t.Helper()
	dst := sdpAudioAddr(t, sdp)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: uint32(mark) * 1000}, Payload: make([]byte, 160)}
	for i := range pkt.Payload {
		pkt.Payload[i] = mark
	}
	for i := 0; i < n; i++ {
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i * 160)
		raw, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.conn.WriteToUDP(raw, dst); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (p *rtpPeer) waitReceived(t *testing.T, atLeast int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && p.received.Load() < atLeast {
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.received.Load(); got < atLeast {
		t.Fatalf("rtp peer received %d packets, want >= %d", got, atLeast)
	}
}

func sdpAudioAddr(t *testing.T, sdp []byte) *net.UDPAddr {
	t.Helper()
	var ip string
	var port int
	for _, line := range strings.Split(strings.ReplaceAll(string(sdp), "\r\n", "\n"), "\n") {
		if strings.HasPrefix(line, "c=IN IP4 ") {
			ip = strings.TrimSpace(strings.TrimPrefix(line, "c=IN IP4 "))
		}
		if strings.HasPrefix(line, "m=audio ") {
			f := strings.Fields(line)
			port, _ = strconv.Atoi(f[1])
		}
	}
	if ip == "" || port == 0 {
		t.Fatalf("no audio address in sdp:\n%s", sdp)
	}
	return &net.UDPAddr{IP: net.ParseIP(ip), Port: port}
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
	port := freePort(t)
	tr := &trunk{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port), calls: make(chan *trunkCall, 64), byCall: map[string]*trunkCall{}}
	tr.script = func(*sip.Request) trunkAction { return trunkAction{provisional: []int{180}, final: 200} }
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("trunk"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	tr.ua = ua
	srv, _ := sipgo.NewServer(ua)
	cli, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientConnectionAddr(tr.addr))
	tr.dua = &sipgo.DialogUA{Client: cli, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "trunk", Host: "127.0.0.1", Port: port}}}
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
	serveUDP(t, srv, ua, tr.addr)
	serveTCP(t, srv, tr.addr)
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
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("carrier"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := sipgo.NewServer(ua)
	cli, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientConnectionAddr(addr))
	c := &carrier{ua: ua, cli: cli, addr: addr, byes: make(chan *sip.Request, 8)}
	c.dua = &sipgo.DialogUA{Client: cli, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "carrier", Host: "127.0.0.1", Port: port}}}
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		c.byes <- req
	})
	serveUDP(t, srv, ua, addr)
	serveTCP(t, srv, addr)
	tcpCli, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	c.tcp = &sipgo.DialogUA{Client: tcpCli, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "carrier", Host: "127.0.0.1", Port: port, UriParams: params("transport", "tcp")}}}
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

// serveUDP serves a test UA on addr until the test ends.
func serveUDP(t *testing.T, srv *sipgo.Server, ua *sipgo.UserAgent, addr string) {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeUDP(conn)
	if err := sipedge.WaitServing(ua, addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); ua.Close() })
}

// serveTCP serves a test UA's TCP side on addr until the test ends.
func serveTCP(t *testing.T, srv *sipgo.Server, addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTCP(l)
	t.Cleanup(func() { l.Close() })
}

// params builds header or URI parameters from key, value pairs.
func params(kv ...string) sip.HeaderParams {
	p := sip.NewParams()
	for i := 0; i+1 < len(kv); i += 2 {
		p.Add(kv[i], kv[i+1])
	}
	return p
}

func withTrunkTransport(tp string) engineOpt {
	return func(s *engineSetup) { s.cfg.TrunkTransport = tp }
}
