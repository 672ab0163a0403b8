// Package sipedge is xbridge's SIP edge: the sipgo user agent and its UDP
// and TCP listeners, the guard that answers what sipgo cannot parse, the
// vetting every request passes before a handler sees it, the outbound (UAC)
// leg placed through the trunk, the header policy that builds every message
// a party receives from an allowlist, and the one table of reason phrases.
//
// It knows nothing of calls: b2bua registers the handlers, keeps the call
// state and decides what each leg is told; sipedge is how it is said.
//
// sipgo keeps two settings in package variables that every user agent reads
// unguarded: its logger and sip.UDPMTUSize. They are the process's to set,
// once, before the first Edge is built: cmd/xbridge does it in main (tests in
// TestMain), with sip.UDPMTUSize = UDPMTUSize.
package sipedge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/number"
)

// Config is the SIP edge's configuration.
type Config struct {
	// Listen is the address SIP is served on, UDP and TCP alike.
	Listen string
	// Trunk is the host:port of the outbound trunk every B leg is sent to.
	Trunk string
	// TrunkTransport is "udp" (default) or "tcp".
	TrunkTransport string
	// TrunkNumbers is how the B leg writes the callee and X towards the
	// trunk; nil is number.DefaultTrunk() (+E.164 with user=phone).
	TrunkNumbers *number.Trunk
}

// Option configures an Edge.
type Option func(*Edge)

// WithLogger sets the edge's logger.
func WithLogger(l zerolog.Logger) Option { return func(e *Edge) { e.log = l } }

// WithUDPFilter puts f in front of the UDP listener (each one given in
// front of the ones before it): what f's connection reads is what sipgo parses (e.g. RefuseOverUDP, which answers a flood's
// INVITEs before sipgo makes a transaction for them).
func WithUDPFilter(f func(net.PacketConn) net.PacketConn) Option {
	return func(e *Edge) { e.udpFilters = append(e.udpFilters, f) }
}

// WithPartialMessageTimeout bounds how long a TCP peer may leave a started
// message unfinished before the connection is closed (default 32 s, the
// life of a transaction); 0 waits forever.
func WithPartialMessageTimeout(d time.Duration) Option {
	return func(e *Edge) { e.partialTimeout = d }
}

// Edge is one SIP user agent serving the carrier side and the trunk side on
// the same listening address.
type Edge struct {
	cfg Config
	log zerolog.Logger

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
	numbers   number.Trunk

	malformed      *malformedGuard // answers what sipgo cannot parse
	partialTimeout time.Duration
	cancelAllowed  func(callID string, src netip.Addr) bool // WithCancelScreen

	udp        net.PacketConn
	tcp        net.Listener
	udpFilters []func(net.PacketConn) net.PacketConn // WithUDPFilter, outermost last
}

// MaxUDPMessage is how large a SIP message the engine sends over UDP.
// sipgo's default (1300 bytes) rejects ordinary INVITEs with a few codecs
// and long carrier headers; loopback and carrier trunks carry fragmented UDP
// fine.
const MaxUDPMessage = 8192

// UDPMTUSize is what the process sets sip.UDPMTUSize to: sipgo refuses UDP
// messages longer than sip.UDPMTUSize-200.
const UDPMTUSize = MaxUDPMessage + 200

// sipSocketBuffer is the receive and send buffer asked for the SIP UDP
// socket.
const sipSocketBuffer = 8 << 20

