package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
)

// The demo's phones: plain sipgo user agents with a pion/rtp audio endpoint,
// standing in for a buyer's handset (A) and the carrier behind the outbound
// trunk that rings the courier (B).

const (
	pcmuPayloadType = 0
	pcmuFrameBytes  = 160 // 20 ms of 8 kHz G.711
	pcmuFrame       = 20 * time.Millisecond
)

// audio is one phone's RTP endpoint: it sends paced PCMU frames to where
// its SDP peer said, and counts the PCMU frames that come back.
type audio struct {
	conn     *net.UDPConn
	ssrc     uint32
	sent     atomic.Int64
	received atomic.Int64
	foreign  atomic.Int64 // packets that were not the PCMU we expect
	done     chan struct{}
}

func newAudio(ssrc uint32) (*audio, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("open RTP socket: %w", err)
	}
	a := &audio{conn: conn, ssrc: ssrc, done: make(chan struct{})}
	go a.receive()
	return a, nil
}

func (a *audio) addr() netip.AddrPort { return unmapped(a.conn.LocalAddr().(*net.UDPAddr).AddrPort()) }

func (a *audio) receive() {
	defer close(a.done)
	buf := make([]byte, 1500)
	var p rtp.Packet
	for {
		n, _, err := a.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		if err := p.Unmarshal(buf[:n]); err != nil || p.PayloadType != pcmuPayloadType || len(p.Payload) != pcmuFrameBytes || p.SSRC == a.ssrc {
			a.foreign.Add(1)
			continue
		}
		a.received.Add(1)
	}
}

// send sends n frames, one every 20 ms, from the receiving socket (symmetric
// RTP, as the relay expects).
func (a *audio) send(ctx context.Context, to netip.AddrPort, n int) error {
	payload := bytes.Repeat([]byte{0xff}, pcmuFrameBytes) // PCMU silence
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pcmuPayloadType, SSRC: a.ssrc}, Payload: payload}
	buf := make([]byte, 0, 12+pcmuFrameBytes)
	tick := time.NewTicker(pcmuFrame)
	defer tick.Stop()
	for i := range n {
		p.SequenceNumber = uint16(i)
		p.Timestamp = uint32(i * pcmuFrameBytes)
		p.Marker = i == 0
		raw, err := p.Header.MarshalTo(buf[:12])
		if err != nil {
			return fmt.Errorf("marshal RTP: %w", err)
		}
		if _, err := a.conn.WriteToUDPAddrPort(append(buf[:raw], payload...), to); err != nil {
			return fmt.Errorf("send RTP to %s: %w", to, err)
		}
		a.sent.Add(1)
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// waitReceived waits, bounded, until want frames arrived or nothing more
// is coming.
func (a *audio) waitReceived(ctx context.Context, want int64, patience time.Duration) {
	deadline := time.Now().Add(patience)
	for a.received.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

func (a *audio) close() {
	a.conn.Close()
	<-a.done
}

// offer is the SDP a phone sends: PCMU at its RTP socket.
func (a *audio) sdp(user string) []byte {
	ap := a.addr()
	return []byte(strings.Join([]string{
		"v=0",
		fmt.Sprintf("o=%s 1 1 IN IP4 %s", user, ap.Addr()),
		"s=phone",
		fmt.Sprintf("c=IN IP4 %s", ap.Addr()),
		"t=0 0",
		fmt.Sprintf("m=audio %d RTP/AVP 0", ap.Port()),
		"a=rtpmap:0 PCMU/8000",
		"a=ptime:20",
		"a=sendrecv",
		"",
	}, "\r\n"))
}

// sdpMediaAddr reads where an SDP body wants its audio: the first audio
// m= line's port at the media-level c= (or the session-level one).
func sdpMediaAddr(sdp []byte) (netip.AddrPort, error) {
	var session, media netip.Addr
	port, inAudio := -1, false
	sc := bufio.NewScanner(bytes.NewReader(sdp))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "m="):
			if port >= 0 {
				inAudio = false
				continue
			}
			f := strings.Fields(line[2:])
			if len(f) < 2 || f[0] != "audio" {
				continue
			}
			p, err := strconv.Atoi(f[1])
			if err != nil {
				return netip.AddrPort{}, fmt.Errorf("sdp: bad m= port in %q", line)
			}
			port, inAudio = p, true
		case strings.HasPrefix(line, "c="):
			f := strings.Fields(line[2:])
			if len(f) != 3 {
				return netip.AddrPort{}, fmt.Errorf("sdp: bad c= line %q", line)
			}
			ip, err := netip.ParseAddr(f[2])
			if err != nil {
				return netip.AddrPort{}, fmt.Errorf("sdp: bad c= address in %q", line)
			}
			if inAudio {
				media = ip
			} else if port < 0 {
				session = ip
			}
		}
	}
	if port <= 0 {
		return netip.AddrPort{}, errors.New("sdp: no audio stream")
	}
	if !media.IsValid() {
		media = session
	}
	if !media.IsValid() {
		return netip.AddrPort{}, errors.New("sdp: no c= address")
	}
	return netip.AddrPortFrom(media, uint16(port)), nil
}

