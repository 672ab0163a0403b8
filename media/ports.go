package media

import (
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/rs/zerolog"
)

// portPair is a bound RTP socket on an even port and its RTCP socket on the
// next port.
type portPair struct {
	port int // RTP port; RTCP is port+1
	rtp  *net.UDPConn
	rtcp *net.UDPConn
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

// portPool hands out port pairs from a range. Free pairs wait in a FIFO ring,
// so a released pair goes to the back and is the last to be handed out
// again: late packets of an old call do not land in a new one.
type portPool struct {
	ip  netip.Addr
	log zerolog.Logger

	mu   sync.Mutex
	ring []int // free RTP ports; ring[head] is handed out next
	head int
	free int
}

func newPortPool(ip netip.Addr, min, max int, log zerolog.Logger) *portPool {
	first := min + min%2 // RTP on even ports
	var ring []int
	for p := first; p+1 <= max; p += 2 {
		ring = append(ring, p)
	}
	return &portPool{ip: ip, log: log, ring: ring, free: len(ring)}
}

func (pp *portPool) pairs() int { return len(pp.ring) }

// inUse counts the ports (not pairs) handed out.
func (pp *portPool) inUse() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return 2 * (len(pp.ring) - pp.free)
}

// acquire binds the next free pair. A pair another process holds goes back to
// the end of the queue and the next one is tried, once round the ring at most.
func (pp *portPool) acquire() (*portPair, error) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	busy := 0
	var lastErr error
	for tries := pp.free; tries > 0; tries-- {
		port := pp.pop()
		pair, err := bindPair(pp.ip, port)
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

// release returns a pair whose sockets are closed.
func (pp *portPool) release(port int) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.push(port)
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
	return &portPair{port: port, rtp: rtp, rtcp: rtcp}, nil
}
