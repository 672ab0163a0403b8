package testkit

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Bounds of a Peer: how long Recv waits for a datagram, how long
// ExpectNothing listens, and how many unread datagrams it keeps (a peer
// that is streamed at and never read must not grow without end).
const (
	RecvTimeout   = 5 * time.Second
	QuietPeriod   = 100 * time.Millisecond
	maxUnread     = 10000
	maxDatagram   = 65535
	rtpFrameBytes = 160 // 20 ms of G.711
)

// Datagram is one packet a Peer received.
type Datagram struct {
	Data []byte
	From netip.AddrPort
}

// Peer is a party's media socket on 127.0.0.1 (port chosen by the kernel).
// A reader keeps every datagram in arrival order for Recv, and counts what
// parses as RTP: how many, which marker bytes (first payload byte) and from
// which sources.
type Peer struct {
	t    testing.TB
	conn *net.UDPConn
	done chan struct{}
	more chan struct{} // a token when unread grows

	rtp atomic.Int64

	mu      sync.Mutex
	unread  []Datagram
	dropped int
	marks   map[byte]bool
	sources map[netip.AddrPort]int64
	last    netip.AddrPort
}

// ListenUDP binds a UDP socket on 127.0.0.1 at a port the kernel picks and
// closes it when the test ends: for a test that reads and writes the socket
// itself (a benchmark's sender and sink).
func ListenUDP(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// NewPeer binds a peer; it is closed when the test ends.
func NewPeer(t testing.TB) *Peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &Peer{t: t, conn: c, done: make(chan struct{}), more: make(chan struct{}, 1),
		marks: map[byte]bool{}, sources: map[netip.AddrPort]int64{}}
	go p.read()
	t.Cleanup(func() { c.Close(); <-p.done })
	return p
}

func (p *Peer) read() {
	defer close(p.done)
	buf := make([]byte, maxDatagram)
	var pkt rtp.Packet
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		d := Datagram{Data: bytes.Clone(buf[:n]), From: from}
		isRTP := pkt.Unmarshal(d.Data) == nil
		p.mu.Lock()
		if len(p.unread) < maxUnread {
			p.unread = append(p.unread, d)
		} else {
			p.dropped++
		}
		if isRTP {
			p.sources[from]++
			p.last = from
			if len(pkt.Payload) > 0 {
				p.marks[pkt.Payload[0]] = true
			}
		}
		p.mu.Unlock()
		if isRTP {
			p.rtp.Add(1)
		}
		select {
		case p.more <- struct{}{}:
		default:
		}
	}
}

// Conn is the peer's socket, for writes a test shapes itself.
func (p *Peer) Conn() *net.UDPConn { return p.conn }

// Port is the peer's local port.
func (p *Peer) Port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

// Addr is the peer's local address.
func (p *Peer) Addr() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(p.Port()))
}

// Offer is a minimal PCMU offer for the peer's port (set Session, Formats,
// Attrs on the result as the test needs).
func (p *Peer) Offer() Offer { return Offer{Session: 1, Port: p.Port()} }

// Send sends b to to.
func (p *Peer) Send(to netip.AddrPort, b []byte) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatalf("peer :%d send to %v: %v", p.Port(), to, err)
	}
}

// SendPort sends b to port on 127.0.0.1.
func (p *Peer) SendPort(port int, b []byte) {
	p.t.Helper()
	p.Send(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)), b)
}

// SendRTP sends n PCMU packets, 2 ms apart, whose payload is filled with
// mark and whose SSRC is mark*1000, so the receiver can tell whose audio it
// got.
func (p *Peer) SendRTP(to netip.AddrPort, n int, mark byte) {
	p.t.Helper()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: uint32(mark) * 1000}, Payload: bytes.Repeat([]byte{mark}, rtpFrameBytes)}
	for i := 0; i < n; i++ {
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i * rtpFrameBytes)
		raw, err := pkt.Marshal()
		if err != nil {
			p.t.Fatal(err)
		}
		p.Send(to, raw)
		time.Sleep(2 * time.Millisecond)
	}
}

// Recv is the next unread datagram, waiting at most RecvTimeout.
func (p *Peer) Recv() Datagram {
	p.t.Helper()
	d, ok := p.Next(RecvTimeout)
	if !ok {
		p.t.Fatalf("peer :%d expected a packet within %v", p.Port(), RecvTimeout)
	}
	return d
}

// Next is the next unread datagram, waiting at most wait; ok is false when
// none came.
func (p *Peer) Next(wait time.Duration) (d Datagram, ok bool) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if len(p.unread) > 0 {
			d = p.unread[0]
			p.unread = p.unread[1:]
			p.mu.Unlock()
			return d, true
		}
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-timer.C:
			return Datagram{}, false
		}
	}
}

// ExpectNothing fails the test when a datagram is unread or arrives within
// QuietPeriod. Use it after a packet that would have been sent after the
// unwanted one has arrived, so the short wait is not a race.
func (p *Peer) ExpectNothing() {
	p.t.Helper()
	if d, ok := p.Next(QuietPeriod); ok {
		p.t.Fatalf("peer :%d got an unexpected %d-byte packet from %v: %x", p.Port(), len(d.Data), d.From, d.Data)
	}
}

// Received is how many RTP packets arrived.
func (p *Peer) Received() int64 { return p.rtp.Load() }

// WaitReceived waits (at most RecvTimeout) until at least atLeast RTP
// packets arrived, failing the test otherwise.
func (p *Peer) WaitReceived(atLeast int64) {
	p.t.Helper()
	deadline := time.Now().Add(RecvTimeout)
	for time.Now().Before(deadline) && p.rtp.Load() < atLeast {
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.rtp.Load(); got < atLeast {
		p.t.Fatalf("rtp peer received %d packets, want >= %d", got, atLeast)
	}
}

// Saw reports whether an RTP packet whose payload starts with mark arrived.
func (p *Peer) Saw(mark byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.marks[mark]
}

// Sources are the addresses RTP came from, with how many packets each sent.
func (p *Peer) Sources() map[netip.AddrPort]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[netip.AddrPort]int64, len(p.sources))
	for a, n := range p.sources {
		out[a] = n
	}
	return out
}

// LastFrom is where the latest RTP packet came from (invalid before any).
func (p *Peer) LastFrom() netip.AddrPort {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}
