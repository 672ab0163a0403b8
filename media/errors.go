package media

import "errors"

var (
	// ErrMalformedSDP wraps every SDP parse error; the signalling layer
	// answers it with 488 Not Acceptable Here.
	ErrMalformedSDP = errors.New("malformed SDP")
	// ErrUnsupportedMedia means a well-formed SDP whose every stream is one
	// the relay cannot carry: DTLS-SRTP, SRTP without an SDES key, RTP over
	// TCP, T.38/UDPTL and other non-RTP transports, media of the address
	// family the relay does not have, or a media type or transport it does
	// not know. The signalling layer answers it with 488 as well; the detail
	// says which stream and why.
	ErrUnsupportedMedia = errors.New("media the relay cannot carry")
	// ErrPortsExhausted means no free RTP/RTCP port pair is left in the
	// configured range (503 territory).
	ErrPortsExhausted = errors.New("relay port range exhausted")
	// ErrSessionClosed is returned by Rewrite after Close (or Relay.Close).
	ErrSessionClosed = errors.New("media session closed")
)
