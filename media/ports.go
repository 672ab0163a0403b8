package media

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// portPair is a bound RTP socket on an even port and its RTCP socket on the
// next port. It stays bound across calls: the pool takes it back when a
// session closes and hands it out again later.
type portPair struct {
	port int // RTP port; RTCP is port+1
	rtp  *net.UDPConn
	rtcp *net.UDPConn
	raw  [2]syscall.RawConn // by kind, to drain without the runtime poller
	dr   drainer

	// stop tells the forwarding goroutines of the session holding the pair
	// to return instead of reading again. Set before their reads are cut
	// short, cleared when the pair is handed out again (when no goroutine
	// reads it).
	stop atomic.Bool
}

func (p *portPair) conn(k kind) *net.UDPConn {
	if k == kindRTCP {
		return p.rtcp
	}
	return p.rtp
}

func (p *portPair) close() {
	p.rtp.Close()
	p.rtcp.Close()
}

// longAgo is a read deadline already past: a blocked read returns at once.
var longAgo = time.Unix(1, 0)

// interrupt makes the forwarding goroutines reading the pair return: the
// one blocked in a read is woken by the past deadline, the one busy with a
// packet sees stop before its next read.
func (p *portPair) interrupt() {
	p.stop.Store(true)
	p.rtp.SetReadDeadline(longAgo)
	p.rtcp.SetReadDeadline(longAgo)
}

// maxDrain bounds the datagrams discarded per socket when a pair is handed
// out again. A socket buffer holds a few hundred at most; more means
// someone is still sending and the pair is rebound instead.
const maxDrain = 4096

// reuse readies an idle pair for a new session: whatever datagrams the
// previous call's parties sent after it ended are still queued in the socket
// buffers and are discarded here, before any forwarding goroutine reads. It
// returns how many were discarded.
func (p *portPair) reuse(scratch []byte) (int, error) {
	p.stop.Store(false)
	total := 0
	for k, c := range [2]*net.UDPConn{p.rtp, p.rtcp} {
		// The deadline Session.Close set would also stop the raw read.
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			return total, fmt.Errorf("clear read deadline of port %d: %w", p.port+k, err)
		}
		n, err := p.dr.drain(p.raw[k], scratch)
		total += n
		if err != nil {
			return total, fmt.Errorf("drain port %d: %w", p.port+k, err)
		}
	}
	return total, nil
}

// portPool hands out port pairs from a range. Free pairs wait in a FIFO ring,
// so a released pair goes to the back and is the last to be handed out
// again: late packets of an old call do not land in a new one. Released
// pairs stay bound (up to maxIdle of them), so a call costs no bind, close
// or poller registration once the pool has warmed up.
type portPool struct {
	ip      netip.Addr
	log     zerolog.Logger
	first   int // RTP port of ring slot 0
	maxIdle int // bound pairs kept while free; beyond that a released pair is closed

	mu      sync.Mutex
	ring    []int // free RTP ports; ring[head] is handed out next
	head    int
	free    int
	idle    []*portPair // bound free pairs by (port-first)/2; nil: not bound
	nIdle   int
	closed  bool
	scratch []byte // drain buffer, guarded by mu
}

func newPortPool(ip netip.Addr, min, max int, log zerolog.Logger) *portPool {
	first := min + min%2 // RTP on even ports
	var ring []int
	for p := first; p+1 <= max; p += 2 {
		ring = append(ring, p)
	}
	pp := &portPool{ip: ip, log: log, first: first, ring: ring, free: len(ring),
		idle: make([]*portPair, len(ring)), scratch: make([]byte, maxPacket)}
	pp.maxIdle = idleBudget(len(ring), openFileLimit())
	return pp
}

// idleBudget is how many free pairs may stay bound: all of them, unless the
// range's sockets would take more than half the process's file descriptors
// (limit < 0: unknown, no cap).
func idleBudget(pairs int, limit int) int {
	if limit < 0 || 4*pairs <= limit {
		return pairs
	}
	return limit / 4
}

