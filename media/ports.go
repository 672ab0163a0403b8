package media

import (
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
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

	// strays are the sources heard on the pair while no call held it. The
	// next call never learns them as a party's address (see sourceCheck).
	// Only whoever holds the pair touches them: the pool (under its lock),
	// the acquirer draining it, then the session's forwarding goroutines,
	// which only read.
	strays strays

	since time.Time // when it joined its rest queue; guarded by portPool.mu
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

// errStillReceiving is a drain that found more than maxDrain datagrams.
var errStillReceiving = errors.New("socket still receiving")

// reuse readies an idle pair for a new session: whatever datagrams arrived
// since its last call ended are still queued in the socket buffers and are
// discarded here, before any forwarding goroutine reads, their sources noted
// as strays. It returns how many were discarded.
func (p *portPair) reuse(scratch []byte) (int, error) {
	p.stop.Store(false)
	total := 0
	for k, c := range [2]*net.UDPConn{p.rtp, p.rtcp} {
		// The deadline Session.Close set would also stop the raw read.
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			return total, fmt.Errorf("clear read deadline of port %d: %w", p.port+k, err)
		}
		n, err := p.dr.drain(p.raw[k], scratch, &p.strays)
		total += n
		if err != nil {
			return total, fmt.Errorf("drain port %d: %w", p.port+k, err)
		}
	}
	return total, nil
}

// maxStrays bounds the stray sources a pair remembers. A previous call's
// parties are two, a scanner one; past the bound the rest of a crowd is
// left to the learning rules alone.
const maxStrays = 8

// strays is a small set of source addresses, kept without allocation.
type strays struct {
	addr [maxStrays]netip.AddrPort
	n    int
}

func (s *strays) add(a netip.AddrPort) {
	if s.n < len(s.addr) && !s.has(a) {
		s.addr[s.n] = a
		s.n++
	}
}

func (s *strays) has(a netip.AddrPort) bool {
	for i := 0; i < s.n; i++ {
		if s.addr[i] == a {
			return true
		}
	}
	return false
}

func (s *strays) full() bool { return s.n == len(s.addr) }

// minRest is how long a released pair waits before it is handed out again
// if the range has an unbound pair to offer instead: the parties of the old
// call may go on sending for a moment after it ended, and a pair that rests
// gets their late packets discarded instead of handed to a new call.
const minRest = 4 * time.Second

// quietProbe is how long a pair that was found receiving when it was about
// to be handed out waits before it is looked at again. It is handed out
// only once nothing arrived in a whole probe: a live stream sends every
// 20-60 ms, comfort noise every few hundred.
const quietProbe = time.Second

// maxRest is how long a pair stays bound unused: a pool grown for a burst
// of calls gives its sockets back once the burst is over.
const maxRest = time.Minute

// portPool hands out port pairs from a range. Released pairs stay bound and
// rest in a queue, so a call usually costs no bind, close or poller
// registration. The pair handed out is drawn at random among those that
// have rested minRest; only when none has does the pool grow, binding a
// pair drawn at random among the unbound ones (skipping ports other sockets
// hold), so it binds about what the call rate needs and the next call's
// ports cannot be told from the last one's.
//
// A pair that received datagrams while it rested is still reached by
// someone (a caller streaming after its call ended, a scanner): it rests on
// in the probation queue until it has been quiet for quietProbe. Only when
// the range has nothing else is the oldest resting pair handed out anyway,
// its senders marked as strays that the new call never latches; refusing
// calls instead would let anyone who sprays the range shut the relay down.
//
// Pairs unused for maxRest are closed. The pool's lock guards its queues
// only: binding, draining and closing sockets happen outside it.
type portPool struct {
	ip      netip.Addr
	log     zerolog.Logger
	maxIdle int           // pairs kept bound at rest; beyond that a released pair is closed
	minRest time.Duration // the constants, shorter in tests
	quiet   time.Duration
	maxRest time.Duration
	total   int // pairs in the range
	// bind is bindPair; tests make it slow to show the lock is not held.
	bind func(ip netip.Addr, port int) (*portPair, error)

	mu        sync.Mutex
	rng       *rand.Rand
	unbound   []int     // RTP ports not bound, in no order
	idle      restQueue // released pairs
	probation restQueue // pairs found receiving when about to be handed out
	out       int       // pairs handed out or being readied
	closed    bool
}

