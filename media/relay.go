package media

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Config is where the relay binds and which ports it may use.
type Config struct {
	IP      netip.Addr // address the relay binds to and advertises in SDP (c=, o=)
	PortMin int        // RTP port range, inclusive; RTP on even ports, RTCP on RTP+1
	PortMax int
}

// Relay owns the port range and the live sessions.
type Relay struct {
	cfg       Config
	advertise netip.Addr
	window    time.Duration // learning window
	log       zerolog.Logger
	ports     *portPool

	mu       sync.Mutex
	sessions map[*Session]struct{}
	closed   bool
	// ended sums the traffic of the sessions that have closed (Stats).
	ended Stats
}

// NewRelay checks cfg and returns a relay; it binds nothing until a Session
// needs ports.
func NewRelay(cfg Config, opts ...Option) (*Relay, error) {
	r := &Relay{cfg: cfg, window: DefaultLearningWindow, log: zerolog.Nop(), sessions: make(map[*Session]struct{})}
	for _, o := range opts {
		o(r)
	}
	if !cfg.IP.IsValid() {
		return nil, fmt.Errorf("media: relay IP not set")
	}
	if cfg.IP.Zone() != "" || cfg.IP.Is4In6() {
		return nil, fmt.Errorf("media: relay IP %s: use a plain IPv4 or IPv6 address without zone", cfg.IP)
	}
	if !r.advertise.IsValid() {
		r.advertise = cfg.IP
	}
	if r.advertise.IsUnspecified() || r.advertise.Zone() != "" || r.advertise.Is4In6() {
		return nil, fmt.Errorf("media: cannot advertise %s in SDP: bind a concrete address or use WithAdvertiseIP", r.advertise)
	}
	if r.window < 0 {
		return nil, fmt.Errorf("media: learning window %s is negative", r.window)
	}
	if cfg.PortMin < 1 || cfg.PortMax > 65535 || cfg.PortMin > cfg.PortMax {
		return nil, fmt.Errorf("media: port range %d-%d: need 1 <= PortMin <= PortMax <= 65535", cfg.PortMin, cfg.PortMax)
	}
	// An address that is not this host's would otherwise fail every bind of
	// the range on the first call.
	probe, err := net.ListenUDP(udpNetwork(cfg.IP), net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.IP, 0)))
	if err != nil {
		return nil, fmt.Errorf("media: relay IP %s cannot be bound: %w", cfg.IP, err)
	}
	probe.Close()
	r.ports = newPortPool(cfg.IP, cfg.PortMin, cfg.PortMax, r.log)
	if r.ports.pairs() == 0 {
		return nil, fmt.Errorf("media: port range %d-%d holds no even/odd RTP/RTCP pair", cfg.PortMin, cfg.PortMax)
	}
	r.log.Debug().Stringer("ip", cfg.IP).Stringer("advertise", r.advertise).
		Int("port_min", cfg.PortMin).Int("port_max", cfg.PortMax).Int("pairs", r.ports.pairs()).
		Dur("learning_window", r.window).
		Msg("media relay ready")
	return r, nil
}

// NewSession starts the media of one call. log should carry the call's IDs.
// After Close the session is born closed and its Rewrite fails.
func (r *Relay) NewSession(log zerolog.Logger) *Session {
	s := newSession(r, log)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		s.closed = true
		return s
	}
	r.sessions[s] = struct{}{}
	return s
}

// Calls is how many one-stream calls the relay's port range carries at
// once: each takes a pair (RTP and RTCP) facing each side.
func (r *Relay) Calls() int { return r.ports.pairs() / 2 }

// PortsInUse counts the ports held by live sessions (RTP and RTCP, two per
// pair). Ports kept bound between calls are not counted.
func (r *Relay) PortsInUse() int { return r.ports.inUse() }

// Close closes every live session and every relay socket, and refuses new
// sessions.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	live := make([]*Session, 0, len(r.sessions))
	for s := range r.sessions {
		live = append(live, s)
	}
	r.mu.Unlock()
	for _, s := range live {
		s.Close()
	}
	r.ports.close()
	r.log.Debug().Int("sessions", len(live)).Msg("media relay closed")
	return nil
}

func (r *Relay) forget(s *Session) {
	st := s.Stats() // final: the session's readers have stopped
	r.mu.Lock()
	delete(r.sessions, s)
	r.ended.add(st)
	r.mu.Unlock()
}

// Stats is the traffic of every session since the relay started, closed
// and live, each direction. It reads every live session's counters: for a
// scrape every few seconds, not for a hot path.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	total := r.ended
	live := make([]*Session, 0, len(r.sessions))
	for s := range r.sessions {
		live = append(live, s)
	}
	r.mu.Unlock()
	for _, s := range live {
		total.add(s.Stats())
	}
	return total
}
