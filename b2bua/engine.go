// Package b2bua is the SIP side of xbridge: it takes the carrier's INVITE for
// a middle number X (the A leg), asks routing who to call, places the B leg
// through the outbound trunk showing X, anchors media through the relay and
// tears both legs down together. It is the only package that speaks SIP.
package b2bua

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// Config is the SIP side of the engine's configuration.
type Config struct {
	// Listen is the address SIP is served on, UDP and TCP alike.
	Listen string
	// Trunk is the host:port of the outbound trunk every B leg is sent to.
	Trunk string
	// TrunkTransport is "udp" (default) or "tcp".
	TrunkTransport string
	// AnswerTimeout bounds how long a B leg may ring: past it the B leg is
	// cancelled and A gets 408. Default 60 s.
	AnswerTimeout time.Duration
}

// Option configures an Engine.
type Option func(*Engine)

// WithLogger sets the engine's logger; every call's lines carry its call ID
// and binding ID on top of it.
func WithLogger(l zerolog.Logger) Option { return func(e *Engine) { e.log = l } }

// Engine is the B2BUA: one SIP user agent serving the carrier side and the
// trunk side on the same listening address.
type Engine struct {
	cfg    Config
	router *routing.Router
	relay  *media.Relay
	store  store.Store
	log    zerolog.Logger

	ua        *sipgo.UserAgent
	server    *sipgo.Server
	udpClient *sipgo.Client // sends from the listening UDP socket
	tcpClient *sipgo.Client

	host      string // listen host, used in our Contact and From
	port      int
	listenIP  net.IP
	trunkHost string
	trunkPort int
	trunkTP   string // "UDP" or "TCP"

	calls     *callTable
	malformed *malformedGuard // answers what sipgo cannot parse

	admission             *sipedge.Admission // nil: no limits (admission.go)
	refusedLog, rejectLog logBudget          // log lines of refused calls under a flood

	ready     chan struct{}
	readyOnce sync.Once
}

// maxUDPMessage is how large a SIP message we send over UDP. sipgo's default
// (1300 bytes) rejects ordinary INVITEs with a few codecs and long carrier
// headers; loopback and carrier trunks carry fragmented UDP fine.
const maxUDPMessage = 8192

// sipSocketBuffer is the receive and send buffer asked for the SIP UDP
// socket.
const sipSocketBuffer = 8 << 20

// New builds an engine. It does not listen until Serve.
func New(cfg Config, router *routing.Router, relay *media.Relay, st store.Store, opts ...Option) (*Engine, error) {
	if cfg.AnswerTimeout <= 0 {
		cfg.AnswerTimeout = 60 * time.Second
	}
	if cfg.TrunkTransport == "" {
		cfg.TrunkTransport = "udp"
	}
	e := &Engine{
		cfg:    cfg,
		router: router,
		relay:  relay,
		store:  st,
		log:    zerolog.Nop(),
		calls:  newCallTable(),
		ready:  make(chan struct{}),
	}
	for _, o := range opts {
		o(e)
	}
	if router == nil || relay == nil || st == nil {
		return nil, errors.New("b2bua: router, relay and store are required")
	}
	var err error
	if e.host, e.port, err = splitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("b2bua: listen address: %w", err)
	}
	if e.listenIP = net.ParseIP(e.host); e.listenIP == nil {
		return nil, fmt.Errorf("b2bua: listen address %q: host must be an IP address", cfg.Listen)
	}
	if e.trunkHost, e.trunkPort, err = splitHostPort(cfg.Trunk); err != nil {
		return nil, fmt.Errorf("b2bua: trunk address: %w", err)
	}
	switch cfg.TrunkTransport {
	case "udp", "UDP":
		e.trunkTP = "UDP"
	case "tcp", "TCP":
		e.trunkTP = "TCP"
	default:
		return nil, fmt.Errorf("b2bua: trunk transport %q: want udp or tcp", cfg.TrunkTransport)
	}
	if sip.UDPMTUSize < maxUDPMessage+200 {
		sip.UDPMTUSize = maxUDPMessage + 200
	}

	e.ua, err = sipgo.NewUA(sipgo.WithUserAgent("xbridge"), sipgo.WithUserAgentHostname(e.host))
	if err != nil {
		return nil, fmt.Errorf("b2bua: user agent: %w", err)
	}
	e.malformed = newMalformedGuard(e.ua, e.log)
	e.server, err = sipgo.NewServer(e.ua)
	if err != nil {
		return nil, fmt.Errorf("b2bua: server: %w", err)
	}
	e.udpClient, err = sipgo.NewClient(e.ua, sipgo.WithClientHostname(e.host), sipgo.WithClientConnectionAddr(cfg.Listen))
	if err != nil {
		return nil, fmt.Errorf("b2bua: udp client: %w", err)
	}
	e.tcpClient, err = sipgo.NewClient(e.ua, sipgo.WithClientHostname(e.host))
	if err != nil {
		return nil, fmt.Errorf("b2bua: tcp client: %w", err)
	}

	e.server.OnInvite(e.vetted(e.onInvite))
	e.server.OnAck(e.vetted(e.onAck))
	e.server.OnBye(e.vetted(e.onBye))
	e.server.OnCancel(e.vetted(e.onCancel))
	e.server.OnOptions(e.vetted(e.onOptions))
	e.server.OnInfo(e.vetted(e.onInDialog))
	e.server.OnUpdate(e.vetted(e.onInDialog))
	e.server.OnNoRoute(e.vetted(e.onNotAllowed))
	return e, nil
}

