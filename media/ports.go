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

	released time.Time // when the pool took it back; guarded by portPool.mu
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

// minRest is how long a released pair waits before it is handed out again
// if the range has an unbound pair to offer instead: the parties of the old
// call may go on sending for a moment after it ended, and a pair that rests
// gets their late packets discarded instead of handed to a new call.
const minRest = 4 * time.Second

// maxRest is how long a released pair stays bound unused: a pool grown for
// a burst of calls gives its sockets back once the burst is over.
const maxRest = time.Minute

// portPool hands out port pairs from a range. Released pairs stay bound and
// wait in a FIFO queue, so the pair handed out again is the one that has
// rested longest, and a call costs no bind, close or poller registration.
// The pool grows (binding pairs from the range in order, skipping ports
// other sockets hold) only while the oldest released pair has rested less
// than minRest, so it binds about what the call rate needs, not the whole
// range; once the range is used up the oldest pair is reused regardless.
// Pairs unused for maxRest are closed (checked on acquire and release).
type portPool struct {
	ip      netip.Addr
	log     zerolog.Logger
	maxIdle int           // released pairs kept bound; beyond that a released pair is closed
	minRest time.Duration // the constants, shorter in tests
	maxRest time.Duration
	total   int // pairs in the range

	mu       sync.Mutex
	unbound  []int // RTP ports not bound; unbound[head] is bound next
	head     int
	nUnbound int
	idle     []*portPair // released bound pairs, FIFO: idle[idleHead] rested longest
	idleHead int
	nIdle    int
	out      int // pairs handed out
	closed   bool
	scratch  []byte // drain buffer
}

func newPortPool(ip netip.Addr, min, max int, log zerolog.Logger) *portPool {
	first := min + min%2 // RTP on even ports
	var ports []int
	for p := first; p+1 <= max; p += 2 {
		ports = append(ports, p)
	}
	return &portPool{
		ip: ip, log: log, total: len(ports),
		maxIdle: idleBudget(len(ports), openFileLimit()), minRest: minRest, maxRest: maxRest,
		unbound: ports, nUnbound: len(ports), idle: make([]*portPair, len(ports)),
		scratch: make([]byte, maxPacket),
	}
}

// idleBudget is how many released pairs may stay bound: all of them, unless
// the range's sockets would take more than half the process's file
// descriptors (limit < 0: unknown, no cap).
func idleBudget(pairs int, limit int) int {
	if limit < 0 || 4*pairs <= limit {
		return pairs
	}
	return limit / 4
}

func (pp *portPool) pairs() int { return pp.total }

// inUse counts the ports (not pairs) handed out.
func (pp *portPool) inUse() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return 2 * pp.out
}

// bound counts the pairs bound, released or handed out.
func (pp *portPool) bound() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.nIdle + pp.out
}

// acquire hands out the released pair that rested longest if it rested
// minRest, else binds the next unbound pair of the range, else reuses the
// oldest released pair anyway. A pair another socket holds goes back to the
// end of the unbound queue and the next one is tried, once round at most.
func (pp *portPool) acquire() (*portPair, error) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.closed {
		return nil, fmt.Errorf("relay closed: %w", ErrSessionClosed)
	}
	pp.trim()
	if pp.nIdle > 0 && time.Since(pp.idle[pp.idleHead].released) >= pp.minRest {
		if p := pp.reuseOldest(); p != nil {
			return p, nil
		}
	}
	busy := 0
	var lastErr error
	for tries := pp.nUnbound; tries > 0; tries-- {
		port := pp.popUnbound()
		p, err := bindPair(pp.ip, port)
		if err == nil {
			pp.out++
			return p, nil
		}
		pp.pushUnbound(port)
		busy++
		lastErr = err
		pp.log.Debug().Err(err).Int("port", port).Msg("relay port pair held elsewhere, trying the next")
	}
	if p := pp.reuseOldest(); p != nil {
		return p, nil
	}
	if busy > 0 {
		return nil, fmt.Errorf("%w: %d pairs in use here, the other %d could not be bound (held by other sockets?): %w",
			ErrPortsExhausted, pp.out, busy, lastErr)
	}
	return nil, fmt.Errorf("%w: all %d pairs in use", ErrPortsExhausted, pp.total)
}

// reuseOldest readies the released pair that rested longest, or returns
// nil if none is left. A pair that cannot be drained (still flooded, or
// broken) is closed and bound afresh: a new socket holds nothing of the old
// call. If even that fails its port joins the unbound queue.
func (pp *portPool) reuseOldest() *portPair {
	for pp.nIdle > 0 {
		p := pp.popIdle()
		n, err := p.reuse(pp.scratch)
		if err == nil {
			if n > 0 {
				pp.log.Debug().Int("port", p.port).Int("datagrams", n).Msg("discarded datagrams of a previous call")
			}
			pp.out++
			return p
		}
		pp.log.Debug().Err(err).Int("port", p.port).Msg("relay port pair not reusable, binding it again")
		p.close()
		if fresh, err := bindPair(pp.ip, p.port); err == nil {
			pp.out++
			return fresh
		}
		pp.pushUnbound(p.port)
	}
	return nil
}

// trim closes the released pairs that have rested maxRest, oldest first.
func (pp *portPool) trim() {
	for pp.nIdle > 0 && time.Since(pp.idle[pp.idleHead].released) >= pp.maxRest {
		p := pp.popIdle()
		p.close()
		pp.pushUnbound(p.port)
	}
}

func (pp *portPool) popIdle() *portPair {
	p := pp.idle[pp.idleHead]
	pp.idle[pp.idleHead] = nil
	pp.idleHead = (pp.idleHead + 1) % len(pp.idle)
	pp.nIdle--
	return p
}

// release takes back a pair no goroutine reads any more.
func (pp *portPool) release(p *portPair) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.out--
	pp.trim()
	if pp.closed || pp.nIdle >= pp.maxIdle {
		p.close()
		pp.pushUnbound(p.port)
		return
	}
	p.released = time.Now()
	pp.idle[(pp.idleHead+pp.nIdle)%len(pp.idle)] = p
	pp.nIdle++
}

// close closes the released pairs and makes release close the rest.
func (pp *portPool) close() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.closed = true
	for pp.nIdle > 0 {
		p := pp.popIdle()
		p.close()
		pp.pushUnbound(p.port)
	}
}

func (pp *portPool) popUnbound() int {
	port := pp.unbound[pp.head]
	pp.head = (pp.head + 1) % len(pp.unbound)
	pp.nUnbound--
	return port
}

func (pp *portPool) pushUnbound(port int) {
	pp.unbound[(pp.head+pp.nUnbound)%len(pp.unbound)] = port
	pp.nUnbound++
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
