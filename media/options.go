package media

import (
	"net/netip"
	"time"

	"github.com/rs/zerolog"
)

// Option configures a Relay.
type Option func(*Relay)

// WithLogger sets the logger for relay-wide events (ports held elsewhere,
// Close). Per-call events go to the logger passed to NewSession.
func WithLogger(log zerolog.Logger) Option {
	return func(r *Relay) { r.log = log }
}

// WithAdvertiseIP puts ip into SDP instead of Config.IP: for a relay bound to
// a private or wildcard address behind a 1:1 NAT.
func WithAdvertiseIP(ip netip.Addr) Option {
	return func(r *Relay) { r.advertise = ip }
}

// DefaultLearningWindow is how long after a side's SDP is set or changes
// the relay may latch that side on a source other than the SDP's address.
const DefaultLearningWindow = 3 * time.Second

// WithLearningWindow sets how long after a side's SDP is set or changes (and
// that side has been told its relay port) a packet from an address the SDP
// does not name may still become that side's source: the party behind NAT,
// whose packets come from its router's public address. Later, only the SDP
// address can latch, and once latched nothing else is accepted. Zero turns
// learning off: only SDP addresses are ever accepted. Default
// DefaultLearningWindow; negative is refused by NewRelay.
func WithLearningWindow(d time.Duration) Option {
	return func(r *Relay) { r.window = d }
}