// phoneSocket is where a phone listens for SIP: a UDP socket or a TCP
// listener on loopback. It is bound before the phone exists, so its address
// is known and taken before anyone sends to it.
type phoneSocket struct {
	transport string // "udp" or "tcp"
	udp       *net.UDPConn
	tcp       *net.TCPListener
}

// listenPhoneSocket binds a phone's SIP socket on a free loopback port.
func listenPhoneSocket(transport string) (*phoneSocket, error) {
	lo := net.IPv4(127, 0, 0, 1)
	switch transport {
	case "udp":
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: lo})
		if err != nil {
			return nil, fmt.Errorf("open SIP socket: %w", err)
		}
		return &phoneSocket{transport: transport, udp: c}, nil
	case "tcp":
		l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: lo})
		if err != nil {
			return nil, fmt.Errorf("open SIP listener: %w", err)
		}
		return &phoneSocket{transport: transport, tcp: l}, nil
	}
	return nil, fmt.Errorf("phone transport %q: want udp or tcp", transport)
}

func (s *phoneSocket) addr() netip.AddrPort {
	if s.udp != nil {
		return unmapped(s.udp.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	return unmapped(s.tcp.Addr().(*net.TCPAddr).AddrPort())
}

// Close closes the socket; closing it twice is harmless.
func (s *phoneSocket) Close() error {
	if s.udp != nil {
		return s.udp.Close()
	}
	return s.tcp.Close()
}

// phone is a SIP user agent on one phoneSocket. Over UDP it sends its
// requests from that socket too; over TCP from connections of its own, as
// TCP phones do.
type phone struct {
	name   string
	sock   *phoneSocket
	addr   netip.AddrPort
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	served chan error
}

// onBye answers a BYE through the phone's dialogs (481 when none matches)
// and closes bye on the first one.
func (p *phone) onBye(readBye func(*sip.Request, sip.ServerTransaction) error, once *sync.Once, bye chan struct{}) {
	p.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := readBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
			return
		}
		once.Do(func() { close(bye) })
	})
}

// newPhone serves sock; close closes it.
func newPhone(name string, sock *phoneSocket) (*phone, error) {
	addr := sock.addr()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("xbridge-demo-"+name), sipgo.WithUserAgentHostname(addr.Addr().String()))
	if err != nil {
		return nil, fmt.Errorf("phone %s: user agent: %w", name, err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("phone %s: server: %w", name, err)
	}
	opts := []sipgo.ClientOption{sipgo.WithClientHostname(addr.Addr().String())}
	if sock.transport == "udp" {
		opts = append(opts, sipgo.WithClientConnectionAddr(addr.String()))
	}
	client, err := sipgo.NewClient(ua, opts...)
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("phone %s: client: %w", name, err)
	}
	return &phone{name: name, sock: sock, addr: addr, ua: ua, srv: srv, client: client}, nil
}

// uri is a SIP URI at the phone's socket, naming the transport when it is
// not UDP so that requests to it come over the right one.
func (p *phone) uri(user string) sip.Uri {
	u := sip.Uri{Scheme: "sip", User: user, Host: p.addr.Addr().String(), Port: int(p.addr.Port())}
	if p.sock.transport != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", p.sock.transport)
	}
	return u
}

func (p *phone) contact(user string) sip.ContactHeader {
	return sip.ContactHeader{Address: p.uri(user)}
}

