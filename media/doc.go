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
// Each m= line gets two port pairs (RTP even, RTCP odd), one facing each
// side, both taken by the SDP that first brings the line (the offer, or a
// re-offer adding a stream), so that the answer needs no ports; the answer
// may not add m= lines. Pairs are held until Close. They stay bound between
// calls: Close stops the pair's forwarding (nothing is written to the old
// parties once it returns) and gives it back to the pool, which hands out a
// pair drawn at random among those that have rested, discarding whatever was
// queued on it first, and binds a random unbound pair of the range only when
// none has rested long enough. A pair that received datagrams while it
// rested rests on until it has been quiet; the senders it heard are strays.
// The pool's lock is never held over a system call.
//
// Each party sends to and receives from the same relay port (symmetric RTP),
// and the relay accepts a side's packets only from the source that side is
// latched on (rtpengine's strict source with heuristic learning). Before the
// side's SDP is known nothing is accepted. The address its SDP names (m=/c=,
// a=rtcp) is latched whenever it sends. Another address — the party's NAT —
// may be latched only inside the learning window (WithLearningWindow,
// default 3 s), which opens once the side has SDP and has been told its relay
// port, and again when its SDP moves it (re-INVITE); a source that matches
// the SDP better (same address, then same port) replaces one latched earlier
// in the window. Strays, and strangers that were already sending a second
// before the window opened (a previous call's party still streaming, also
// into pairs bound afresh after a restart; a scanner spraying the range),
// are never learned. Everything else is dropped and counted in Stats.
// Packets go to a side's latched source, or to its SDP address until it has
// one. Session.LastPacketFrom tells when a side's last accepted packet came,
// for a media timeout.
//
// RTP is forwarded as received (any codec, SRTP included) once it
// passes a version check. RTCP is rewritten in place first: every SDES item
// (CNAME, NAME, PHONE, EMAIL, ...) and BYE reason carries a per-session token
// instead of the sender's text, APP and unknown packets are removed, and a
// compound packet that does not frame correctly is dropped (so SRTCP, which
// cannot be read, is dropped too). Nothing is allocated per packet.
//
// # The engine: answering A itself
//
// For a courier call (AXE) there is no B until the caller has keyed an
// extension, so the relay answers A itself (engine.go has the sequence):
// Session.Answer answers A's offer with PCMU or PCMA, whichever A lists
// first, and telephone-event at A's payload type, from A's relay port, in
// SDP built by the same allowlist renderer (an offer with neither codec is
// ErrUnsupportedMedia: 488). Until B is bridged in, A's RTP (still latched
// as above: only A's packets count) goes to an RFC 4733 decoder
// (EventDecoder, dtmf.go) whose keys come out of Session.Digits, and A's
// audio is dropped. Session.Play sends a Sound — a prompt (LoadPrompt: 8 kHz
// mono WAV, 16-bit PCM or G.711) or a Tone (ChinaRingback, WarningBeep) —
// to a side from its relay port, paced at 20 ms, frames encoded once when
// the sound is made, no allocation per packet; it stops on demand
// (barge-in), tells when it ends, loops for ringback (player.go).
// Session.OfferB offers B the codec negotiated with A from B's relay port,
// and Session.AcceptB bridges B in when its 183 or 200 arrives without
// anything sent to A: B's first packet (or its answer) stops the ringback
// and the relay forwards both ways as for any call. After the bridge a
// Replace playback (the warning beep before a time limit) stands in for
// the audio forwarded to a side for its length.
package media