func (pp *portPool) pairs() int { return len(pp.ring) }

// inUse counts the ports (not pairs) handed out.
func (pp *portPool) inUse() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return 2 * (len(pp.ring) - pp.free)
}

// bound counts the pairs bound, free or handed out.
func (pp *portPool) bound() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.nIdle + len(pp.ring) - pp.free
}

// acquire hands out the next free pair, binding it if it is not bound yet. A
// pair another process holds goes back to the end of the queue and the next
// one is tried, once round the ring at most.
func (pp *portPool) acquire() (*portPair, error) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.closed {
		return nil, fmt.Errorf("relay closed: %w", ErrSessionClosed)
	}
	busy := 0
	var lastErr error
	for tries := pp.free; tries > 0; tries-- {
		port := pp.pop()
		pair, err := pp.take(port)
		if err == nil {
			return pair, nil
		}
		pp.push(port)
		busy++
		lastErr = err
		pp.log.Debug().Err(err).Int("port", port).Msg("relay port pair held elsewhere, trying the next")
	}
	if busy > 0 {
		return nil, fmt.Errorf("%w: %d pairs in use here, the other %d could not be bound (held by other sockets?): %w",
			ErrPortsExhausted, len(pp.ring)-pp.free, busy, lastErr)
	}
	return nil, fmt.Errorf("%w: all %d pairs in use", ErrPortsExhausted, len(pp.ring))
}

// take readies the pair on port, reusing its sockets when they are still
// bound. A pair that cannot be drained (still flooded, or broken) is closed
// and bound afresh: a new socket holds nothing of the old call.
func (pp *portPool) take(port int) (*portPair, error) {
	slot := (port - pp.first) / 2
	if p := pp.idle[slot]; p != nil {
		pp.idle[slot] = nil
		pp.nIdle--
		n, err := p.reuse(pp.scratch)
		if err == nil {
			if n > 0 {
				pp.log.Debug().Int("port", port).Int("datagrams", n).Msg("discarded datagrams of a previous call")
			}
			return p, nil
		}
		pp.log.Debug().Err(err).Int("port", port).Msg("relay port pair not reusable, binding it again")
		p.close()
	}
	return bindPair(pp.ip, port)
}

// release takes back a pair no goroutine reads any more.
func (pp *portPool) release(p *portPair) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.push(p.port)
	if pp.closed || pp.nIdle >= pp.maxIdle {
		p.close()
		return
	}
	pp.idle[(p.port-pp.first)/2] = p
	pp.nIdle++
}

// close closes the free pairs and makes release close the rest.
func (pp *portPool) close() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.closed = true
	for i, p := range pp.idle {
		if p != nil {
			p.close()
			pp.idle[i] = nil
		}
	}
	pp.nIdle = 0
}

func (pp *portPool) pop() int {
	port := pp.ring[pp.head]
	pp.head = (pp.head + 1) % len(pp.ring)
	pp.free--
	return port
}

func (pp *portPool) push(port int) {
	pp.ring[(pp.head+pp.free)%len(pp.ring)] = port
	pp.free++
}

func udpNetwork(ip netip.Addr) string {
	if ip.Is4() {
		return "udp4"
	}
	return "udp6"
}

func bindPair(ip netip.Addr, port int) (*portPair, error) {
	network := udpNetwork(ip)
	rtp, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	if err != nil {
		return nil, fmt.Errorf("bind RTP port %d: %w", port, err)
	}
	rtcp, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port+1))))
	if err != nil {
		rtp.Close()
		return nil, fmt.Errorf("bind RTCP port %d: %w", port+1, err)
	}
	p := &portPair{port: port, rtp: rtp, rtcp: rtcp}
	p.dr.init()
	for k, c := range [2]*net.UDPConn{rtp, rtcp} {
		if p.raw[k], err = c.SyscallConn(); err != nil {
			p.close()
			return nil, fmt.Errorf("port %d: %w", port+k, err)
		}
	}
	return p, nil
}
