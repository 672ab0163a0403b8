package media

import "errors"

var (
	// ErrMalformedSDP wraps every SDP parse error; the signalling layer
	// answers it with 488 Not Acceptable Here.
	ErrMalformedSDP = errors.New("malformed SDP")
	// ErrPortsExhausted means no free RTP/RTCP port pair is left in the
	// configured range (503 territory).
	ErrPortsExhausted = errors.New("relay port range exhausted")
	// ErrSessionClosed is returned by Rewrite after Close (or Relay.Close).
	ErrSessionClosed = errors.New("media session closed")
)