func newPortPool(ip netip.Addr, min, max int, log zerolog.Logger) *portPool {
	first := min + min%2 // RTP on even ports
	var ports []int
	for p := first; p+1 <= max; p += 2 {
		ports = append(ports, p)
	}
	var seed [32]byte
	crand.Read(seed[:]) // never fails (crypto/rand since Go 1.24)
	return &portPool{
		ip: ip, log: log, total: len(ports),
		maxIdle: idleBudget(len(ports), openFileLimit()),
		minRest: minRest, quiet: quietProbe, maxRest: maxRest, bind: bindPair,
		rng:     rand.New(rand.NewChaCha8(seed)),
		unbound: ports, idle: newRestQueue(len(ports)), probation: newRestQueue(len(ports)),
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

// bound counts the pairs bound, resting or handed out.
func (pp *portPool) bound() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.idle.n + pp.probation.n + pp.out
}

// choice is what acquire took under the lock: a resting pair to ready, or
// an unbound port to bind.
type choice struct {
	pair *portPair
	port int
	// last: nothing better was left, so the pair is handed out even if it
	// is still receiving.
	last bool
}

var errNoPair = errors.New("no pair left")

// acquire hands out a pair: a rested one that has been quiet, else a newly
// bound one, else the oldest resting one. A port another socket holds is
// left out of the draw until this acquire returns.
func (pp *portPool) acquire() (*portPair, error) {
	var held []int // ports that would not bind
	var lastErr error
	defer func() {
		if len(held) > 0 {
			pp.mu.Lock()
			pp.unbound = append(pp.unbound, held...)
			pp.mu.Unlock()
		}
	}()
	bufp := packetBufs.Get().(*[maxPacket]byte)
	defer packetBufs.Put(bufp)
	// Every turn takes a pair or port out of the draw for a while (to
	// probation, or held), so the loop ends; the bound is for a pool whose
	// quiet probe is zero (tests), where the oldest is then taken as is.
	for turn := 0; ; turn++ {
		c, expired, err := pp.choose(turn > pp.total)
		pp.retire(expired)
		if errors.Is(err, errNoPair) {
			if len(held) > 0 {
				return nil, fmt.Errorf("%w: %d pairs in use here, the other %d could not be bound (held by other sockets?): %w",
					ErrPortsExhausted, pp.inUse()/2, len(held), lastErr)
			}
			return nil, fmt.Errorf("%w: all %d pairs in use", ErrPortsExhausted, pp.total)
		}
		if err != nil {
			return nil, err
		}
		if c.pair == nil {
			p, err := pp.bind(pp.ip, c.port)
			if err == nil {
				return p, nil
			}
			pp.giveUp(nil)
			held = append(held, c.port)
			lastErr = err
			pp.log.Debug().Err(err).Int("port", c.port).Msg("relay port pair held elsewhere, trying another")
			continue
		}
		if p := pp.ready(c, bufp[:]); p != nil {
			return p, nil
		}
	}
}

// choose takes, under the lock, what acquire tries next. It also takes out
// the pairs that rested maxRest, for the caller to close.
func (pp *portPool) choose(oldest bool) (choice, []*portPair, error) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.closed {
		return choice{}, nil, fmt.Errorf("relay closed: %w", ErrSessionClosed)
	}
	now := time.Now()
	expired := pp.expired(now)
	if !oldest {
		rested := pp.idle.count(now.Add(-pp.minRest))
		probed := pp.probation.count(now.Add(-pp.quiet))
		if n := rested + probed; n > 0 {
			pp.out++
			i := pp.rng.IntN(n)
			if i < rested {
				return choice{pair: pp.idle.take(i)}, expired, nil
			}
			return choice{pair: pp.probation.take(i - rested)}, expired, nil
		}
		if n := len(pp.unbound); n > 0 {
			i := pp.rng.IntN(n)
			port := pp.unbound[i]
			pp.unbound[i] = pp.unbound[n-1]
			pp.unbound = pp.unbound[:n-1]
			pp.out++
			return choice{port: port}, expired, nil
		}
	}
	for _, q := range []*restQueue{&pp.idle, &pp.probation} {
		if q.n > 0 {
			pp.out++
			return choice{pair: q.take(0), last: true}, expired, nil
		}
	}
	return choice{}, expired, errNoPair
}

