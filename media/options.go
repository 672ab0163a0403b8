package media

import (
	"net/netip"

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