// New builds an edge. It does not listen until Start.
func New(cfg Config, opts ...Option) (*Edge, error) {
	if cfg.TrunkTransport == "" {
		cfg.TrunkTransport = "udp"
	}
	e := &Edge{cfg: cfg, log: zerolog.Nop(), partialTimeout: partialMessageTimeout}
	for _, o := range opts {
		o(e)
	}
	var err error
	if e.host, e.port, err = splitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("sipedge: listen address: %w", err)
	}
	if e.listenIP = net.ParseIP(e.host); e.listenIP == nil {
		return nil, fmt.Errorf("sipedge: listen address %q: host must be an IP address", cfg.Listen)
	}
	if e.trunkHost, e.trunkPort, err = splitHostPort(cfg.Trunk); err != nil {
		return nil, fmt.Errorf("sipedge: trunk address: %w", err)
	}
	if e.numbers, err = trunkNumbers(cfg.TrunkNumbers); err != nil {
		return nil, err
	}
	switch cfg.TrunkTransport {
	case "udp", "UDP":
		e.trunkTP = "UDP"
	case "tcp", "TCP":
		e.trunkTP = "TCP"
	default:
		return nil, fmt.Errorf("sipedge: trunk transport %q: want udp or tcp", cfg.TrunkTransport)
	}

	e.ua, err = sipgo.NewUA(sipgo.WithUserAgent("xbridge"), sipgo.WithUserAgentHostname(e.host))
	if err != nil {
		return nil, fmt.Errorf("sipedge: user agent: %w", err)
	}
	e.malformed = newMalformedGuard(e.ua, e.log)
	e.malformed.partialTimeout.Store(int64(e.partialTimeout))
	e.malformed.cancelAllowed = e.cancelAllowed
	e.server, err = sipgo.NewServer(e.ua)
	if err != nil {
		return nil, fmt.Errorf("sipedge: server: %w", err)
	}
	e.udpClient, err = sipgo.NewClient(e.ua, sipgo.WithClientHostname(e.host), sipgo.WithClientConnectionAddr(cfg.Listen))
	if err != nil {
		return nil, fmt.Errorf("sipedge: udp client: %w", err)
	}
	e.tcpClient, err = sipgo.NewClient(e.ua, sipgo.WithClientHostname(e.host))
	if err != nil {
		return nil, fmt.Errorf("sipedge: tcp client: %w", err)
	}

	// What needs no call: keepalive pings, CANCELs the transaction layer
	// could not match, and methods the engine does not serve.
	e.server.OnOptions(e.vetted(e.onOptions))
	e.server.OnCancel(e.vetted(e.onCancel))
	e.server.OnNoRoute(e.vetted(e.onNotAllowed))
	return e, nil
}

// The handlers of the methods a call is made of. Each request passes the
// vetting first: h sees only requests some SIP element could act on.

// OnInvite sets the handler of INVITEs, new and in-dialog.
func (e *Edge) OnInvite(h sipgo.RequestHandler) { e.server.OnInvite(e.vetted(h)) }

// OnAck sets the handler of ACKs.
func (e *Edge) OnAck(h sipgo.RequestHandler) { e.server.OnAck(e.vetted(h)) }

// OnBye sets the handler of BYEs.
func (e *Edge) OnBye(h sipgo.RequestHandler) { e.server.OnBye(e.vetted(h)) }

// OnInfo sets the handler of INFOs.
func (e *Edge) OnInfo(h sipgo.RequestHandler) { e.server.OnInfo(e.vetted(h)) }

// OnUpdate sets the handler of UPDATEs.
func (e *Edge) OnUpdate(h sipgo.RequestHandler) { e.server.OnUpdate(e.vetted(h)) }

// Start listens on UDP and TCP and serves both; it returns once sipgo
// serves the UDP socket, so requests may be sent from it. What ends either
// serving loop arrives on the channel; Close ends both.
func (e *Edge) Start() (<-chan error, error) {
	udp, err := net.ListenPacket("udp", e.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("sipedge: listen udp %s: %w", e.cfg.Listen, err)
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
		return nil, fmt.Errorf("sipedge: listen tcp %s: %w", e.cfg.Listen, err)
	}

	errc := make(chan error, 2)
	var in net.PacketConn = udp
	for _, f := range e.udpFilters {
		in = f(in)
	}
	go func() { errc <- e.server.ServeUDP(e.malformed.packetConn(in)) }()
	go func() { errc <- e.server.ServeTCP(e.malformed.listener(tcp)) }()
	if err := WaitServing(e.ua, udp.LocalAddr().String()); err != nil {
		udp.Close()
		tcp.Close()
		return nil, fmt.Errorf("sipedge: %w", err)
	}
	e.udp, e.tcp = udp, tcp
	e.log.Info().Str("listen", e.cfg.Listen).Str("trunk", e.cfg.Trunk).Str("trunk_transport", e.trunkTP).Msg("sip listening")
	return errc, nil
}

