// Package media anchors a call's media: it relays RTP and RTCP between the two
// legs through its own UDP ports, allocates those ports from a configured
// range, and rewrites SDP so that neither party learns the other's address.
//
// media knows nothing of SIP or bindings. The signalling layer creates a
// Session per call and passes every SDP body it receives through
// Session.Rewrite, sending the result to the other leg:
//
//	sess := relay.NewSession(log)
//	defer sess.Close()
//	offerToB, err := sess.Rewrite(media.SideA, offerFromA)
//	...
//	answerToA, err := sess.Rewrite(media.SideB, answerFromB)
//
// Errors wrap ErrMalformedSDP or ErrUnsupportedMedia (answer both with 488),
// ErrPortsExhausted (503) or ErrSessionClosed; a failed Rewrite changes
// nothing.
//
// The SDP sent on is built from an allowlist (sdp_allow.go), never by
// removing what looks dangerous: the relay's own v=, o=, s=, c=, t= and m=
// ports, b=, and per stream the attributes rtpmap, fmtp, ptime, maxptime,
// the direction, rtcp, rtcp-mux, rtcp-fb, silenceSupp, framerate and (on
// RTP/SAVP(F) only) crypto, each only when its value fits its grammar and its
// payload type is on the m= line. Streams the relay cannot carry (DTLS-SRTP,
// RTP over TCP, T.38 and other non-RTP transports, the other address family)
// are rejected with port 0; a body with nothing else is ErrUnsupportedMedia.
//
// Each m= line gets a port pair (RTP even, RTCP odd) facing each side, taken
// when the first SDP that needs it is rewritten and held until Close. Pairs
// stay bound between calls: Close stops the pair's forwarding (nothing is
// written to the old parties once it returns) and gives it back to the pool,
// which hands out the pair that has rested longest, discards whatever was
// queued on it first, and binds a fresh pair only when none has rested long
// enough. Ports other programs hold are skipped. Each party sends to and
// receives from the same relay port (symmetric RTP). A side's destination is
// its SDP address until the first packet from that side arrives, then that
// packet's source (NAT latching), until its SDP changes. RTP is forwarded as received (any codec, SRTP included) once it
// passes a version check. RTCP is rewritten in place first: every SDES item
// (CNAME, NAME, PHONE, EMAIL, ...) and BYE reason carries a per-session token
// instead of the sender's text, APP and unknown packets are removed, and a
// compound packet that does not frame correctly is dropped (so SRTCP, which
// cannot be read, is dropped too). Nothing is allocated per packet.
package media