// ready drains a resting pair taken by choose and returns it, or nil if it
// went back to rest (still receiving) or could not be readied.
func (pp *portPool) ready(c choice, scratch []byte) *portPair {
	p := c.pair
	n, err := p.reuse(scratch)
	receiving := n > 0 || errors.Is(err, errStillReceiving)
	switch {
	case err == nil && (n == 0 || c.last):
		if n > 0 {
			pp.log.Debug().Int("port", p.port).Int("datagrams", n).Int("strays", p.strays.n).
				Msg("relay range used up: handing out a pair still receiving; its senders are never latched")
		}
		return p
	case receiving && !c.last:
		pp.log.Debug().Int("port", p.port).Int("datagrams", n).Msg("relay port pair still receiving; it rests on")
		pp.giveUp(p)
		return nil
	}
	// Flooded with nothing else left, or broken: a new socket starts empty.
	pp.log.Debug().Err(err).Int("port", p.port).Msg("relay port pair not reusable, binding it again")
	p.close()
	fresh, err := pp.bind(pp.ip, p.port)
	if err != nil {
		pp.mu.Lock()
		pp.out--
		pp.unbound = append(pp.unbound, p.port)
		pp.mu.Unlock()
		return nil
	}
	fresh.strays = p.strays
	return fresh
}

// giveUp undoes a choice: the pair (nil for an unbound port) goes on
// probation, or is closed if the pool closed meanwhile.
func (pp *portPool) giveUp(p *portPair) {
	pp.mu.Lock()
	pp.out--
	if p == nil || pp.closed {
		pp.mu.Unlock()
		if p != nil {
			pp.retire([]*portPair{p})
		}
		return
	}
	p.since = time.Now()
	pp.probation.push(p)
	pp.mu.Unlock()
}

// expired takes out the pairs that have rested maxRest.
func (pp *portPool) expired(now time.Time) []*portPair {
	var out []*portPair
	for _, q := range []*restQueue{&pp.idle, &pp.probation} {
		for q.n > 0 && now.Sub(q.at(0).since) >= pp.maxRest {
			out = append(out, q.take(0))
		}
	}
	return out
}

// retire closes pairs taken out of the pool and makes their ports
// available again.
func (pp *portPool) retire(pairs []*portPair) {
	if len(pairs) == 0 {
		return
	}
	for _, p := range pairs {
		p.close()
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for _, p := range pairs {
		pp.unbound = append(pp.unbound, p.port)
	}
}

// release takes back a pair no goroutine reads any more.
func (pp *portPool) release(p *portPair) {
	pp.mu.Lock()
	pp.out--
	now := time.Now()
	done := pp.expired(now)
	if pp.closed || pp.idle.n+pp.probation.n >= pp.maxIdle {
		done = append(done, p)
	} else {
		p.since = now
		p.strays = strays{}
		pp.idle.push(p)
	}
	pp.mu.Unlock()
	pp.retire(done)
}

// close closes the resting pairs and makes release close the rest.
func (pp *portPool) close() {
	pp.mu.Lock()
	pp.closed = true
	var done []*portPair
	for _, q := range []*restQueue{&pp.idle, &pp.probation} {
		for q.n > 0 {
			done = append(done, q.take(0))
		}
	}
	pp.mu.Unlock()
	pp.retire(done)
}

// restQueue holds resting pairs in the order they joined (by since), in a
// ring sized for the whole range.
type restQueue struct {
	ring    []*portPair
	head, n int
}

func newRestQueue(size int) restQueue { return restQueue{ring: make([]*portPair, size)} }

func (q *restQueue) at(i int) *portPair { return q.ring[(q.head+i)%len(q.ring)] }

func (q *restQueue) push(p *portPair) {
	q.ring[(q.head+q.n)%len(q.ring)] = p
	q.n++
}

// take removes the i-th oldest pair. The oldest takes its place, which
// keeps the queue a ring; it may then sit behind younger pairs, which only
// matters to count and expired while i lies within the pairs count found
// old enough, and those stay old enough.
func (q *restQueue) take(i int) *portPair {
	head := q.head
	j := (head + i) % len(q.ring)
	p := q.ring[j]
	q.ring[j] = q.ring[head]
	q.ring[head] = nil
	q.head = (head + 1) % len(q.ring)
	q.n--
	return p
}

// count is how many pairs, from the oldest on, joined at or before cutoff.
func (q *restQueue) count(cutoff time.Time) int {
	return sort.Search(q.n, func(i int) bool { return q.at(i).since.After(cutoff) })
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