// Close stops the listeners and the user agent, with its transactions.
func (e *Edge) Close() {
	if e.udp != nil {
		e.udp.Close()
		e.tcp.Close()
	}
	e.ua.Close()
}

// IsClosed reports whether a serving loop's error only says Close ran.
func IsClosed(err error) bool { return err == nil || errors.Is(err, net.ErrClosed) }

// Client returns the client for a transport: UDP goes out of the listening
// socket so peers see one address for us.
func (e *Edge) Client(transport string) *sipgo.Client {
	if sip.NetworkToLower(transport) == "tcp" {
		return e.tcpClient
	}
	return e.udpClient
}

// TrunkTransport is the transport B legs use, "UDP" or "TCP".
func (e *Edge) TrunkTransport() string { return e.trunkTP }

// FromListener makes a UDP request leave from the listening socket. sipgo
// does so by itself only for requests it builds; dialog requests it sends
// with their own build option would otherwise go out of a fresh port, and a
// carrier's SBC drops requests from an address it does not know.
func (e *Edge) FromListener(req *sip.Request) {
	if sip.NetworkToLower(req.Transport()) == "udp" {
		req.Laddr = sip.Addr{IP: e.listenIP, Port: e.port, Hostname: e.host}
	}
}

// Reply answers a request outside any dialog; an empty reason is the
// table's phrase for code.
func (e *Edge) Reply(req *sip.Request, tx sip.ServerTransaction, code int, reason string, headers ...sip.Header) {
	if reason == "" {
		reason = ReasonPhrase(code)
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if code == sip.StatusMethodNotAllowed || code == sip.StatusOK && req.Method == sip.OPTIONS {
		res.AppendHeader(sip.NewHeader("Allow", AllowedMethods))
	}
	if err := tx.Respond(res); err != nil {
		e.log.Debug().Err(err).Str("call_id", CallID(req)).Int("code", code).Msg("respond")
	}
}

// Refuse answers a request outside any dialog with the status err asks for
// (a *StatusError in its chain), 500 when it names none.
func (e *Edge) Refuse(req *sip.Request, tx sip.ServerTransaction, err error) {
	code, reason := sip.StatusInternalServerError, ""
	if se, ok := errors.AsType[*StatusError](err); ok {
		code, reason = se.Code, se.Reason
	}
	e.Reply(req, tx, code, reason)
}

// onOptions answers keepalive pings from the carrier, in or out of dialog.
func (e *Edge) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	e.Reply(req, tx, sip.StatusOK, "")
}

// onCancel sees only CANCELs the transaction layer could not match to an
// INVITE (matched ones end the A dialog's context, which the call watches).
func (e *Edge) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	e.Reply(req, tx, sip.StatusCallTransactionDoesNotExists, "")
}

// CallID is a message's Call-ID, "" when it has none.
func CallID(m sip.Message) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// WaitServing waits until sipgo has registered the UDP listener on addr in
// ua's connection pool: requests sent from the listening socket before that
// fail with "address already in use" as sipgo tries to bind a new socket
// there.
func WaitServing(ua *sipgo.UserAgent, addr string) error {
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

// SourceAddr is the address a request came from (IPv4-mapped addresses
// unmapped), or the zero Addr when sipgo recorded none it can parse.
func SourceAddr(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