// Ready is closed once both listeners accept traffic.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// ActiveCalls is the number of calls being set up or in progress.
func (e *Engine) ActiveCalls() int { return e.calls.len() }

// Serve listens on UDP and TCP and serves calls until ctx is done; then it
// ends every call (BYE on both legs) and returns.
func (e *Engine) Serve(ctx context.Context) error {
	ended, unsubscribe := e.store.Subscribe()
	defer unsubscribe()

	udp, err := net.ListenPacket("udp", e.cfg.Listen)
	if err != nil {
		return fmt.Errorf("b2bua: listen udp %s: %w", e.cfg.Listen, err)
	}
	// Every carrier and the trunk share this one socket. The kernel's default
	// receive buffer (~208 KiB) overflows within milliseconds when the
	// reading goroutine waits for a CPU under load, and each lost ACK or BYE
	// costs a retransmission or a call; a deep buffer turns bursts into
	// queueing. The kernel caps the size at net.core.rmem_max.
	if uc, ok := udp.(*net.UDPConn); ok {
		if err := uc.SetReadBuffer(sipSocketBuffer); err != nil {
			e.log.Warn().Err(err).Msg("sip udp receive buffer")
		}
		if err := uc.SetWriteBuffer(sipSocketBuffer); err != nil {
			e.log.Warn().Err(err).Msg("sip udp send buffer")
		}
	}
	tcp, err := net.Listen("tcp", e.cfg.Listen)
	if err != nil {
		udp.Close()
		return fmt.Errorf("b2bua: listen tcp %s: %w", e.cfg.Listen, err)
	}

	errc := make(chan error, 2)
	go func() { errc <- e.server.ServeUDP(e.malformed.packetConn(e.refuseEarly(udp))) }()
	go func() { errc <- e.server.ServeTCP(e.malformed.listener(tcp)) }()
	if err := waitServing(e.ua, udp.LocalAddr().String()); err != nil {
		udp.Close()
		tcp.Close()
		return fmt.Errorf("b2bua: %w", err)
	}
	e.readyOnce.Do(func() { close(e.ready) })
	e.log.Info().Str("listen", e.cfg.Listen).Str("trunk", e.cfg.Trunk).Str("trunk_transport", e.trunkTP).Msg("sip listening")

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case end, ok := <-ended:
			if !ok {
				break loop
			}
			e.endBinding(end)
		case err := <-errc:
			if err != nil && !errors.Is(err, net.ErrClosed) {
				serveErr = fmt.Errorf("b2bua: serve: %w", err)
			}
			break loop
		}
	}

	e.endAll(sip.NewHeader("Reason", `SIP;cause=503;text="xbridge shutting down"`))
	udp.Close()
	tcp.Close()
	e.ua.Close()
	return serveErr
}

// endBinding tears down every call of a binding that left the store.
func (e *Engine) endBinding(end store.Ended) {
	calls := e.calls.byBinding(end.Binding.ID)
	if len(calls) == 0 {
		return
	}
	reason := sip.NewHeader("Reason", fmt.Sprintf(`SIP;cause=480;text="binding %s"`, end.Reason))
	for _, c := range calls {
		c.log.Info().Str("reason", string(end.Reason)).Msg("binding ended during call")
		go c.terminate(reason, 480)
	}
}

// endAll ends every call and waits (bounded) for their BYEs.
func (e *Engine) endAll(reason sip.Header) {
	var wg sync.WaitGroup
	for _, c := range e.calls.all() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.terminate(reason, 503)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		e.log.Warn().Int("calls", e.calls.len()).Msg("calls still ending at shutdown")
	}
}

// client returns the client for a transport: UDP goes out of the listening
// socket so peers see one address for us.
func (e *Engine) client(transport string) *sipgo.Client {
	if sip.NetworkToLower(transport) == "tcp" {
		return e.tcpClient
	}
	return e.udpClient
}

// fromListener makes a UDP request leave from the listening socket. sipgo
// does so by itself only for requests it builds; dialog requests it sends
// with their own build option would otherwise go out of a fresh port, and a
// carrier's SBC drops requests from an address it does not know.
func (e *Engine) fromListener(req *sip.Request) {
	if sip.NetworkToLower(req.Transport()) == "udp" {
		req.Laddr = sip.Addr{IP: e.listenIP, Port: e.port, Hostname: e.host}
	}
}

// waitServing waits until sipgo has registered the UDP listener in its
// connection pool: requests sent from the listening socket before that fail
// with "address already in use" as sipgo tries to bind a new socket there.
func waitServing(ua *sipgo.UserAgent, addr string) error {
	for i := 0; i < 1000; i++ {
		if _, err := ua.TransportLayer().GetConnection("udp", addr); err == nil {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("udp listener %s not serving", addr)
}

func splitHostPort(hostport string) (string, int, error) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", hostport)
	}
	if host == "" {
		return "", 0, fmt.Errorf("no host in %q", hostport)
	}
	return host, port, nil
}