// listen serves the socket once the handlers are set. Over UDP it returns
// only when sipgo's transport layer holds the socket: a request sent before
// that would make sipgo bind the same address a second time and fail.
func (p *phone) listen(ctx context.Context) error {
	p.served = make(chan error, 1)
	if p.sock.transport == "tcp" {
		go func() { p.served <- p.srv.ServeTCP(p.sock.tcp) }()
		return nil // the kernel queues connections until sipgo accepts them
	}
	go func() { p.served <- p.srv.ServeUDP(p.sock.udp) }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for range 1000 {
		if c, err := p.ua.TransportLayer().GetConnection("udp", p.addr.String()); err == nil && c != nil {
			c.Ref(-1) // GetConnection took a reference; give it back
			return nil
		}
		select {
		case err := <-p.served:
			p.served <- err
			return fmt.Errorf("phone %s: serve SIP: %w", p.name, errOrStopped(err))
		case <-ctx.Done():
			return fmt.Errorf("phone %s: serve SIP: %w", p.name, ctx.Err())
		case <-tick.C:
		}
	}
	return fmt.Errorf("phone %s: SIP socket %s never became ready", p.name, p.addr)
}

func (p *phone) close() {
	p.ua.Close()
	p.sock.Close()
	if p.served != nil {
		select {
		case <-p.served:
		case <-time.After(2 * time.Second):
		}
	}
}

// callee is phone B: it answers every INVITE from the trunk side, records
// what it was shown, and waits for the BYE.
type callee struct {
	*phone
	audio    *audio
	dialogs  *sipgo.DialogServerCache
	invite   chan *sip.Request // the INVITE B answered
	acked    chan struct{}
	byeOnce  sync.Once
	bye      chan struct{}
	ackOnce  sync.Once
	answered atomic.Bool
}

func newCallee(ctx context.Context, sock *phoneSocket, user string, au *audio) (*callee, error) {
	p, err := newPhone("B", sock)
	if err != nil {
		return nil, err
	}
	c := &callee{
		phone:   p,
		audio:   au,
		dialogs: sipgo.NewDialogServerCache(p.client, p.contact(user)),
		invite:  make(chan *sip.Request, 1),
		acked:   make(chan struct{}),
		bye:     make(chan struct{}),
	}
	p.srv.OnInvite(c.onInvite)
	p.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := c.dialogs.ReadAck(req, tx); err == nil {
			c.ackOnce.Do(func() { close(c.acked) })
		}
	})
	p.onBye(c.dialogs.ReadBye, &c.byeOnce, c.bye)
	if err := p.listen(ctx); err != nil {
		p.close()
		return nil, err
	}
	return c, nil
}

// onInvite rings once and answers with B's SDP. Only the first call is
// answered; the demo places exactly one.
func (c *callee) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if !c.answered.CompareAndSwap(false, true) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBusyHere, "Busy Here", nil))
		return
	}
	dlg, err := c.dialogs.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil))
		return
	}
	c.invite <- req.Clone()
	if err := dlg.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
		return
	}
	// 200 OK retransmits until the ACK; the handler must stay until then.
	_ = dlg.RespondSDP(c.audio.sdp("courier"))
}

// caller is phone A: it places the INVITE for X to the engine.
type caller struct {
	*phone
	audio   *audio
	dialogs *sipgo.DialogClientCache
	user    string
	bye     chan struct{}
	byeOnce sync.Once
}

func newCaller(ctx context.Context, sock *phoneSocket, user string, au *audio) (*caller, error) {
	p, err := newPhone("A", sock)
	if err != nil {
		return nil, err
	}
	c := &caller{phone: p, audio: au, user: user, bye: make(chan struct{}),
		dialogs: sipgo.NewDialogClientCache(p.client, p.contact(user))}
	p.onBye(c.dialogs.ReadBye, &c.byeOnce, c.bye)
	if err := p.listen(ctx); err != nil {
		p.close()
		return nil, err
	}
	return c, nil
}

// call dials x at the engine and waits for the answer; it returns the
// session and every response it got.
func (c *caller) call(ctx context.Context, engine netip.AddrPort, x string) (*sipgo.DialogClientSession, []*sip.Response, error) {
	to := sip.Uri{Scheme: "sip", User: x, Host: engine.Addr().String(), Port: int(engine.Port())}
	if c.sock.transport != "udp" {
		to.UriParams = sip.NewParams()
		to.UriParams.Add("transport", c.sock.transport)
	}
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: c.user, Host: c.addr.Addr().String()}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	sess, err := c.dialogs.Invite(ctx, to, c.audio.sdp("buyer"), from, sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		return nil, nil, fmt.Errorf("send INVITE: %w", err)
	}
	var responses []*sip.Response
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		responses = append(responses, res)
		return nil
	}})
	if err != nil {
		sess.Close()
		return nil, responses, fmt.Errorf("wait for answer: %w", err)
	}
	if err := sess.Ack(ctx); err != nil {
		sess.Close()
		return nil, responses, fmt.Errorf("send ACK: %w", err)
	}
	return sess, responses, nil
}
